"""The ``reuses`` rows of a run, held as numbers and handed to the writer a few thousand at a time.

A no-op of 100,000 tasks records 100,000 ``reuses`` rows (schema 5). Queued
one writer operation each, a row cost about 340 bytes until committed (the
operation, its statement list, its parameters and its timestamp text), and
the writer thread commits them slowly while the flow thread is busy in
Python (each statement hands the GIL over): at the end of such a flow
nearly all of them were still queued, 32 MB. Here a row is two 8-byte
numbers (the reused task's id and the moment in ns) until ``CHUNK`` of them
are handed over as one operation, which writes them as multi-row INSERTs
(a few hundred rows per statement, under SQLite's smallest limit of 999
bound values).

Nothing is weaker for it: the writer's queue was in memory too, so a crash
loses what neither had committed either way, and a lost ``reuses`` row
never changes a decision (the reused ``tasks`` row is the one the next run
compares with). ``flush`` hands over the rest; the engine calls it as it
closes, before the run is recorded as ended, so a finished run's rows are
all there. A live reader (``status``, the web pages) sees a running no-op's
cached tasks up to ``CHUNK`` rows late.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from array import array

from ..clock import utc_text
from ..ledger.writer import LedgerWriter

INSERT = "INSERT INTO reuses (run_id, task_id, at) VALUES (?, ?, ?)"
#: Rows held before they are handed to the writer.
CHUNK = 2000
#: Rows per INSERT statement (3 values each, under 999).
ROWS_PER_STATEMENT = 333


class ReuseRows:
    """This run's ``reuses`` rows until the writer has them (thread-safe)."""

    def __init__(self, writer: LedgerWriter, run_id: int) -> None:
        self._writer = writer
        self._run_id = run_id
        self._lock = threading.Lock()
        self._task_ids = array("q")
        self._at_ns = array("q")

    def add(self, reused_task_id: int) -> None:
        """A task found up to date as a repeat of the tasks row ``reused_task_id``, now."""
        with self._lock:
            self._task_ids.append(reused_task_id)
            self._at_ns.append(time.time_ns())
            if len(self._task_ids) >= CHUNK:
                self._hand_over()

    def flush(self) -> None:
        """Hand every held row to the writer."""
        with self._lock:
            if self._task_ids:
                self._hand_over()

    def _hand_over(self) -> None:
        task_ids, at_ns = self._task_ids, self._at_ns
        self._task_ids, self._at_ns = array("q"), array("q")
        run_id = self._run_id

        def insert(conn: sqlite3.Connection) -> None:
            for start in range(0, len(task_ids), ROWS_PER_STATEMENT):
                params: list[object] = []
                for task_id, at in zip(task_ids[start:start + ROWS_PER_STATEMENT],
                                       at_ns[start:start + ROWS_PER_STATEMENT]):
                    params += (run_id, task_id, utc_text(at))
                conn.execute(INSERT + ", (?, ?, ?)" * (len(params) // 3 - 1), params)

        insert.__qualname__ = f"insert {len(task_ids)} reuses rows"  # how a failure is logged
        self._writer.call(insert)
