"""The ledger's single writer: one thread committing queued operations in batches.

Only the engine writes, through one ``LedgerWriter``, so thousands of task
events cost a handful of commits and readers never wait on a lock.

A batch is one transaction, but each operation in it (one statement, a
``unit`` of statements, or a ``call``) runs inside its own SAVEPOINT: an
operation that fails is rolled back alone, logged with its statement and
error, and remembered in ``errors``; the rest of the batch commits. Errors
that mean the ledger cannot be written at all (a full disk, an I/O error, a
read-only or damaged file) are different: the writer records ``failure``,
tells ``on_failure`` once (the runner stops the run), and from then on drops
ordinary operations, because committing later ones without the lost earlier
ones could record a task's end without its outputs. Only ``rescue``
operations (the runner's closing of the run) are still tried.
"""
from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

from ..errors import LedgerError
from .store import HEARTBEAT_SECONDS, open_for_writing
from .sqlerrors import cannot_write, damaged_message, is_damage

log = logging.getLogger("scriptflow.ledger")

Statement = tuple[str, Sequence[Any]]
Work = Union[Sequence[Statement], Callable[[sqlite3.Connection], Any]]

#: How many failed operations are kept in ``LedgerWriter.errors`` (all are logged).
MAX_REMEMBERED = 100
#: How long the writer lets operations gather before committing a batch nobody waits for.
GATHER_SECONDS = 0.01


@dataclass(frozen=True)
class FailedOperation:
    """One operation the writer rolled back: what it was and why it failed."""

    what: str
    error: str


class _Op:
    """One queued operation. Slots: a run can queue tens of thousands of them while its flow
    keeps the GIL busy and the writer waits for it at every statement."""

    __slots__ = ("work", "future", "rescue")

    def __init__(self, work: Work, future: "Optional[Future[Any]]" = None, rescue: bool = False) -> None:
        self.work = work
        self.future = future
        self.rescue = rescue


class _Flush:
    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


def _urgent(item: Any) -> bool:
    """Someone waits for it: a flush, the writer's close, or a ``call`` whose result is awaited."""
    return not isinstance(item, _Op) or item.future is not None


def _describe(work: Work) -> str:
    if callable(work):
        return f"call {getattr(work, '__qualname__', repr(work))}"
    return "; ".join(f"{sql} {tuple(params)!r}" for sql, params in work)


class LedgerWriter:
    """The only writer: a thread committing queued operations in batches.

    ``execute``/``execute_unit`` are fire-and-forget; ``call`` runs a function
    on the writer's connection and returns a future that is always resolved
    (result or exception); ``flush`` waits until everything queued so far is
    committed and raises ``LedgerError`` if the writer cannot write (never
    waits forever). Row ids are allocated here, in memory, because the run
    lock guarantees one writer per ledger.
    """

    def __init__(self, path: Path, batch_size: int = 5000, discard: bool = False) -> None:
        self.path = path
        #: ``run --dry-run`` records nothing: statements are dropped, ids still allocated.
        self.discard = discard
        #: Operations rolled back one by one (the batch around them committed).
        self.errors: list[FailedOperation] = []
        self.errors_total = 0
        #: Set once the ledger cannot be written at all; ordinary operations are dropped from then on.
        self.failure: Optional[LedgerError] = None
        self.dropped = 0
        self._on_failure: Optional[Callable[[LedgerError], None]] = None
        self._conn = open_for_writing(path)
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._batch_size = batch_size
        self._heartbeat: Optional[Callable[[sqlite3.Connection], None]] = None
        self._last_beat = time.monotonic()
        self._batch: list[Any] = []
        self._ids_lock = threading.Lock()
        self._state_lock = threading.Lock()
        try:
            self._next_id = {
                table: (self._conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0] + 1)
                for table in ("runs", "tasks", "attempts")
            }
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise LedgerError(damaged_message(path, exc) if is_damage(exc)
                              else f"cannot read the ledger {path}: {exc}") from None
        self._thread = threading.Thread(target=self._loop, name="sf-ledger-writer", daemon=True)
        self._thread.start()

    # -- the caller's side ---------------------------------------------------------------

    def new_id(self, table: str) -> int:
        with self._ids_lock:
            value = self._next_id[table]
            self._next_id[table] = value + 1
            return value

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if not self.discard:  # execute_unit without its defensive copy: the list is made here
            self._queue.put(_Op([(sql, params)]))

    def execute_unit(self, statements: Sequence[Statement], rescue: bool = False) -> None:
        """Queue statements that are committed together or not at all.

        ``rescue`` operations are still tried after the writer failed (closing a run).
        """
        if not self.discard and statements:
            self._queue.put(_Op(list(statements), rescue=rescue))

    def call(self, fn: Callable[[sqlite3.Connection], Any], rescue: bool = False) -> "Future[Any]":
        fut: "Future[Any]" = Future()
        if not self._thread.is_alive():
            fut.set_exception(self._dead())
        else:
            self._queue.put(_Op(fn, fut, rescue))
        return fut

    def set_heartbeat(self, fn: Optional[Callable[[sqlite3.Connection], None]]) -> None:
        self._heartbeat = fn

    def set_on_failure(self, fn: Optional[Callable[[LedgerError], None]]) -> None:
        """``fn(error)`` is called once, on the writer's thread, when the ledger cannot be written.

        If that already happened, it is called at once.
        """
        with self._state_lock:
            self._on_failure = fn
            failure = self.failure
        if fn is not None and failure is not None:
            fn(failure)

    def report_damage(self, exc: BaseException) -> None:
        """Damage met while reading the ledger (by the engine) fails the writer like damage met writing."""
        self._fail(exc)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def flush(self) -> None:
        """Wait until everything queued so far is committed; ``LedgerError`` if the ledger cannot be written."""
        marker = _Flush()
        self._queue.put(marker)
        while not marker.done.wait(0.2):
            if not self._thread.is_alive():
                raise self._dead()
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        """Commit what is queued and stop the thread. Failures were already reported by ``flush``."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        try:
            self._conn.close()
        except sqlite3.Error:  # pragma: no cover - closing a damaged file
            pass

    def _dead(self) -> LedgerError:
        return self.failure or LedgerError(f"cannot write the ledger {self.path}: its writer thread stopped")

    # -- the writer's thread -----------------------------------------------------------

    def _fail(self, exc: BaseException) -> None:
        """The ledger cannot be written: remember why and tell the run, once."""
        with self._state_lock:
            if self.failure is not None:
                return
            self.failure = LedgerError(damaged_message(self.path, exc) if is_damage(exc)
                                       else f"cannot write the ledger {self.path}: {exc}")
            callback = self._on_failure
        log.error("cannot write the ledger %s: %r; later operations are dropped", self.path, exc)
        if callback is not None:
            try:
                callback(self.failure)
            except Exception:  # noqa: BLE001 - a callback must not take the writer down
                log.exception("ledger failure callback failed")

    def _remember(self, op: _Op, exc: BaseException) -> None:
        what = _describe(op.work)
        log.error("ledger operation failed and was rolled back: %s: %r", what, exc)
        self.errors_total += 1
        if len(self.errors) < MAX_REMEMBERED:
            self.errors.append(FailedOperation(what, f"{type(exc).__name__}: {exc}"))

    def _beat_if_due(self) -> None:
        """Refresh the run's heartbeat every few seconds, busy or idle."""
        now = time.monotonic()
        heartbeat = self._heartbeat
        if heartbeat is not None and now - self._last_beat >= HEARTBEAT_SECONDS:
            self._last_beat = now
            self._commit([_Op(heartbeat)])

    def _loop(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # noqa: BLE001 - never die silently: fail and release every waiter
            log.exception("the ledger writer stopped")
            self._fail(exc)
            self._drain()

    def _serve(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                self._beat_if_due()
                continue
            batch = [first]
            self._take_waiting(batch)
            if len(batch) < self._batch_size and not any(_urgent(item) for item in batch):
                # Let a burst gather: one transaction for what a few milliseconds bring, not one per
                # task (each commit costs more than the statements of a cached task).
                time.sleep(GATHER_SECONDS)
                self._take_waiting(batch)
            stop = any(item is _STOP for item in batch)
            self._batch = batch
            self._commit([item for item in batch if isinstance(item, _Op)])
            for item in batch:
                if isinstance(item, _Flush):
                    item.done.set()
            self._batch = []
            self._beat_if_due()

    def _take_waiting(self, batch: list[Any]) -> None:
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _drain(self) -> None:
        """After the thread's death: resolve every future and flush in hand or queued, so nobody waits."""
        pending, self._batch = list(self._batch), []
        while True:
            if not pending:
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    return
            item = pending.pop(0)
            if isinstance(item, _Op) and item.future is not None and not item.future.done():
                item.future.set_exception(self._dead())
            elif isinstance(item, _Flush):
                item.done.set()

    def _commit(self, ops: list[_Op]) -> None:
        if self.failure is not None:
            kept = [op for op in ops if op.rescue]
            self._abandon([op for op in ops if not op.rescue], self.failure)
            ops = kept
        if not ops:
            return
        if self._commit_plain(ops):
            return
        results: list[tuple[Future, Any]] = []
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                ok, value = self._run_one(op)
                if ok is None:  # the transaction is gone: nothing of this batch can be committed
                    raise value
                if ok and op.future is not None:
                    results.append((op.future, value))
            self._conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - cannot write: fail the run, release every waiter
            try:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            except BaseException:  # noqa: BLE001
                pass
            self._fail(exc)
            self._abandon(ops, self.failure or exc)
            return
        for fut, value in results:
            fut.set_result(value)

    def _commit_plain(self, ops: list[_Op]) -> bool:
        """A batch of plain statements (the usual case) in one transaction without a SAVEPOINT per
        operation: True when committed. On any error it is rolled back whole and False tells
        ``_commit`` to run it again operation by operation, where a failing one is isolated."""
        if any(callable(op.work) or op.future is not None for op in ops):
            return False
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                for sql, params in op.work:  # type: ignore[union-attr]
                    conn.execute(sql, params)
            conn.execute("COMMIT")
            return True
        except BaseException:  # noqa: BLE001 - the slow path sorts out which operation, and how bad
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except BaseException:  # noqa: BLE001 - the slow path meets the same trouble and reports it
                pass
            return False

    def _run_one(self, op: _Op) -> tuple[Optional[bool], Any]:
        """(True, value) when done; (False, exc) when rolled back alone; (None, exc) when the batch is lost."""
        conn = self._conn
        conn.execute("SAVEPOINT sf_op")
        try:
            if callable(op.work):
                value = op.work(conn)
            else:
                for sql, params in op.work:
                    conn.execute(sql, params)
                value = None
            conn.execute("RELEASE sf_op")
            return True, value
        except BaseException as exc:  # noqa: BLE001 - any error of one operation is that operation's
            if cannot_write(exc) or not conn.in_transaction:
                return None, exc
            try:
                conn.execute("ROLLBACK TO sf_op")
                conn.execute("RELEASE sf_op")
            except sqlite3.Error as rollback_exc:
                return None, rollback_exc
            self._remember(op, exc)
            if op.future is not None:
                op.future.set_exception(exc)
            return False, exc

    def _abandon(self, ops: list[_Op], exc: BaseException) -> None:
        for op in ops:
            self.dropped += 1
            if op.future is not None and not op.future.done():
                op.future.set_exception(exc)
