"""The ``reuses`` rows of a run, held as numbers and handed to the writer a few thousand at a time.

A no-op of 100,000 tasks records 100,000 ``reuses`` rows (schema 5). Queued
one writer operation each, a row cost about 340 bytes until committed (the
operation, its statement list, its parameters and its timestamp text), and
the writer thread commits them slowly while the flow thread is busy in
Python (each statement hands the GIL over): at the end of such a flow
nearly all of them were still queued, 32 MB. Here a row is two 8-byte
numbers (the reused task's id and the moment in ns) until ``CHUNK`` of them
are handed over as one operation.

That operation is one INSERT: the chunk goes to SQLite as one JSON text of
``[task id, ns]`` pairs, and SQLite spells each moment as ``clock.utc_text``
does (``clock.utc_text_sql``). The writer thread needs the GIL only to
make that text and to bind it; the rows are made while the flow thread has
the GIL. Building each row's parameters and text in Python, in statements of
a few hundred rows, held the GIL for 0.5 s of a 100,000-task no-op and
asked for it back after every statement, while the flow thread wanted it
too (docs/benchmarks.md, ninth round).

Nothing is weaker for it: the writer's queue was in memory too, so a crash
loses what neither had committed either way, and a lost ``reuses`` row
never changes a decision (the reused ``tasks`` row is the one the next run
compares with). ``flush`` hands over the rest; the engine calls it as it
closes, before the run is recorded as ended, so a finished run's rows are
all there. A live reader (``status``, the web pages) sees a running no-op's
cached tasks up to ``CHUNK`` rows late.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from array import array

from ..clock import utc_text_sql
from ..ledger.writer import LedgerWriter

INSERT = "INSERT INTO reuses (run_id, task_id, at) VALUES (?, ?, ?)"
#: A chunk's rows: the run, then a JSON array of [task id, ns] pairs, in the order added (plain
#: ``?``: numbered ones bound from a sequence are refused from Python 3.14).
INSERT_CHUNK = ("INSERT INTO reuses (run_id, task_id, at) "
                "SELECT ?, json_extract(value, '$[0]'), " + utc_text_sql("json_extract(value, '$[1]')")
                + " FROM json_each(?)")
#: Rows held before they are handed to the writer.
CHUNK = 2000


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
            conn.execute(INSERT_CHUNK, (run_id, json.dumps(list(zip(task_ids, at_ns)))))

        insert.__qualname__ = f"insert {len(task_ids)} reuses rows"  # how a failure is logged
        self._writer.call(insert)
