"""The quick lane's tables kept in ``.scriptflow/quicklane.snapshot`` (core/snapshot.py): loaded
only when reading the ledger would give exactly the same tables, read again after any change to
``tasks``, ``files`` or ``stat_cache``, whoever made it, and never from a damaged file or
another ledger's. Real runs in subprocesses and a real ledger; the counting of reads wraps
``read_lean_tables`` (instrumentation, not a fake: the real read still runs)."""
from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import PY, wait_until
from scriptflow.core import snapshot
from scriptflow.core.history import read_lean_tables
from test_prefetch import COPY, _ledger

FLOW = """
    def flow_main():
        for i in range(4):
            sf.Task({cmd}, inputs=f"in{{i}}.txt", outputs=f"out{{i}}.txt", name=f"t{{i}}").start()
"""


def _built(project) -> None:
    for i in range(4):
        project.write(f"in{i}.txt", f"{i}\n")
    project.flow(FLOW.format(cmd=f"[{PY!r}, '-c', {COPY!r}, f'in{{i}}.txt', f'out{{i}}.txt']"))
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)  # the racy entries settled: a no-op from here on


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    """The run ids ``snapshot.read_tables`` read the ledger for (instead of loading the file)."""
    done: list[int] = []

    def counting(conn, run_id):
        done.append(run_id)
        return read_lean_tables(conn, run_id)
    monkeypatch.setattr(snapshot, "read_lean_tables", counting)
    return done


def _tables(project):
    """What the next run gets from ``snapshot.read_tables`` and what reading gives, side by side."""
    conn = sqlite3.connect(f"file:{_ledger(project)}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")
        run_id = conn.execute("SELECT max(id) + 1 FROM runs").fetchone()[0]
        got = snapshot.read_tables(conn, run_id, _ledger(project))
        fresh = read_lean_tables(conn, run_id)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return got, fresh


def test_a_run_keeps_the_tables_and_the_next_one_loads_them(project, reads) -> None:
    _built(project)
    assert (project.path / ".scriptflow" / snapshot.FILE_NAME).is_file()
    got, fresh = _tables(project)
    assert got == fresh and reads == [] and sorted(got[0]) == ["t0", "t1", "t2", "t3"] and len(got[2]) == 8
    # A no-op writes no task, file or stat-cache row: the file still holds what reading gives.
    project.run("run", "main", check=True)
    got, fresh = _tables(project)
    assert got == fresh and reads == []


def _kept(project) -> os.stat_result:
    return (project.path / ".scriptflow" / snapshot.FILE_NAME).stat()


def test_the_run_that_changed_the_rows_keeps_them_for_the_next(project, reads) -> None:
    """A build, a rerun of one task and a run with a failed task each leave the file current, so
    the next run's first task loads it instead of waiting for the ledger."""
    for i in range(4):
        project.write(f"in{i}.txt", f"{i}\n")
    project.flow(FLOW.format(cmd=f"[{PY!r}, '-c', {COPY!r}, f'in{{i}}.txt', f'out{{i}}.txt']"))
    project.run("run", "main", check=True)  # the first run: there was no ledger to prefetch from
    # Read while the run's writer was open, whose closing then removed the WAL: the ledger is one file.
    assert not (project.path / ".scriptflow" / "ledger.db-wal").exists()
    got, fresh = _tables(project)
    assert got == fresh and reads == [] and sorted(got[0]) == ["t0", "t1", "t2", "t3"]
    project.run("run", "main", "--force", "t0", check=True)
    got, fresh = _tables(project)
    assert got == fresh and reads == [] and got[0]["t0"][0] == project.tasks()["t0"]["id"]
    (project.path / "in2.txt").unlink()  # t2 fails
    project.run("run", "main", check=False)
    got, fresh = _tables(project)
    assert got == fresh and reads == [] and got[0]["t2"][1] == "failed"


def _last_read_said(project, seconds: float) -> tuple[Path, Any]:
    """The file made current again, its head saying that the last read took ``seconds``."""
    path = project.path / ".scriptflow" / snapshot.FILE_NAME
    conn = sqlite3.connect(_ledger(project))
    try:
        state = snapshot.rows_state(conn)
        tables = read_lean_tables(conn, conn.execute(snapshot.NEXT_RUN_SQL).fetchone()[0])
    finally:
        conn.close()
    snapshot.save(path, state, tables, seconds)
    return path, tables


def test_a_read_under_keep_seconds_is_kept_after_however_short_a_run(project, reads) -> None:
    """A read that took 0.09 s (under ``KEEP_SECONDS``) is far more than ``KEEP_SHARE`` of a rerun
    of one quick task in this small project, and is kept all the same: the first no-op after a
    short run in a project of 10,000 tasks loads the file. 0.11 s is not kept."""
    _built(project)
    assert snapshot.KEEP_SECONDS == 0.1 and snapshot.KEEP_SHARE == 0.05
    path, _ = _last_read_said(project, 0.09)
    run = project.run("run", "main", "--force", "t0", "--set", "debug=true", check=True)
    assert "1 ran" in run.stdout
    got, fresh = _tables(project)
    assert got == fresh and reads == [] and got[0]["t0"][0] == project.tasks()["t0"]["id"]
    _last_read_said(project, 0.11)
    project.run("run", "main", "--force", "t0", "--set", "debug=true", check=True)
    assert "the last read took 0.11 s, the next run reads them" in project.read(".scriptflow/scriptflow.log")
    got, fresh = _tables(project)
    assert got == fresh and len(reads) == 1 and snapshot.last_read_seconds(path) < 0.09


def test_a_run_short_beside_the_last_read_leaves_the_reading_to_the_next(project, reads) -> None:
    """Reading for the next run may add at most ``KEEP_SHARE`` of the run's time (or ``KEEP_SECONDS``):
    with a head saying the last read took 1,000 s, a rerun of one task keeps nothing, and the next
    run reads."""
    _built(project)
    path = project.path / ".scriptflow" / snapshot.FILE_NAME
    assert 0 < snapshot.last_read_seconds(path) < 5
    path, tables = _last_read_said(project, 1000.0)
    assert _tables(project)[0] == tables and reads == []  # still current: loaded
    before = _kept(project)
    project.run("run", "main", "--force", "t0", "--set", "debug=true", check=True)
    after = _kept(project)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "the last read took 1000.00 s, the next run reads them" in project.read(".scriptflow/scriptflow.log")
    got, fresh = _tables(project)
    assert got == fresh and len(reads) == 1 and snapshot.last_read_seconds(path) < 5


def test_a_run_that_changed_none_of_the_rows_does_not_write_the_file_again(project, reads) -> None:
    _built(project)
    before = _kept(project)
    assert project.run("run", "main", check=True).stdout.count("up to date")
    after = _kept(project)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    project.run("run", "main", "--dry-run", "--force", "t1", check=True)
    after = _kept(project)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_interrupted_run_leaves_the_reading_to_the_next(project, reads) -> None:
    """Ctrl-C ends the run at once: the rows it changed are read by the next run (then kept)."""
    _built(project)
    project.flow(FLOW.format(cmd=f"[{PY!r}, '-c', 'import time; time.sleep(60)']")
                 .replace('outputs=f"out{i}.txt"', 'outputs=f"slow{i}.txt"'))
    proc = project.popen("run", "main", "--classic")
    try:
        wait_until(lambda: project.query("SELECT count(*) AS n FROM attempts WHERE status = 'running'")[0]["n"],
                   "a task to start")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert project.last_run()["status"] == "interrupted"
    got, fresh = _tables(project)
    assert got == fresh and len(reads) == 1
    reads.clear()
    assert _tables(project)[0] == fresh and reads == []


#: One change of each kind to each table the tables are read from, as typed into sqlite3.
CHANGES = [
    "UPDATE tasks SET fingerprint = 'changed' WHERE uid = 't1'",
    "INSERT INTO tasks (run_id, uid, command, shell, cwd, env, executor, resources, max_retries, inputs, outputs, "
    "fingerprint, status, decided_at) SELECT run_id, 't9', command, shell, cwd, env, executor, resources, "
    "max_retries, inputs, outputs, fingerprint, status, decided_at FROM tasks WHERE uid = 't1'",
    "DELETE FROM reuses WHERE task_id = (SELECT id FROM tasks WHERE uid = 't2');"
    "DELETE FROM files WHERE task_id = (SELECT id FROM tasks WHERE uid = 't2');"
    "DELETE FROM attempts WHERE task_id = (SELECT id FROM tasks WHERE uid = 't2');"
    "DELETE FROM tasks WHERE uid = 't2'",
    "UPDATE files SET sha256 = 'x' WHERE role = 'output' AND path LIKE '%out3.txt'",
    "INSERT INTO files (task_id, run_id, role, path, sha256, size, recorded_at) SELECT task_id, run_id, role, "
    "path || '.extra', sha256, size, recorded_at FROM files WHERE role = 'output' AND path LIKE '%out0.txt'",
    "DELETE FROM files WHERE role = 'output' AND path LIKE '%out0.txt'",
    "UPDATE stat_cache SET size = size + 1 WHERE path LIKE '%in1.txt'",
    "INSERT INTO stat_cache (path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns) SELECT path || '.x', "
    "size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns FROM stat_cache WHERE path LIKE '%in1.txt'",
    "DELETE FROM stat_cache WHERE path LIKE '%in2.txt'",
]


@pytest.mark.parametrize("sql", CHANGES, ids=[
    "tasks-update", "tasks-insert", "tasks-delete", "files-update", "files-insert", "files-delete",
    "stat-update", "stat-insert", "stat-delete"])
def test_any_change_to_the_rows_read_makes_the_next_run_read_again(project, reads, sql) -> None:
    _built(project)
    before, _ = _tables(project)
    with sqlite3.connect(_ledger(project)) as conn:  # another tool: sqlite3, a script, a later scriptflow
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.executescript(sql)
    got, fresh = _tables(project)
    assert reads, "the changed ledger was not read again"
    assert got == fresh and got != before
    reads.clear()
    got, fresh = _tables(project)  # kept again: the next one loads
    assert got == fresh and reads == []


def test_a_task_edited_in_the_ledger_is_decided_from_the_edit(project) -> None:
    """End to end: a stale file would call t1 up to date; the ledger says its definition changed."""
    _built(project)
    with sqlite3.connect(_ledger(project)) as conn:
        conn.execute("UPDATE tasks SET fingerprint = 'edited by hand' WHERE uid = 't1'")
    project.run("run", "main", check=True)
    statuses = project.statuses()
    assert statuses["t1"] != "cached" and {statuses[f"t{i}"] for i in (0, 2, 3)} == {"cached"}, statuses


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


#: Where the key and the state begin (after the magic line and the lengths and CRCs).
HEAD = len(snapshot._MAGIC) + snapshot._HEADER.size


@pytest.mark.parametrize("damage", ["truncated", "flipped", "head-flipped", "length-flipped", "longer", "empty",
                                    "not-ours"])
def test_a_damaged_file_is_not_used_and_is_written_again(project, reads, damage) -> None:
    _built(project)
    path = project.path / ".scriptflow" / snapshot.FILE_NAME
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "flipped": _flipped(data, len(data) - 5),
                      "head-flipped": _flipped(data, HEAD + 3), "length-flipped": _flipped(data, HEAD - 5),
                      "longer": data + b"\x00", "empty": b"", "not-ours": b"SQLite format 3\x00" + data[16:]}[damage])
    got, fresh = _tables(project)
    assert got == fresh and len(reads) == 1
    assert path.read_bytes() != b"" and _tables(project)[0] == fresh and len(reads) == 1


def test_a_file_read_at_another_state_is_turned_down_before_its_tables_are_read(project, reads,
                                                                                monkeypatch) -> None:
    """Right after a run that changed rows the file is stale: only its key and state are read
    and unmarshalled, not the tables (``marshal.loads`` wrapped to see what it is given)."""
    _built(project)
    size = (project.path / ".scriptflow" / snapshot.FILE_NAME).stat().st_size
    with sqlite3.connect(_ledger(project)) as conn:
        conn.execute("UPDATE stat_cache SET size = size + 1 WHERE path LIKE '%in1.txt'")
    given: list[int] = []
    real = snapshot.marshal

    class Counting:
        dumps = staticmethod(real.dumps)
        version = real.version

        @staticmethod
        def loads(data):
            given.append(len(data))
            return real.loads(data)
    monkeypatch.setattr(snapshot, "marshal", Counting)
    got, fresh = _tables(project)
    assert got == fresh and len(reads) == 1
    assert len(given) == 1 and given[0] < 300 < size, (given, size)


def test_another_reading_code_or_another_ledger_is_not_trusted(project, reads, monkeypatch) -> None:
    _built(project)
    path = project.path / ".scriptflow" / snapshot.FILE_NAME
    monkeypatch.setattr(snapshot, "KEY", "another version of scriptflow")
    assert _tables(project)[0] == _tables(project)[1] and len(reads) == 1
    monkeypatch.undo()
    kept = path.read_bytes()
    # The ledger deleted and built again: its count starts over, its token differs.
    _ledger(project).unlink()
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    path.write_bytes(kept)  # the old ledger's file, at a count the new ledger may reach too
    reads.clear()
    monkeypatch.setattr(snapshot, "read_lean_tables", lambda conn, run_id: (reads.append(run_id),
                                                                             read_lean_tables(conn, run_id))[1])
    got, fresh = _tables(project)
    assert got == fresh and len(reads) == 1


def test_a_ledger_before_schema_7_is_read_as_before(tmp_path, reads) -> None:
    """No ``quick_lane_state``: nothing is loaded or kept (the run migrates the ledger first)."""
    ledger = tmp_path / "ledger.db"
    conn = sqlite3.connect(ledger)
    conn.executescript("CREATE TABLE runs (id INTEGER PRIMARY KEY); CREATE TABLE tasks (id INTEGER PRIMARY KEY);")
    assert snapshot.rows_state(conn) is None
    conn.close()
    assert not (tmp_path / snapshot.FILE_NAME).exists()


def test_a_temporary_file_a_killed_run_left_is_removed_by_the_next_save(project, reads) -> None:
    """``kill -9`` while the file is written leaves ``quicklane.snapshot.PID.tmp``; the next run that
    writes the file removes it once it is older than any write takes, never one being written."""
    _built(project)
    folder = project.path / ".scriptflow"
    (folder / snapshot.FILE_NAME).unlink()  # the next read writes the file
    stale, fresh = folder / f"{snapshot.FILE_NAME}.999999.tmp", folder / f"{snapshot.FILE_NAME}.999998.tmp"
    stale.write_bytes(b"half a snapshot")
    fresh.write_bytes(b"being written")
    old = time.time() - snapshot.STALE_TMP_S - 60
    os.utime(stale, (old, old))
    got, fresh_tables = _tables(project)
    assert got == fresh_tables and len(reads) == 1
    assert not stale.exists() and fresh.exists() and (folder / snapshot.FILE_NAME).is_file()


@pytest.mark.parametrize("sabotage", [
    "DROP TRIGGER quick_lane_stat_cache_update",
    "DROP TRIGGER quick_lane_tasks_update; CREATE TRIGGER quick_lane_tasks_update AFTER UPDATE ON tasks "
    "WHEN 0 BEGIN UPDATE quick_lane_state SET generation = generation + 1; END",
    "DELETE FROM quick_lane_state",
], ids=["dropped", "changed", "no-count"])
def test_a_count_that_cannot_be_trusted_turns_the_snapshot_off(project, reads, sabotage) -> None:
    """A counting trigger dropped or changed by hand, or the count's row deleted: the ledger is read
    every time, even when nothing changed, and no file is kept."""
    _built(project)
    with sqlite3.connect(_ledger(project)) as conn:
        conn.executescript(sabotage)
    (project.path / ".scriptflow" / snapshot.FILE_NAME).unlink()
    for _ in range(2):
        got, fresh = _tables(project)
        assert got == fresh
    assert len(reads) == 2 and not (project.path / ".scriptflow" / snapshot.FILE_NAME).exists()
    project.run("run", "main", check=True)
    assert set(project.statuses().values()) == {"cached"}
