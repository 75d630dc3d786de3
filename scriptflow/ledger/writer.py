"""The ledger's single writer: one thread committing queued statements in batches.

Only the engine writes, through one ``LedgerWriter``, so thousands of task
events cost a handful of commits and readers never wait on a lock.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from ..errors import LedgerError
from .store import HEARTBEAT_SECONDS, open_for_writing

log = logging.getLogger("scriptflow.ledger")

# -- the writer -------------------------------------------------------------------

_STOP = object()


class LedgerWriter:
    """The only writer: a thread committing queued statements in batches.

    Statements are fire-and-forget (``execute``); ``call`` runs a function on
    the writer's connection and returns a future for its result; ``flush``
    waits until everything queued so far is committed. Row ids are allocated
    here, in memory, because the run lock guarantees one writer per ledger.
    """

    def __init__(self, path: Path, batch_size: int = 5000, discard: bool = False) -> None:
        self.path = path
        #: ``run --dry-run`` records nothing: statements are dropped, ids still allocated.
        self.discard = discard
        self._conn = open_for_writing(path)
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._batch_size = batch_size
        self._error: Optional[BaseException] = None
        self._heartbeat: Optional[Callable[[sqlite3.Connection], None]] = None
        self._last_beat = time.monotonic()
        self._ids_lock = threading.Lock()
        self._next_id = {
            table: (self._conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0] + 1)
            for table in ("runs", "tasks", "attempts")
        }
        self._thread = threading.Thread(target=self._loop, name="sf-ledger-writer", daemon=True)
        self._thread.start()

    def new_id(self, table: str) -> int:
        with self._ids_lock:
            value = self._next_id[table]
            self._next_id[table] = value + 1
            return value

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if not self.discard:
            self._queue.put((sql, params))

    def call(self, fn: Callable[[sqlite3.Connection], Any]) -> "Future[Any]":
        fut: "Future[Any]" = Future()
        self._queue.put((fn, fut))
        return fut

    def set_heartbeat(self, fn: Optional[Callable[[sqlite3.Connection], None]]) -> None:
        self._heartbeat = fn

    def flush(self) -> None:
        done = threading.Event()
        self._queue.put(done)
        done.wait()
        self._raise_error()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._conn.close()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise LedgerError(f"writing the ledger {self.path} failed: {self._error}")

    def _beat_if_due(self) -> None:
        """Refresh the run's heartbeat every few seconds, busy or idle."""
        now = time.monotonic()
        if self._heartbeat is not None and now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            self._commit([(self._heartbeat, None)])

    def _loop(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                self._beat_if_due()
                continue
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            work = [item for item in batch if isinstance(item, tuple)]
            self._commit(work)
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
            self._beat_if_due()

    def _commit(self, work: Iterable[tuple[Any, Any]]) -> None:
        results: list[tuple[Future, Any, Optional[BaseException]]] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for first, second in work:
                if callable(first):
                    try:
                        value = first(self._conn)
                        if isinstance(second, Future):
                            results.append((second, value, None))
                    except sqlite3.Error as exc:
                        if isinstance(second, Future):
                            results.append((second, None, exc))
                        else:
                            raise
                else:
                    self._conn.execute(first, second)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:  # a bug or a full disk: keep the run going, report at close
            log.exception("ledger write failed")
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._error = self._error or exc
            for fut, _, _ in results:
                fut.set_exception(exc)
            return
        for fut, value, exc in results:
            if exc is None:
                fut.set_result(value)
            else:
                fut.set_exception(exc)
