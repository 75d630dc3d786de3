"""The ledger writer, driven directly on a real SQLite file: no operation is lost to another's
failure, every future is resolved, and a writer that cannot write says so instead of hanging."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from scriptflow.errors import LedgerError
from scriptflow.ledger.writer import LedgerWriter

EVENT = "INSERT INTO events (run_id, at, kind) VALUES (NULL, 'now', ?)"
RUN = ("INSERT INTO runs (id, flow, flow_file, project_dir, status, started_at, host, pid, scriptflow_version) "
       "VALUES (?, 'f', 'sflow.py', '.', 'running', 'now', 'h', 1, '0')")


@pytest.fixture
def writer(tmp_path: Path):
    w = LedgerWriter(tmp_path / "ledger.db")
    yield w
    w.close()


def kinds(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]


def hold(writer: LedgerWriter) -> threading.Event:
    """Block the writer's thread in a call, so that what is queued next lands in one batch."""
    release = threading.Event()
    writer.call(lambda conn: release.wait(30))
    return release


def test_a_failing_statement_mid_batch_keeps_the_others(writer, tmp_path):
    writer.execute(RUN, (1,))
    writer.flush()
    release = hold(writer)
    writer.execute(EVENT, ("before",))
    writer.execute(RUN, (1,))  # UNIQUE violation
    writer.execute(EVENT, ("after",))
    release.set()
    writer.flush()  # a statement's failure is not the writer's: no error here
    assert kinds(tmp_path / "ledger.db") == ["before", "after"]
    assert writer.failure is None and writer.alive
    assert len(writer.errors) == 1
    assert "INSERT INTO runs" in writer.errors[0].what and "UNIQUE" in writer.errors[0].error


def test_a_unit_is_committed_whole_or_not_at_all(writer, tmp_path):
    writer.execute(RUN, (1,))
    release = hold(writer)
    writer.execute_unit([(EVENT, ("half",)), (RUN, (1,))])
    writer.execute_unit([(EVENT, ("whole-1",)), (EVENT, ("whole-2",))])
    release.set()
    writer.flush()
    assert kinds(tmp_path / "ledger.db") == ["whole-1", "whole-2"]
    assert len(writer.errors) == 1 and "half" in writer.errors[0].what


def test_exceptions_that_are_not_sqlite_errors_are_contained(writer, tmp_path):
    release = hold(writer)
    writer.execute(EVENT, ("a",))
    writer.execute(EVENT, ("bad-\udcff-path",))  # UnicodeEncodeError: a path that is not UTF-8

    def broken(conn):
        return conn.execute(None)  # TypeError

    failed = writer.call(broken)
    writer.execute(EVENT, ("b",))
    release.set()
    writer.flush()
    assert isinstance(failed.exception(timeout=30), TypeError)
    assert kinds(tmp_path / "ledger.db") == ["a", "b"]
    assert writer.alive and writer.failure is None
    assert {e.error.split(":")[0] for e in writer.errors} == {"UnicodeEncodeError", "TypeError"}


def test_call_futures_behind_a_failing_statement_are_resolved(writer, tmp_path):
    writer.execute(RUN, (1,))
    release = hold(writer)
    writer.execute(RUN, (1,))
    before = writer.call(lambda conn: conn.execute("SELECT count(*) FROM runs").fetchone()[0])
    writer.execute(RUN, (1,))
    after = writer.call(lambda conn: "still here")
    release.set()
    assert before.result(timeout=30) == 1
    assert after.result(timeout=30) == "still here"
    assert len(writer.errors) == 2


def test_a_full_ledger_fails_the_writer_once_and_only_rescue_operations_are_tried(writer, tmp_path):
    """SQLite's own SQLITE_FULL, produced by capping the file's page count (max_page_count)."""
    seen: list[LedgerError] = []
    writer.set_on_failure(seen.append)
    pages = writer.call(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0]).result(timeout=30)
    writer.call(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}")).result(timeout=30)
    writer.execute(EVENT, ("x" * 100_000,))
    with pytest.raises(LedgerError, match="full"):
        writer.flush()
    assert len(seen) == 1 and "cannot write the ledger" in str(seen[0])
    writer.execute(EVENT, ("dropped",))
    dropped = writer.call(lambda conn: "never")
    with pytest.raises(LedgerError):
        dropped.result(timeout=30)

    def make_room(conn):
        conn.execute("PRAGMA max_page_count = 1000000")
        conn.execute(EVENT, ("rescued",))
        return True

    assert writer.call(make_room, rescue=True).result(timeout=30) is True
    writer.execute_unit([(EVENT, ("closing",))], rescue=True)
    with pytest.raises(LedgerError):
        writer.flush()  # still failed: the run must not pass for a good one
    assert kinds(tmp_path / "ledger.db") == ["rescued", "closing"]


def test_a_dead_writer_thread_makes_flush_and_call_fail_instead_of_hanging(tmp_path):
    """Fault injection: the loop itself raising (nothing real can kill it) stands for any way the thread dies."""
    writer = LedgerWriter(tmp_path / "ledger.db")
    seen: list[LedgerError] = []
    writer.set_on_failure(seen.append)

    def explode(ops):
        raise SystemExit("boom")

    writer._commit = explode  # type: ignore[method-assign]
    pending = writer.call(lambda conn: 1)
    with pytest.raises(LedgerError):
        pending.result(timeout=30)
    writer._thread.join(30)
    assert not writer.alive
    with pytest.raises(LedgerError, match="cannot write the ledger"):
        writer.flush()
    with pytest.raises(LedgerError):
        writer.call(lambda conn: 1).result(timeout=30)
    assert len(seen) == 1
    writer.close()
