"""A run's ``reuses`` rows are held as numbers and written in chunks (core/reuserows.py), on a real
ledger through the real writer: every row arrives with its own time (in the order added), whether it went
with a full chunk or with the closing flush."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from scriptflow.clock import parse_time, utc_text, utc_text_sql
from scriptflow.core import reuserows
from scriptflow.core.reuserows import ReuseRows
from scriptflow.ledger.writer import LedgerWriter

RUN = ("INSERT INTO runs (id, flow, flow_file, project_dir, status, started_at, host, pid, scriptflow_version) "
       "VALUES (?, 'f', 'sflow.py', '.', 'running', '2026-01-01T00:00:00.000000Z', 'h', 1, '0')")
TASK = ("INSERT INTO tasks (id, run_id, uid, command, shell, cwd, executor, status, reason, fingerprint) "
        "VALUES (?, 1, ?, '[\"true\"]', 0, '.', 'local', 'succeeded', 'never-run', 'f')")


def test_every_row_arrives_in_order_with_its_own_time_across_chunks_and_the_flush(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(reuserows, "CHUNK", 7)
    writer = LedgerWriter(tmp_path / "ledger.db")
    try:
        writer.execute(RUN, (1,))
        writer.execute(RUN, (2,))
        for i in range(1, 24):
            writer.execute(TASK, (i, f"t{i}"))
        rows = ReuseRows(writer, 2)
        before = time.time()
        for i in range(1, 24):  # 3 full chunks of 7, then 2 rows for the flush
            rows.add(i)
        writer.flush()
        with sqlite3.connect(tmp_path / "ledger.db") as conn:
            assert conn.execute("SELECT count(*) FROM reuses").fetchone() == (21,)  # the flush has not come yet
        rows.flush()
        rows.flush()  # nothing left: writes nothing twice
        writer.flush()
        after = time.time()
        assert writer.errors == []
    finally:
        writer.close()
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        found = conn.execute("SELECT run_id, task_id, at FROM reuses ORDER BY task_id").fetchall()
    assert [(run, task) for run, task, _ in found] == [(2, i) for i in range(1, 24)]
    times = [parse_time(at).timestamp() for _, _, at in found]
    assert times == sorted(times) and before - 1 <= times[0] and times[-1] <= after + 1
    assert len({at for _, _, at in found}) > 1  # each its own moment, not the chunk's


def test_sqlite_spells_every_moment_as_python_does():
    """A chunk's timestamps are made by SQLite (``clock.utc_text_sql``); every other timestamp
    of the ledger by ``clock.utc_text``. Both must sort and read alike: the same text for the
    same nanosecond, at a second's start and end, below a microsecond, over years."""
    now = time.time_ns()
    moments = [now, now - now % 1_000_000_000, now - now % 1_000_000_000 + 999_999_999,
               now - now % 1_000 + 999, 1_000, 0, 951_782_400_123_456_789,  # 2000-02-29
               4_102_444_799_999_999_000]  # 2099-12-31T23:59:59.999999
    moments += [now + k * 7_919_113_457 for k in range(200)]
    with sqlite3.connect(":memory:") as conn:
        spelled = [conn.execute(f"SELECT {utc_text_sql(':ns')}", {"ns": ns}).fetchone()[0] for ns in moments]
    assert spelled == [utc_text(ns) for ns in moments]
    assert spelled[5] == "1970-01-01T00:00:00.000000Z" and spelled[6] == "2000-02-29T00:00:00.123456Z"
