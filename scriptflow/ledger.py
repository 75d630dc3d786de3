"""The run ledger: schema migrations, the single writer, and read-only readers.

Only the engine writes, through one ``LedgerWriter`` thread that commits
whatever is queued in one transaction, so thousands of task events cost a
handful of commits. Everyone else (``runs``, ``show``, ``report``, ``why``)
opens the file read-only and can do so while a run is live (WAL mode).
"""
from __future__ import annotations

import logging
import queue
import re
import sqlite3
import threading
import time
from concurrent.futures import Future
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from .errors import LedgerError
from .fingerprint import StatEntry

log = logging.getLogger("scriptflow.ledger")

BUSY_TIMEOUT_MS = 30_000
HEARTBEAT_SECONDS = 5.0
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


_second_cache: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """ISO-8601 UTC with microseconds (sorts as text); the seconds part is formatted once per second."""
    global _second_cache
    now = time.time_ns()
    seconds, micros = divmod(now // 1000, 1_000_000)
    cached_second, text = _second_cache
    if cached_second != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, text)
    return f"{text}.{micros:06d}Z"


def parse_time(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# -- schema ---------------------------------------------------------------------


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped in ``scriptflow.schema``."""
    folder = resources.files("scriptflow.schema").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise LedgerError(f"scriptflow's schema migrations are not numbered 1..N: {versions}")
    return found


def latest_version() -> int:
    return len(migrations())


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, path: Path | str = "ledger") -> int:
    """Bring the ledger to the latest schema; refuse one written by a newer scriptflow."""
    steps = migrations()
    current = schema_version(conn)
    if current > len(steps):
        raise LedgerError(
            f"{path} has schema version {current}, newer than this scriptflow knows "
            f"({len(steps)}): upgrade scriptflow to use it"
        )
    for version, name, sql in steps[current:]:
        script = (
            f"BEGIN IMMEDIATE;\n{sql}\n"
            f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({version}, '{name}', '{utc_now()}');\n"
            f"PRAGMA user_version = {version};\nCOMMIT;"
        )
        try:
            conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise LedgerError(f"cannot migrate {path} to schema {version} ({name}): {exc}") from None
        log.info("ledger %s migrated to schema %d (%s)", path, version, name)
    return len(steps)


def _refuse_newer(conn: Optional[sqlite3.Connection], path: Path | str, version: Optional[int] = None) -> None:
    """A newer scriptflow's ledger must fail before anything (even the journal mode) is written to it."""
    if version is None:
        assert conn is not None
        version = schema_version(conn)
    known = latest_version()
    if version > known:
        if conn is not None:
            conn.close()
        raise LedgerError(
            f"{path} has schema version {version}, newer than this scriptflow knows ({known}): "
            f"upgrade scriptflow to use it"
        )


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")


def open_for_writing(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the ledger; WAL where the filesystem allows it."""
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        _configure(conn)
        _refuse_newer(conn, path)  # before WAL: a ledger we cannot read is left byte-for-byte alone
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("ledger %s: WAL not available here, using %s journal", path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, path)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    return conn


def open_for_reading(path: Path) -> sqlite3.Connection:
    """A read-only connection (never blocks or alters a live run); migrates an old ledger first."""
    if not Path(path).exists():
        raise LedgerError(f"no ledger at {path}: nothing has run in this project yet")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        _configure(conn)
        version = schema_version(conn)
        if version > latest_version():
            conn.close()
            _refuse_newer(None, path, version)
        if version != latest_version():
            conn.close()
            open_for_writing(Path(path)).close()  # migrates, or refuses a newer schema
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            _configure(conn)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot read ledger {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def read_stat_entry(conn: sqlite3.Connection, path: str) -> Optional[StatEntry]:
    """The ``stat_cache`` row of ``path`` (absolute), for ``FileHasher``'s lookups."""
    row = conn.execute("SELECT path, size, mtime_ns, inode, sha256, hashed_at_ns FROM stat_cache "
                       "WHERE path = ?", (path,)).fetchone()
    return StatEntry(*row) if row else None


class ThreadLocalReader:
    """One read-only connection per thread, for decisions made in worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_for_reading(self.path)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


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
