"""The ledger as users see it with sqlite3 right after a run; the run log; the terminal output."""
from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import select
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

from conftest import REPO, py_src

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

MAKE = ("import os, sys\n"
        "print('hello on stdout')\n"
        "print('hello on stderr', file=sys.stderr)\n"
        "open('out.txt', 'w').write(open('in.txt').read() + ' processed by ' + str(os.getpid()))\n")


def _flow(project) -> None:
    project.flow(f"""
        def flow_main():
            \"\"\"One task reading in.txt and writing out.txt.\"\"\"
            sf.Task({py_src(MAKE)}, outputs="out.txt", inputs=["in.txt"], name="make").result()
    """)
    project.write("in.txt", "some input")


def _read_only(project) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{project.path / '.scriptflow' / 'ledger.db'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def test_rows_are_visible_right_after_the_run(project):
    _flow(project)
    proc = project.run("run", "main", "--name", "first", check=True)
    with _read_only(project) as conn:
        run, = conn.execute("SELECT * FROM runs").fetchall()
        task, = conn.execute("SELECT * FROM tasks").fetchall()
        attempt, = conn.execute("SELECT * FROM attempts").fetchall()
        files = {(r["role"], r["path"]): r for r in conn.execute("SELECT * FROM files")}
    assert run["status"] == "succeeded" and run["exit_code"] == 0
    assert (run["flow"], run["name"], run["flow_file"]) == ("main", "first", "sflow.py")
    assert Path(run["project_dir"]).resolve() == project.path.resolve()
    assert run["host"] == socket.gethostname()
    assert ISO_UTC.match(run["started_at"]) and ISO_UTC.match(run["ended_at"])
    assert run["started_at"] <= run["ended_at"]
    assert json.loads(run["flow_args"]) == []
    assert isinstance(json.loads(run["options"]), dict)
    assert f"run {run['id']}" in proc.stdout
    assert "hello on" not in proc.stdout + proc.stderr   # the task's output went to its logs only

    assert (task["uid"], task["status"], task["run_id"]) == ("make", "succeeded", run["id"])
    assert len(task["fingerprint"]) == 64

    out_text = project.read("out.txt")
    assert (attempt["task_id"], attempt["number"], attempt["status"]) == (task["id"], 1, "succeeded")
    assert attempt["exit_code"] == 0
    assert attempt["executor"] == "local"
    assert attempt["host"] == socket.gethostname()
    assert out_text.endswith(f" processed by {attempt['pid']}")   # the pid of the task's own process
    assert attempt["pid"] != run["pid"]
    for column in ("queued_at", "started_at", "ended_at"):
        assert ISO_UTC.match(attempt[column]), column
    assert attempt["queued_at"] <= attempt["started_at"] <= attempt["ended_at"]
    logs = project.path / ".scriptflow" / "logs"
    stdout_log = project.path / attempt["stdout_path"]
    stderr_log = project.path / attempt["stderr_path"]
    assert logs in stdout_log.parents and logs in stderr_log.parents
    assert stdout_log.read_text() == "hello on stdout\n"
    assert stderr_log.read_text() == "hello on stderr\n"

    assert set(files) == {("input", "in.txt"), ("output", "out.txt")}
    for (_role, path), row in files.items():
        data = (project.path / path).read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert row["size"] == len(data)
        assert row["task_id"] == task["id"] and row["run_id"] == run["id"]
    assert files[("output", "out.txt")]["producer_attempt_id"] == attempt["id"]


def test_cached_run_records_the_outputs_it_found(project):
    _flow(project)
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    first_attempt, = project.query("SELECT id FROM attempts")
    # the cached task is a reuse (schema 5): run_files presents the rows of the task it reused
    rows = project.query("SELECT * FROM run_files WHERE run_id = 2 AND role = 'output'")
    assert [(r["path"], r["producer_attempt_id"], r["reused"]) for r in rows] == [("out.txt", first_attempt["id"], 1)]
    assert rows[0]["sha256"] == hashlib.sha256((project.path / "out.txt").read_bytes()).hexdigest()
    assert project.query("SELECT count(*) FROM files WHERE run_id = 2")[0][0] == 0


def test_schema_version_and_migrations_table(project):
    _flow(project)
    project.run("run", "main", check=True)
    shipped = sorted(p.name for p in (REPO / "schema" / "migrations").glob("[0-9][0-9][0-9]_*.sql"))
    assert shipped and shipped[0] == "001_initial.sql"
    with _read_only(project) as conn:
        applied = conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexed = {r[0] for r in conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    assert [(r["version"], r["name"]) for r in applied] == [(i + 1, name) for i, name in enumerate(shipped)]
    assert all(ISO_UTC.match(r["applied_at"]) for r in applied)
    assert user_version == len(shipped)
    assert {"schema_migrations", "runs", "tasks", "attempts", "files", "stat_cache", "events"} <= tables
    assert {"runs", "tasks", "attempts", "files"} <= indexed
    # a second run reuses the ledger without migrating again
    project.run("run", "main", check=True)
    assert len(project.query("SELECT * FROM schema_migrations")) == len(shipped)


def test_run_log_goes_to_the_state_folder_only(project):
    project.write("sub/in.txt", "some input")
    project.write("sub/sflow.py", f"""
        import scriptflow as sf
        sf.init({{"debug": True}})
        def flow_main():
            sf.Task({py_src(MAKE)}, outputs="out.txt", inputs=["in.txt"], name="make").result()
    """)
    project.run("run", "main", "-C", "sub", check=True)
    log = project.path / "sub" / ".scriptflow" / "scriptflow.log"
    assert log.is_file()
    assert "run 1" in log.read_text()
    assert (project.path / "sub" / ".scriptflow" / ".gitignore").is_file()
    # nothing was written where the command was started, and no log file outside .scriptflow
    assert sorted(p.name for p in project.path.iterdir()) == ["sub"]
    stray = [p for p in project.path.rglob("*.log") if ".scriptflow" not in p.parts]
    assert stray == []
    written = sorted(p.name for p in (project.path / "sub").iterdir() if p.name != "__pycache__")
    assert written == [".scriptflow", "in.txt", "out.txt", "sflow.py"]


def test_output_without_a_terminal_is_one_plain_line_per_event(project):
    _flow(project)
    proc = project.run("run", "main", check=True)
    assert "\x1b" not in proc.stdout and "\r" not in proc.stdout
    lines = proc.stdout.splitlines()
    assert any(re.search(r"\bstart\s+make\b", line) for line in lines), proc.stdout
    assert any(re.search(r"\bdone\s+make\b", line) for line in lines), proc.stdout
    assert "succeeded" in lines[-1]
    proc = project.run("run", "main", check=True)
    assert any(re.search(r"\bcached\s+make\b", line) for line in proc.stdout.splitlines()), proc.stdout


def _run_on_a_terminal(project, *args: str) -> tuple[int, str]:
    """Run scriptflow with a pseudo-terminal as stdout and stderr; returns (exit code, everything shown)."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(["scriptflow", *args], cwd=project.path, stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120   # a hang guard, not a speed assertion
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_terminal_gets_the_live_display_unless_classic(project):
    _flow(project)
    code, shown = _run_on_a_terminal(project, "run", "main")
    assert code == 0
    assert "\x1b[" in shown                       # drawn by the live display
    for label in ("queued", "running", "done", "cached", "failed"):
        assert label in shown, label
    assert "succeeded" in shown
    assert not re.search(r"\bstart\s+make\b", shown)

    project.flow(f"""
        sf.init({{"classic_terminal": True}})
        def flow_main():
            sf.Task({py_src(MAKE)}, outputs="out.txt", inputs=["in.txt"], name="make").result()
    """)
    code, shown = _run_on_a_terminal(project, "run", "main", "-F")
    assert code == 0
    assert re.search(r"\bstart\s+make\b", shown) and re.search(r"\bdone\s+make\b", shown)
    assert "queued" not in shown
