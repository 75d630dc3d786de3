"""The ledger file: schema migrations, opening it to write or read-only, the stat cache row.

Everyone but the engine (``runs``, ``show``, ``report``, ``why``) opens the
file read-only and can do so while a run is live (WAL mode); the engine
writes through ``writer.LedgerWriter``.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import LedgerError
from .sqlerrors import damaged_message, is_damage, remember_ledger
from ..clock import utc_now

log = logging.getLogger("scriptflow.ledger")

#: Timestamp granularity assumed for sub-second filesystems (Linux ticks are <= 10 ms).
FINE_GRANULARITY_NS = 50_000_000
#: For filesystems that store whole seconds (FAT stores 2 s).
COARSE_GRANULARITY_NS = 2_000_000_000


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    """What the stat cache compares: size, mtime, ctime and inode.

    ctime is there because mtime can be set back (``cp -p``, ``rsync -t``,
    ``touch -r``, ``os.utime``) and a same-size edit then keeps the other three.
    """
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


@dataclass(frozen=True)
class StatEntry:
    """A row of the ledger's ``stat_cache`` table (``path`` as the caller spells it)."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    sha256: str
    hashed_at_ns: int

    def matches(self, st: os.stat_result) -> bool:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode) == stat_key(st)

    @property
    def racy(self) -> bool:
        """Hashed so soon after the file's last change that a later write could keep its timestamps."""
        return is_racy(self.mtime_ns, self.ctime_ns, self.hashed_at_ns)


def is_racy(mtime_ns: int, ctime_ns: int, hashed_at_ns: int) -> bool:
    """Whether a file changed at ``mtime_ns``/``ctime_ns`` and hashed at ``hashed_at_ns`` may have
    been written again since within the same timestamps (the filesystem's granularity)."""
    coarse = mtime_ns % 1_000_000_000 == 0 and ctime_ns % 1_000_000_000 == 0
    return hashed_at_ns - max(mtime_ns, ctime_ns) < (COARSE_GRANULARITY_NS if coarse else FINE_GRANULARITY_NS)


#: ``not is_racy(mtime_ns, ctime_ns, hashed_at_ns)`` as SQL on a ``stat_cache`` row's own columns
#: (NULL, so false, when one is NULL). A racy entry is worth nothing to a run, which reads its
#: file again, so the run's history reads only these (``core/history.py``).
SETTLED_SQL = ("hashed_at_ns - max(mtime_ns, ctime_ns) >= CASE WHEN mtime_ns % 1000000000 = 0 "
               f"AND ctime_ns % 1000000000 = 0 THEN {COARSE_GRANULARITY_NS} ELSE {FINE_GRANULARITY_NS} END")


BUSY_TIMEOUT_MS = 30_000
HEARTBEAT_SECONDS = 5.0
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


# -- schema ---------------------------------------------------------------------


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped in ``scriptflow.schema``."""
    found = []
    for name, read in _migration_files():
        m = _MIGRATION_NAME.match(name)
        if m:
            found.append((int(m.group(1)), name, read()))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise LedgerError(f"scriptflow's schema migrations are not numbered 1..N: {versions}")
    return found


def _migration_files() -> list[tuple[str, Callable[[], str]]]:
    """(name, reader) of each file in ``scriptflow.schema/migrations``: read with plain ``open()``
    when the package is a folder (every installed scriptflow), through ``importlib.resources``
    only when it is not (the single-file ``scriptflow.pyz``, a zip) — that module pulls in
    ``tempfile``, ``random`` and more, which no run on disk should pay for."""
    spec = importlib.util.find_spec("scriptflow.schema")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        folder = os.path.join(location, "migrations")
        if os.path.isdir(folder):
            return [(name, functools.partial(_read_text, os.path.join(folder, name)))
                    for name in os.listdir(folder)]
    from importlib import resources

    entries = resources.files("scriptflow.schema").joinpath("migrations").iterdir()
    return [(entry.name, functools.partial(entry.read_text, encoding="utf-8")) for entry in entries]


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


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
        # Each step re-reads the version inside its own write transaction: another process
        # (a reader opening an old ledger, a second run) may have applied it meanwhile.
        try:
            conn.execute("BEGIN IMMEDIATE")
            if schema_version(conn) >= version:
                conn.execute("ROLLBACK")
                continue
            for statement in sql_statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                         (version, name, utc_now()))
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise LedgerError(f"cannot migrate {path} to schema {version} ({name}): {exc}") from None
        log.info("ledger %s migrated to schema %d (%s)", path, version, name)
    return len(steps)


def sql_statements(script: str) -> list[str]:
    """The statements of an SQL script, split where SQLite says a statement is complete
    (so a ';' inside a string or a trigger body does not split it)."""
    statements, current = [], ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \t\r\n;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \t\r\n;"):
        statements.append(current.strip())
    return statements


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
    remember_ledger(path)
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
        if is_damage(exc):
            raise LedgerError(damaged_message(path, exc)) from None
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    return conn


def open_for_reading(path: Path) -> sqlite3.Connection:
    """A read-only connection (never blocks or alters a live run); migrates an old ledger first."""
    if not Path(path).exists():
        raise LedgerError(f"no ledger at {path}: nothing has run in this project yet")
    remember_ledger(path)
    try:
        conn = connect_read_only(Path(path))
        version = schema_version(conn)
        if version > latest_version():
            conn.close()
            _refuse_newer(None, path, version)
        if version != latest_version():
            conn.close()
            open_for_writing(Path(path)).close()  # migrates, or refuses a newer schema
            conn = connect_read_only(Path(path))
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise LedgerError(damaged_message(path, exc) if is_damage(exc)
                          else f"cannot read ledger {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """``mode=ro``; in a folder this process cannot write, with no ``-wal`` file, ``immutable=1``.

    A WAL ledger opened read-only needs its ``-shm`` file, which SQLite cannot
    create in a read-only folder. Without a ``-wal`` file no connection is
    writing it (a writer always has one), and the main file holds every
    commit, so reading it as immutable is exact. With a ``-wal`` file,
    ``mode=ro`` works as long as the ``-shm`` file exists too.
    """
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    _configure(conn)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError:
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            conn.close()
            raise
    conn.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    _configure(conn)
    return conn


def read_stat_entry(conn: sqlite3.Connection, path: str) -> Optional[StatEntry]:
    """The ``stat_cache`` row of ``path`` (the ledger's project-relative spelling), for ``FileHasher``."""
    row = conn.execute("SELECT path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns FROM stat_cache "
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


