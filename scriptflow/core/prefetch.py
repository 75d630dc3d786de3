"""The quick lane's tables, read while a run starts and kept only if the ledger did not change meanwhile.

A run's first task waits for ``LedgerHistory.tables``: the earlier tasks'
lean rows, their output rows and the stat cache (0.1 s at 10,000 tasks, 1 s
at 100,000). Before that task the run loads the flow file, checks the ledger
(``PRAGMA quick_check``, 50 ms at 10,000 tasks), opens the writer, stops what
dead runs left running and recovers their jobs; none of that needs these
tables. ``HistoryPrefetch`` reads them meanwhile, on a thread and a read-only
connection of its own (SQLite lets go of the GIL while it reads).

What it read is used only if it is exactly what the first task would read:

* no connection committed anything between the moment before the read
  began and ``take``, which the runner calls once dead runs are closed and
  jobs recovered, just before the run records itself. SQLite's ``PRAGMA
  data_version`` on the prefetch's own connection changes exactly when
  another connection commits (the writer's dead-run and recovery steps, a
  migration, another process); ``take`` reads it again and returns nothing
  if it moved. After ``take`` the run holds the project lock and writes only
  its own rows, which the history leaves out anyway;
* the rows are read for the run id the writer gives the run (the runs'
  largest id plus one, read in the same snapshot; ``LedgerHistory.seed``
  refuses another id).

The read itself may be a load of ``.scriptflow/quicklane.snapshot``, when
that file holds what the read would give (``snapshot.py``).

Anything else (no ledger yet, a read that fails, a connection that cannot
be opened read-only) leaves nothing, and the first task reads the tables
as it always did. A dry run holds no lock and does not use the quick lane:
it never prefetches.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Optional

from . import snapshot
from .history import LeanTables

log = logging.getLogger("scriptflow.prefetch")


class HistoryPrefetch:
    """One background read of the quick lane's tables (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: Optional[sqlite3.Connection] = None
        self._version: Optional[int] = None
        self._read: Optional[tuple[int, LeanTables]] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sf-prefetch", daemon=True)
        self._thread.start()

    @classmethod
    def start(cls, path: Path) -> Optional["HistoryPrefetch"]:
        """Begin reading the ledger at ``path``; None when there is none yet (nothing to read)."""
        return cls(path) if path.is_file() else None

    def _run(self) -> None:
        try:
            conn = self._conn = snapshot.connect_reader(self._path)
            if self._stop.is_set():  # closed while connecting (``close`` sets it before it looks at _conn)
                return
            self._version = conn.execute("PRAGMA data_version").fetchone()[0]
            conn.execute("BEGIN")
            try:
                run_id = conn.execute(snapshot.NEXT_RUN_SQL).fetchone()[0]
                self._read = (run_id, snapshot.read_tables(conn, run_id, self._path))
            finally:
                conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the first task then reads the tables itself
            self._read = None  # also when only the COMMIT failed: a snapshot still open hides later commits
            log.debug("prefetch of %s not used: %s", self._path, exc)

    def wait(self) -> None:
        """Block until the read has ended: done, failed or stopped."""
        self._thread.join()

    def take(self) -> Optional[tuple[int, LeanTables]]:
        """Wait for the read; (run id it was read for, the tables) if no connection committed
        anything since it began, else None. Closes the connection either way."""
        self.wait()
        try:
            if self._read is None or self._conn is None:
                return None
            if self._conn.execute("PRAGMA data_version").fetchone()[0] != self._version:
                log.debug("prefetch of %s not used: the ledger changed since it was read", self._path)
                return None
            return self._read
        except sqlite3.Error:
            return None
        finally:
            self.close()  # lets go of what was read: the caller holds it if it was returned

    def close(self) -> None:
        """Stop the read if it still runs (a run that ends before its flow starts) and close."""
        self._stop.set()
        conn = self._conn
        if conn is not None and self._thread.is_alive():
            conn.interrupt()
        self._thread.join()
        self._read = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
