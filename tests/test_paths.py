"""Paths scriptflow can trust: the stat cache sees restored mtimes, protected paths are
refused before anything runs, removal never follows a symlink out of the project, a
copied project is a project of its own, and any bytes in a file name are stored.

Everything runs the real ``scriptflow`` command on real files.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project, process_gone, py_src, wait_for_file, wait_until

COPY = "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])"
HOUR_AGO_NS = 3600 * 1_000_000_000


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (``.scriptflow`` included) by relative path: its bytes."""
    out: dict[str, bytes] = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            out[str(path.relative_to(folder))] = path.read_bytes()
    return out


def settle(project: Project) -> None:
    """Fold the ledger's WAL into the main file and let SQLite remove it, so that a byte-for-byte
    snapshot of the folder is not changed later by the close of some idle connection."""
    gc.collect()  # connections the test opened and dropped (sqlite3 connections sit in reference cycles)
    conn = sqlite3.connect(project.path / ".scriptflow" / "ledger.db")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not project.exists(".scriptflow/ledger.db-wal")


# -- the stat cache sees every edit it can ---------------------------------------------------


def _copy_flow(project: Project) -> None:
    project.flow(f"""
        import sys
        def flow_main():
            sf.Task([sys.executable, "-c", {COPY!r}, "src.txt", "out.txt"], inputs="src.txt",
                    outputs="out.txt", name="copy").result()
    """)


@pytest.mark.parametrize("restore", ["os.utime", "touch -r"])
def test_same_size_edit_with_restored_mtime_reruns(project: Project, restore: str) -> None:
    _copy_flow(project)
    src = project.write("src.txt", "aaaa\n")
    old = src.stat().st_mtime_ns - HOUR_AGO_NS
    os.utime(src, ns=(old, old))  # an old file: its stat-cache entry is not racy
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    assert project.reasons() == {"copy": "cached"}

    ref = project.write("ref.txt", "")
    os.utime(ref, ns=(old, old))
    inode = src.stat().st_ino
    with open(src, "r+") as f:  # same size, same inode
        f.write("bbbb\n")
    if restore == "os.utime":
        os.utime(src, ns=(old, old))
    else:
        subprocess.run(["touch", "-r", str(ref), str(src)], check=True)
    st = src.stat()
    assert (st.st_size, st.st_mtime_ns, st.st_ino) == (5, old, inode)  # only ctime tells

    project.run("run", "main", check=True)
    assert project.reasons()["copy"].startswith("input-changed")
    assert project.read("out.txt") == "bbbb\n"


def test_stat_cache_keys_and_paths(project: Project) -> None:
    _copy_flow(project)
    project.write("src.txt", "x\n")
    project.run("run", "main", check=True)
    rows = project.query("SELECT path, size, mtime_ns, ctime_ns, inode FROM stat_cache ORDER BY path")
    assert [r["path"] for r in rows] == ["out.txt", "src.txt"]  # project-relative
    for row in rows:
        st = (project.path / row["path"]).stat()
        assert (row["size"], row["mtime_ns"], row["ctime_ns"], row["inode"]) == (
            st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


# -- protected paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("output, inputs, why", [
    (".scriptflow/ledger.db", None, "inside .scriptflow"),
    (".scriptflow", None, "inside .scriptflow"),
    (".scriptflow/logs", None, "inside .scriptflow"),
    ("sflow.py", None, "the flow file"),
    ("sub/../sflow.py", None, "the flow file"),
    ("scriptflow.toml", None, "a flow or configuration file of the project"),
    ("scriptflow.json", None, "a flow or configuration file of the project"),
    (".", None, "the project folder"),
    ("..", None, "the project folder"),
    ("data.txt", "data.txt", "also an input"),
    ("data", "data/raw.txt", "holds input"),
])
def test_protected_output_is_refused_before_anything_runs(project: Project, output: str, inputs, why: str) -> None:
    project.write("data.txt", "keep me\n")
    project.write("data/raw.txt", "raw\n")
    project.flow(f"""
        def flow_ok():
            sf.Task({py_src("open('ok.txt', 'w').write('ok')")}, outputs="ok.txt", name="ok").result()

        def flow_main():
            sf.Task({py_src("open('ran.txt', 'w').write('ran'); raise SystemExit(1)")},
                    outputs={output!r}, inputs={inputs!r}, name="bad").result()
    """)
    project.run("run", "ok", check=True)
    flow_before = project.read("sflow.py")
    before = {k: v for k, v in snapshot(project.path).items() if not k.startswith(".scriptflow")}

    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("scriptflow: error: sflow.py:8: ")  # the line that started it
    assert "bad" in lines[0] and why in lines[0], lines[0]
    assert not project.exists("ran.txt")
    assert project.read("sflow.py") == flow_before
    after = {k: v for k, v in snapshot(project.path).items() if not k.startswith(".scriptflow")}
    assert after == before
    # the history is intact: the first run and its output are still recorded
    assert project.query("SELECT status FROM runs WHERE id = 1")[0][0] == "succeeded"
    assert project.query("SELECT count(*) FROM files WHERE path = 'ok.txt'")[0][0] == 1
    assert project.query("SELECT count(*) FROM tasks WHERE uid = 'bad'")[0][0] == 0


def test_output_that_is_a_project_ancestor_is_refused(project: Project) -> None:
    parent = str(project.path.parent)
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("raise SystemExit(1)")}, outputs={parent!r}, name="bad").result()
    """)
    proc = project.run("run", "main", check=False)
    assert "sflow.py:4: " in proc.stderr and "the project folder" in proc.stderr, proc.stderr
    assert project.path.exists()


def test_protected_path_reached_through_a_symlink_is_refused(project: Project) -> None:
    os.symlink(".", project.path / "alias")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("raise SystemExit(1)")}, outputs="alias/sflow.py", name="bad").result()
    """)
    flow_before = project.read("sflow.py")
    proc = project.run("run", "main", check=False)
    assert "sflow.py:4: " in proc.stderr and "the flow file" in proc.stderr, proc.stderr
    assert project.read("sflow.py") == flow_before


# -- removing outputs never follows a symlink out of the project ---------------------------


def test_directory_output_behind_a_symlinked_parent_is_not_removed(project: Project, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "results").mkdir()
    (outside / "results" / "precious.txt").write_text("years of work\n")
    os.symlink(outside, project.path / "link")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("raise SystemExit(1)")}, outputs="link/results", name="fails").result()
    """)
    project.run("run", "main", check=False)
    assert project.statuses() == {"fails": "failed"}
    assert (outside / "results" / "precious.txt").read_text() == "years of work\n"


def test_output_that_is_a_symlink_is_unlinked_not_its_target(project: Project, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "target.txt").write_text("target\n")
    (outside / "tree").mkdir()
    (outside / "tree" / "f.txt").write_text("tree\n")
    os.symlink(outside / "target.txt", project.path / "out.txt")
    os.symlink(outside / "tree", project.path / "outdir")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("raise SystemExit(1)")}, outputs=["out.txt", "outdir"], name="fails").result()
    """)
    project.run("run", "main", check=False)
    assert not os.path.lexists(project.path / "out.txt")
    assert not os.path.lexists(project.path / "outdir")
    assert (outside / "target.txt").read_text() == "target\n"
    assert (outside / "tree" / "f.txt").read_text() == "tree\n"


# -- a copied project is a project of its own -------------------------------------------------

MOVABLE = f"""
import os, sys
PY = sys.executable
WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
CHECK = "import os, sys; os.path.exists('go') or sys.exit(1)"

def flow_main():
    a = sf.Task([PY, "-c", {COPY!r}, "src.txt", "a.txt"], inputs="src.txt", outputs="a.txt", name="a")
    b = sf.Task([PY, "-c", CHECK + "; " + WRITE, "b.txt", "B"], inputs=[a], outputs="b.txt", name="b")
    sf.bag(a, b)
"""


def test_copied_project_resumes_reports_and_cleans_itself(project: Project, tmp_path_factory) -> None:
    project.flow(MOVABLE)
    project.write("src.txt", "source\n")
    project.run("run", "main", check=False)
    assert project.statuses() == {"a": "succeeded", "b": "failed"}

    for table, column in [("files", "path"), ("stat_cache", "path"), ("attempts", "stdout_path"),
                          ("attempts", "stderr_path"), ("runs", "flow_file"), ("tasks", "cwd")]:
        values = [r[0] for r in project.query(f"SELECT {column} FROM {table}")]
        assert values and not any(v.startswith("/") for v in values), (table, column, values)

    copy = Project(tmp_path_factory.mktemp("copies") / "copy")
    shutil.copytree(project.path, copy.path, symlinks=True)
    settle(project)
    original = snapshot(project.path)
    (copy.path / "go").write_text("")

    proc = copy.run("resume", check=True)
    assert copy.statuses() == {"a": "cached", "b": "succeeded"}, proc.stdout
    assert copy.read("b.txt") == "B"
    assert copy.last_run()["project_dir"] == str(copy.path)
    copy.run("report", "b.txt", check=True)
    copy.run("why", "b", check=True)
    copy.run("runs", check=True)
    proc = copy.run("clean", check=True)
    assert not copy.exists("b.txt") and not copy.exists("a.txt")

    # resume from elsewhere with -C: the project is the folder named, never the recorded one
    (copy.path / "go").unlink()
    second = Project(tmp_path_factory.mktemp("copies") / "second")
    shutil.copytree(project.path, second.path, symlinks=True)
    (second.path / "go").write_text("")
    subprocess.run(["scriptflow", "resume", "-C", str(second.path)], check=True, capture_output=True,
                   cwd=tmp_path_factory.mktemp("elsewhere"))
    assert second.read("b.txt") == "B"
    assert snapshot(project.path) == original


# -- any bytes in a file name -------------------------------------------------------------------

needs_bytes_names = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                       reason="needs a filesystem that stores arbitrary bytes in names")

RAW = b"caf\xe9.txt"
LEDGER_TEXT = "caf\\xe9.txt"


@needs_bytes_names
def test_undecodable_file_name_is_recorded_cached_reported_and_cleaned(project: Project) -> None:
    (project.path / os.fsdecode(b"in\xff.txt")).write_bytes(b"input\n")
    project.flow(f"""
        import os, sys
        def flow_main():
            name = os.fsdecode({RAW!r})
            source = os.fsdecode(b"in\\xff.txt")
            sf.Task([sys.executable, "-c", {COPY!r}, source, name], inputs=source, outputs=name,
                    name="cafe").result()
    """)
    project.run("run", "main", check=True, timeout=120)
    assert (project.path / os.fsdecode(RAW)).read_bytes() == b"input\n"
    paths = {r["path"]: r["sha256"] for r in project.query("SELECT path, sha256 FROM files")}
    assert paths == {LEDGER_TEXT: hashlib.sha256(b"input\n").hexdigest(),
                     "in\\xff.txt": hashlib.sha256(b"input\n").hexdigest()}
    assert {r[0] for r in project.query("SELECT path FROM stat_cache")} == {LEDGER_TEXT, "in\\xff.txt"}

    project.run("run", "main", check=True, timeout=120)
    assert project.reasons() == {"cafe": "cached"}

    proc = project.run("report", os.fsdecode(RAW), check=True)
    assert LEDGER_TEXT in proc.stdout and "unchanged" in proc.stdout, proc.stdout
    project.run("clean", check=True)
    assert not (project.path / os.fsdecode(RAW)).exists()
    assert (project.path / os.fsdecode(b"in\xff.txt")).exists()


@needs_bytes_names
def test_backslash_in_a_name_stays_distinct_from_an_escaped_byte(project: Project) -> None:
    project.flow(f"""
        import os, sys
        W = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
        def flow_main():
            a = sf.Task([sys.executable, "-c", W, os.fsdecode({RAW!r}), "raw"], outputs=os.fsdecode({RAW!r}),
                        name="raw")
            b = sf.Task([sys.executable, "-c", W, {LEDGER_TEXT!r}, "text"], outputs={LEDGER_TEXT!r}, name="text")
            sf.bag(a, b)
    """)
    project.run("run", "main", check=True, timeout=120)
    paths = sorted(r[0] for r in project.query("SELECT path FROM files WHERE role = 'output'"))
    assert paths == ["caf\\\\xe9.txt", LEDGER_TEXT]
    project.run("clean", check=True)
    assert not (project.path / os.fsdecode(RAW)).exists() and not (project.path / LEDGER_TEXT).exists()


@needs_bytes_names
def test_undecodable_command_argument_is_stored(project: Project) -> None:
    project.flow("""
        import os, sys
        def flow_main():
            sf.Task([sys.executable, "-c", "import sys; open('out.txt', 'w').write(repr(sys.argv[1]))",
                     os.fsdecode(b"\\xe9t\\xe9")], outputs="out.txt", name="t").result()
    """)
    project.run("run", "main", check=True, timeout=120)
    project.run("run", "main", check=True, timeout=120)
    assert project.reasons() == {"t": "cached"}


@pytest.mark.parametrize("uid", ["a\\x1bb", "bell\\x07", "caf\\udce9", "nul\\x00"])
def test_uid_with_control_characters_or_invalid_text_is_refused(project: Project, uid: str) -> None:
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("pass")}, name="{uid}").result()
    """)
    proc = project.run("run", "main", check=False, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("scriptflow: error: sflow.py:4: invalid task uid"), proc.stderr


@needs_bytes_names
def test_flow_exception_with_undecodable_text_is_recorded(project: Project) -> None:
    project.flow("""
        import os
        def flow_main():
            raise ValueError(os.fsdecode(b"bad \\xe9 value"))
    """)
    proc = project.run("run", "main", check=False, timeout=120)
    assert proc.returncode == 1
    assert "flow main raised ValueError: bad \\udce9 value" in proc.stderr, proc.stderr
    run = project.last_run()
    assert run["status"] == "failed" and "bad \\udce9 value" in run["error"]


@pytest.mark.parametrize("name", ["two\nlines", "caf" + os.fsdecode(b"\xe9")])
def test_run_name_with_control_characters_or_invalid_text_is_refused(project: Project, name: str) -> None:
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('o.txt', 'w').write('o')")}, outputs="o.txt", name="o").result()
    """)
    proc = subprocess.run(["scriptflow", "run", "main", "--name", name], cwd=project.path, capture_output=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("scriptflow: error: invalid run name ")
    assert proc.stderr.count(b"\n") == 1 and not project.exists("o.txt")


def test_copy_of_a_live_project_leaves_the_original_run_alone(project: Project, tmp_path_factory) -> None:
    """A project copied while a run is live holds that run as 'running' in the copy's ledger. The
    copy's next run marks it lost there, but its task process belongs to the original: left alone."""
    task = wait_for_file("release", "open('out.txt', 'w').write('done')")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(task)}, outputs="out.txt", name="slow").result()
    """)
    proc = project.popen("run", "main", "--classic")
    try:
        def running_pid():
            if not project.exists(".scriptflow/ledger.db"):
                return None
            try:
                rows = project.query("SELECT pid FROM attempts WHERE status = 'running' AND pid IS NOT NULL")
            except sqlite3.OperationalError:  # the ledger is being created
                return None
            return rows[0][0] if rows else None

        pid = wait_until(running_pid, "the task to start")
        copy = Project(tmp_path_factory.mktemp("copies") / "copy")
        shutil.copytree(project.path, copy.path, ignore=shutil.ignore_patterns("run.lock*"))
        (copy.path / "release").write_text("")
        copy.run("run", "main", check=True)
        assert copy.query("SELECT status FROM runs WHERE id = 1")[0][0] == "lost"
        assert copy.read("out.txt") == "done"
        assert not process_gone(pid), "the copy stopped the original's task"
        (project.path / "release").write_text("")
        assert proc.wait(timeout=120) == 0, proc.communicate()
        assert project.read("out.txt") == "done"
        assert project.query("SELECT status FROM runs WHERE id = 1")[0][0] == "succeeded"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@needs_bytes_names
def test_project_folder_with_undecodable_name(tmp_path: Path) -> None:
    project = Project(tmp_path / os.fsdecode(b"proj\xe9"))
    project.path.mkdir()
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('o.txt', 'w').write('o')")}, outputs="o.txt", name="o").result()
    """)
    project.run("run", "main", check=True, timeout=120)
    project.run("run", "main", check=True, timeout=120)
    assert project.reasons() == {"o": "cached"}
    expected = str(tmp_path) + "/proj\\xe9"
    assert project.last_run()["project_dir"] == expected
    doc = json.loads(project.run("report", "o.txt", "--json", check=True).stdout)
    assert doc["project_dir"] == expected and doc["file"]["state"] == "unchanged"
