"""The ledger schema as numbered migrations: an old ledger is brought up to date with
its data intact, a newer one is refused without being touched.

The old ledger is built the way a scriptflow of schema 1 left it: the SQL of
001_initial.sql applied by the real `sqlite3` tool, user_version 1, rows in.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, Project

MIGRATIONS = sorted((REPO / "schema" / "migrations").glob("[0-9][0-9][0-9]_*.sql"))
LATEST = len(MIGRATIONS)
SQLITE3 = shutil.which("sqlite3")

needs_sqlite3 = pytest.mark.skipif(SQLITE3 is None, reason="the sqlite3 command-line tool is not installed")

OLD_ROWS = """
INSERT INTO schema_migrations VALUES (1, '001_initial.sql', '2026-01-01T00:00:00.000000Z');
INSERT INTO runs (id, name, flow, flow_file, project_dir, status, started_at, ended_at, host, pid, exit_code,
                  scriptflow_version)
VALUES (1, 'first', 'build', 'sflow.py', '/old/place', 'succeeded', '2026-01-01T10:00:00.000000Z',
        '2026-01-01T10:00:09.500000Z', 'oldhost', 42, 0, '0.3.0');
INSERT INTO tasks (id, run_id, uid, command, shell, cwd, executor, status, reason, fingerprint)
VALUES (1, 1, 'make-a', '["python","make.py","a.txt"]', 0, '.', 'local', 'succeeded', 'never-run', 'fa'),
       (2, 1, 'make-b', '["python","make.py","b.txt"]', 0, '.', 'local', 'succeeded', 'never-run', 'fb');
INSERT INTO attempts (id, task_id, run_id, number, status, executor, host, pid, queued_at, started_at, ended_at,
                      exit_code, stdout_path, stderr_path)
VALUES (1, 1, 1, 1, 'succeeded', 'local', 'oldhost', 100, '2026-01-01T10:00:00.000000Z',
        '2026-01-01T10:00:00.000000Z', '2026-01-01T10:00:02.000000Z', 0, '.scriptflow/logs/1/make-a.1.out',
        '.scriptflow/logs/1/make-a.1.err'),
       (2, 2, 1, 1, 'succeeded', 'local', 'oldhost', 101, '2026-01-01T10:00:02.000000Z',
        '2026-01-01T10:00:02.000000Z', '2026-01-01T10:00:09.000000Z', 0, '.scriptflow/logs/1/make-b.1.out',
        '.scriptflow/logs/1/make-b.1.err');
INSERT INTO files (task_id, run_id, role, path, sha256, size, producer_attempt_id, recorded_at)
VALUES (1, 1, 'input', 'seed.txt', '{seed}', 5, NULL, '2026-01-01T10:00:00.000000Z'),
       (1, 1, 'output', 'a.txt', '{a}', 2, 1, '2026-01-01T10:00:02.000000Z'),
       (2, 1, 'input', 'a.txt', '{a}', 2, NULL, '2026-01-01T10:00:02.000000Z'),
       (2, 1, 'output', 'b.txt', '{b}', 3, 2, '2026-01-01T10:00:09.000000Z');
PRAGMA user_version = 1;
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_v1_ledger(folder: Path) -> Path:
    """A ledger exactly as schema version 1 wrote it, with a two-task run in it."""
    state = folder / ".scriptflow"
    state.mkdir(parents=True)
    ledger = state / "ledger.db"
    sql = MIGRATIONS[0].read_text() + OLD_ROWS.format(seed=sha(b"seed\n"), a=sha(b"a\n"), b=sha(b"ab\n"))
    subprocess.run([SQLITE3, str(ledger)], input=sql, text=True, check=True)
    (folder / "seed.txt").write_bytes(b"seed\n")
    (folder / "a.txt").write_bytes(b"a\n")
    (folder / "b.txt").write_bytes(b"ab\n")
    return ledger


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder / ".scriptflow").iterdir()}


def test_migrations_are_numbered_from_one() -> None:
    from scriptflow import ledger

    assert [int(p.name[:3]) for p in MIGRATIONS] == list(range(1, LATEST + 1))
    assert ledger.latest_version() == LATEST >= 2


@needs_sqlite3
def test_first_schema_ledger_migrates_with_data_intact(project: Project) -> None:
    ledger = make_v1_ledger(project.path)
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                  for t in ("runs", "tasks", "attempts", "files")}
        columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in before}

    proc = project.run("report", "b.txt", "--json", check=True)  # a read-only command migrates first
    doc = json.loads(proc.stdout)
    assert [t["uid"] for t in doc["tasks"]] == ["make-b", "make-a"]
    assert doc["tasks"][1]["inputs"][0]["origin"] == "source"

    conn = sqlite3.connect(project.path / ".scriptflow" / "ledger.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, LATEST + 1))
    for table, rows in before.items():  # later schemas add columns; the old ones keep their data
        names = ", ".join(columns[table])
        assert [tuple(r) for r in conn.execute(f"SELECT {names} FROM {table} ORDER BY 1")] == rows, table
    # what 002 added works on the old rows
    assert conn.execute("SELECT uid, attempt_id FROM latest_producers WHERE path = 'b.txt'").fetchone() == ("make-b", 2)
    assert conn.execute("SELECT tasks, succeeded, attempts FROM run_summary").fetchone() == (2, 2, 2)
    assert conn.execute("SELECT uid, duration_seconds FROM slowest_tasks LIMIT 1").fetchone() == ("make-b", 7.0)
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "files_path_run" in indexes
    conn.close()


@needs_sqlite3
def test_schema_4_adds_the_container_columns_empty_on_old_rows(project: Project) -> None:
    """004_container_images.sql: tasks recorded before it ran in no container (all three NULL)."""
    ledger = make_v1_ledger(project.path)
    project.run("report", "b.txt", check=True)  # migrates
    conn = sqlite3.connect(ledger)
    rows = conn.execute("SELECT uid, container_image, container_image_id, container_runtime FROM tasks "
                        "ORDER BY id").fetchall()
    assert rows == [("make-a", None, None, None), ("make-b", None, None, None)]
    assert conn.execute("SELECT name FROM schema_migrations WHERE version = 4").fetchone() == (
        "004_container_images.sql",)
    conn.close()
    # the old tasks' runs compare as "no container" with a flow that has none: nothing reruns for it
    why = project.run("why", "make-b", check=True).stdout
    assert "container" not in why


@needs_sqlite3
def test_first_schema_ledger_migrates_through_the_library(tmp_path: Path) -> None:
    from scriptflow import ledger as ledger_module

    path = make_v1_ledger(tmp_path)
    conn = ledger_module.open_for_reading(path)
    assert ledger_module.schema_version(conn) == LATEST
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 4
    conn.close()
    conn = ledger_module.open_for_writing(path)  # already current: nothing to do
    assert ledger_module.schema_version(conn) == LATEST
    conn.close()


@needs_sqlite3
@pytest.mark.parametrize("command", [["report", "b.txt"], ["clean", "--dry-run"], ["run", "noop"]])
def test_newer_schema_is_refused_and_left_untouched(project: Project, command: list[str]) -> None:
    ledger = make_v1_ledger(project.path)
    subprocess.run([SQLITE3, str(ledger), "PRAGMA user_version = 999"], check=True)
    project.flow("def flow_noop():\n    pass\n")
    before = snapshot(project.path)

    proc = project.run(*command)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "schema version 999, newer than this scriptflow knows" in proc.stderr
    after = snapshot(project.path)
    assert after["ledger.db"] == before["ledger.db"]
    assert not {"ledger.db-wal", "ledger.db-shm"} & set(after)


def test_two_processes_migrating_one_ledger_at_once_both_succeed(tmp_path):
    """A reader opening a ledger that a first run is still creating migrates it too; each step
    re-checks the version inside its own transaction, so neither applies a step twice."""
    import subprocess
    import sys

    ledger = tmp_path / "ledger.db"
    code = ("import sys; from pathlib import Path; from scriptflow.ledger.store import open_for_writing; "
            "open_for_writing(Path(sys.argv[1])).close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ledger)], stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path)  # the installed scriptflow, not the source tree
             for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    from scriptflow import ledger as ledger_module

    with sqlite3.connect(ledger) as conn:
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert applied == list(range(1, ledger_module.latest_version() + 1))


@needs_sqlite3
def test_stat_cache_entries_without_ctime_are_not_trusted(project: Project) -> None:
    """Schema 2 keyed the stat cache on (size, mtime, inode) by absolute path. After 003 such an
    entry, even one matching the file's stat exactly, is gone: the file is read again."""
    ledger = make_v1_ledger(project.path)
    seed = project.path / "seed.txt"
    st = seed.stat()
    old = st.st_mtime_ns - 3600 * 10**9
    os.utime(seed, ns=(old, old))
    lie = sha(b"not the content\n")
    upgrade = (MIGRATIONS[1].read_text()
               + "INSERT INTO schema_migrations VALUES (2, '002_views.sql', '2026-01-01T00:00:00.000000Z');\n"
               + f"INSERT INTO stat_cache VALUES ('{seed}', 5, {old}, {st.st_ino}, '{lie}', {old + 10**10});\n"
               + "PRAGMA user_version = 2;\n")
    subprocess.run([SQLITE3, str(ledger)], input=upgrade, text=True, check=True)
    project.flow("""
        import sys
        def flow_main():
            sf.Task([sys.executable, "-c", "open('c.txt', 'w').write(open('seed.txt').read())"],
                    inputs="seed.txt", outputs="c.txt", name="c").result()
    """)
    project.run("run", "main", check=True)

    conn = sqlite3.connect(ledger)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(stat_cache)")]
    assert columns == ["path", "size", "mtime_ns", "ctime_ns", "inode", "sha256", "hashed_at_ns"]
    assert conn.execute("SELECT sha256 FROM files WHERE path = 'seed.txt' AND run_id = 2").fetchone()[0] == sha(b"seed\n")
    assert conn.execute("SELECT count(*) FROM stat_cache WHERE path LIKE '/%' OR sha256 = ?", (lie,)).fetchone()[0] == 0
    assert conn.execute("SELECT size, mtime_ns, ctime_ns FROM stat_cache WHERE path = 'seed.txt'").fetchone() == (
        5, old, seed.stat().st_ctime_ns)
    # the run that migrated it kept the old history
    assert conn.execute("SELECT count(*) FROM files WHERE run_id = 1").fetchone()[0] == 4
    conn.close()


@needs_sqlite3
def test_schema_6_adds_the_parent_link_empty_on_old_rows(project: Project) -> None:
    """006_parent_task.sql: tasks recorded before it were all created by a flow (NULL)."""
    ledger = make_v1_ledger(project.path)
    project.run("report", "b.txt", check=True)  # migrates
    conn = sqlite3.connect(ledger)
    assert conn.execute("SELECT uid, parent_task_id FROM tasks ORDER BY id").fetchall() == [
        ("make-a", None), ("make-b", None)]
    assert conn.execute("SELECT name FROM schema_migrations WHERE version = 6").fetchone() == (
        "006_parent_task.sql",)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'tasks_parent'").fetchone()
    conn.close()
    # the old rows read as they did: no "created by" anywhere
    assert "created by" not in project.run("report", "b.txt", check=True).stdout
    assert "created by" not in project.run("show", "1", check=True).stdout


# Schema 4 recorded a cached task as a full tasks row with its own files rows. Run 2 found both
# tasks up to date; run 3 found make-a up to date again and make-b failed.
CACHED_ROWS_V4 = """
INSERT INTO runs (id, flow, flow_file, project_dir, status, started_at, ended_at, host, pid, exit_code,
                  scriptflow_version)
VALUES (2, 'build', 'sflow.py', '/old/place', 'succeeded', '2026-01-02T10:00:00.000000Z',
        '2026-01-02T10:00:01.000000Z', 'oldhost', 43, 0, '0.3.0'),
       (3, 'build', 'sflow.py', '/old/place', 'failed', '2026-01-03T10:00:00.000000Z',
        '2026-01-03T10:00:05.000000Z', 'oldhost', 44, 1, '0.3.0');
INSERT INTO tasks (id, run_id, uid, command, shell, cwd, executor, status, reason, reason_detail, fingerprint,
                   compared_task_id, decided_at, ended_at)
VALUES (3, 2, 'make-a', '["python","make.py","a.txt"]', 0, '.', 'local', 'cached', 'cached', '{{}}', 'fa', 1,
        '2026-01-02T10:00:00.100000Z', '2026-01-02T10:00:00.100000Z'),
       (4, 2, 'make-b', '["python","make.py","b.txt"]', 0, '.', 'local', 'cached', 'cached', '{{}}', 'fb', 2,
        '2026-01-02T10:00:00.200000Z', '2026-01-02T10:00:00.200000Z'),
       (5, 3, 'make-a', '["python","make.py","a.txt"]', 0, '.', 'local', 'cached', 'cached', '{{}}', 'fa', 3,
        '2026-01-03T10:00:00.100000Z', '2026-01-03T10:00:00.100000Z'),
       (6, 3, 'make-b', '["python","make.py","b.txt"]', 0, '.', 'local', 'failed', 'forced', '{{}}', 'fb', 4,
        '2026-01-03T10:00:00.200000Z', '2026-01-03T10:00:04.000000Z');
INSERT INTO attempts (id, task_id, run_id, number, status, executor, host, pid, queued_at, started_at, ended_at,
                      exit_code, stdout_path, stderr_path, error)
VALUES (3, 6, 3, 1, 'failed', 'local', 'oldhost', 102, '2026-01-03T10:00:00.200000Z',
        '2026-01-03T10:00:00.300000Z', '2026-01-03T10:00:04.000000Z', 1, '.scriptflow/logs/3/make-b.1.out',
        '.scriptflow/logs/3/make-b.1.err', 'exit code 1');
INSERT INTO files (task_id, run_id, role, path, sha256, size, producer_attempt_id, recorded_at)
VALUES (3, 2, 'input', 'seed.txt', '{seed}', 5, NULL, '2026-01-02T10:00:00.100000Z'),
       (3, 2, 'output', 'a.txt', '{a}', 2, 1, '2026-01-02T10:00:00.100000Z'),
       (4, 2, 'input', 'a.txt', '{a}', 2, NULL, '2026-01-02T10:00:00.200000Z'),
       (4, 2, 'output', 'b.txt', '{b}', 3, 2, '2026-01-02T10:00:00.200000Z'),
       (5, 3, 'input', 'seed.txt', '{seed}', 5, NULL, '2026-01-03T10:00:00.100000Z'),
       (5, 3, 'output', 'a.txt', '{a}', 2, 1, '2026-01-03T10:00:00.100000Z'),
       (6, 3, 'input', 'a.txt', '{a}', 2, NULL, '2026-01-03T10:00:00.200000Z');
"""

#: What a user's queries and the views answered on the schema-4 ledger: the same after 005.
ANSWERS = {
    "latest_producers": "SELECT * FROM latest_producers ORDER BY path",
    "run_summary": "SELECT * FROM run_summary ORDER BY run_id",
    "file_history": "SELECT path, sha256, size, role, recorded_at, run_id, run_name, task_id, uid, task_status, "
                    "producer_attempt_id, producer_run_id, file_id FROM file_history",
    "failures": "SELECT * FROM failures ORDER BY run_id, uid",
    "slowest_tasks": "SELECT * FROM slowest_tasks",
}


def make_v4_ledger_with_cached_rows(folder: Path) -> Path:
    """A ledger as schema 4 wrote it (cached tasks as full rows), through Python's sqlite3 module."""
    state = folder / ".scriptflow"
    state.mkdir(parents=True)
    ledger = state / "ledger.db"
    values = {"seed": sha(b"seed\n"), "a": sha(b"a\n"), "b": sha(b"ab\n")}
    conn = sqlite3.connect(ledger)
    for path in MIGRATIONS[:4]:
        conn.executescript(path.read_text())
    conn.executescript(OLD_ROWS.format(**values).replace("PRAGMA user_version = 1;", "")
                       + CACHED_ROWS_V4.format(**values)
                       + "".join(f"INSERT INTO schema_migrations VALUES ({p.name[:3].lstrip('0')}, '{p.name}', "
                                 "'2026-01-01T00:00:00.000000Z');\n" for p in MIGRATIONS[1:4])
                       + "PRAGMA user_version = 4;")
    conn.close()
    (folder / "seed.txt").write_bytes(b"seed\n")
    (folder / "a.txt").write_bytes(b"a\n")
    (folder / "b.txt").write_bytes(b"ab\n")
    return ledger


def test_schema_5_keeps_every_answer_of_a_ledger_with_cached_rows(project: Project) -> None:
    """005_reuses.sql: a schema-4 ledger whose cached tasks have full rows answers every view, the
    run_tasks/run_files views and the commands as before; the old rows stay as they were."""
    ledger = make_v4_ledger_with_cached_rows(project.path)
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        before = {name: conn.execute(sql).fetchall() for name, sql in ANSWERS.items()}
        tasks = conn.execute("SELECT * FROM tasks ORDER BY id").fetchall()
        files = conn.execute("SELECT * FROM files ORDER BY id").fetchall()
        task_columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(tasks)"))
    assert before["latest_producers"][1][:4] == ("b.txt", sha(b"ab\n"), 3, 2)  # recorded again by run 2
    assert before["run_summary"][2][10:14] == (2, 0, 1, 1)  # run 3: 2 tasks, 1 cached, 1 failed

    why = project.run("why", "make-a", check=True).stdout  # a read-only command migrates first
    report = json.loads(project.run("report", "b.txt", "--json", check=True).stdout)
    shown = json.loads(project.run("show", "3", "--json", check=True).stdout)
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST >= 5
        after = {name: conn.execute(sql).fetchall() for name, sql in ANSWERS.items()}
        assert conn.execute(f"SELECT {task_columns} FROM tasks ORDER BY id").fetchall() == tasks
        assert conn.execute("SELECT * FROM files ORDER BY id").fetchall() == files
        # the new views present the old rows unchanged (none of them is a reuse)
        assert conn.execute(f"SELECT {task_columns} FROM run_tasks ORDER BY id").fetchall() == tasks
        assert conn.execute("SELECT id, task_id, run_id, role, path, sha256, size, producer_attempt_id, "
                            "recorded_at FROM run_files ORDER BY id").fetchall() == files
        assert conn.execute("SELECT count(*) FROM reuses").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM run_tasks WHERE reused = 1").fetchone()[0] == 0
    for name in ANSWERS:
        assert after[name] == before[name], name
    assert "task make-a, run 3 (decided 2026-01-03 10:00:00 UTC):" in why
    assert "match what run 2 recorded" in why
    assert report["file"]["recorded_in_run"] == 2 and report["file"]["producer"]["attempt_id"] == 2
    assert [t["uid"] for t in report["tasks"]] == ["make-b", "make-a"]
    assert {t["uid"]: t["status"] for t in shown["tasks"]} == {"make-a": "cached", "make-b": "failed"}


def test_schema_7_counts_every_change_to_the_rows_the_quick_lane_reads(project: Project) -> None:
    """007_quick_lane_generation.sql: an old ledger gets its token and a count starting at 0; a
    change to tasks, files or stat_cache counts, one to another table does not."""
    ledger = make_v1_ledger(project.path)
    project.run("report", "b.txt", check=True)  # migrates, writes nothing
    conn = sqlite3.connect(ledger)
    token, generation = conn.execute("SELECT ledger_token, generation FROM quick_lane_state").fetchone()
    assert re.fullmatch(r"[0-9a-f]{32}", token) and generation == 0
    assert conn.execute("SELECT name FROM schema_migrations WHERE version = 7").fetchone() == (
        "007_quick_lane_generation.sql",)
    with conn:
        conn.execute("UPDATE runs SET name = 'renamed'")
        conn.execute("UPDATE attempts SET host = 'elsewhere'")
    assert conn.execute("SELECT generation FROM quick_lane_state").fetchone() == (0,)
    entries = conn.execute("SELECT count(*) FROM stat_cache").fetchone()[0]
    with conn:
        conn.execute("UPDATE tasks SET reason = reason")  # two rows, even unchanged
        conn.execute("DELETE FROM stat_cache")  # one per entry
    assert conn.execute("SELECT generation FROM quick_lane_state").fetchone()[0] == 2 + entries
    assert conn.execute("SELECT ledger_token FROM quick_lane_state").fetchone() == (token,)
    conn.close()
