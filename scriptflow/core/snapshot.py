"""The quick lane's tables kept in a file, used instead of reading them again while they are unchanged.

A run's first task waits for the quick lane's tables (``history.read_lean_tables``):
at 100,000 tasks, about 1 s of SQLite and of Python building 300,000 rows,
every run, although a no-op after a no-op reads exactly what the last run
read. ``marshal`` loads the same objects ten times faster. So the prefetch
(``prefetch.py``), when it had to read the tables, also writes them to
``.scriptflow/quicklane.snapshot``, a run that changed the rows reads them
again as it ends and writes them (``keep_for_next_run``), and a later run
loads that file instead of reading, but only when it is what reading would
give:

* **Nothing in the rows changed since.** Schema 7 counts every change to
  ``tasks``, ``files`` and ``stat_cache`` (triggers, whoever writes: a run,
  ``scriptflow clean``, an UPDATE typed into ``sqlite3``) in
  ``quick_lane_state.generation``, beside a token made when the ledger was.
  A counting trigger dropped or changed by hand turns the snapshot off.
  The snapshot holds the token, the generation and the largest task and file
  ids it was read at; the run reads the same four values in the read
  transaction it would have read the tables in. Any difference: it reads.
  A run writes no rows of its own before the prefetch, and the tables leave
  out only rows of the run that reads them, so equal counts mean equal rows.
* **The same reading code.** The key covers everything the tables are made
  by: the SQL of the reads, the packing of stat entries, this module's
  format, scriptflow's version and Python's (``marshal``'s format may change
  between Pythons).
* **An intact file.** Each part's length and CRC-32 are checked before
  ``marshal.loads`` sees a byte of it (``marshal`` is not made for damaged
  input); it is written to a temporary name and renamed, so a reader sees a
  whole file or the previous one (a temporary file a killed process left is
  removed by a later save).

The key and the state come first, in a part of their own, so that a file
that is not what reading would give is turned down after a few hundred
bytes: that is the usual case right after a run that changed rows, where
reading the whole file (4 MB at 10,000 tasks, 43 MB at 100,000) and
unmarshalling its tables only to compare the state cost 13 ms and 0.2 s.

Anything else (no file, another key, a damaged file, a schema before 7) reads
the tables as before. The file is about 430 bytes per task (4 MB at 10,000).
"""
from __future__ import annotations

import hashlib
import logging
import marshal
import os
import sqlite3
import struct
import sys
import time
import types
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator, NamedTuple, Optional

from ..ledger.store import SETTLED_SQL
from ..version import __version__
from . import history
from .history import LeanTables, read_lean_tables

log = logging.getLogger("scriptflow.snapshot")

FILE_NAME = "quicklane.snapshot"
_MAGIC = b"SFQL3\n"
#: The head's length and CRC-32 (it holds the key and the state), then the tables' length and CRC-32.
_HEADER = struct.Struct("<IIQI")


def _code_parts(code: types.CodeType) -> Iterator[Any]:
    """A function's bytecode and constants (its SQL texts), nested functions included, without
    the addresses a code object's repr holds."""
    yield code.co_code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_parts(const)
        else:
            yield const


#: The functions whose code makes the tables (a change to any of them changes the key).
_READERS = (history.read_lean_tables, history._stat_cache, history._lean_tasks, history._grouped,
            history._latest_ids)

#: What the tables read depend on, but for the rows: any change makes every older snapshot unused.
KEY = hashlib.sha256(repr((
    _MAGIC, __version__, sys.version_info[:2], marshal.version, SETTLED_SQL, history.REPEATS_KEY_SQL,
    history.COMPARED_STATUSES, history._NUMBERS.format,
    [list(_code_parts(f.__code__)) for f in _READERS],
)).encode()).hexdigest()

#: The state of the rows, read in the tables' own read transaction.
STATE_SQL = ("SELECT ledger_token, generation, (SELECT coalesce(max(id), 0) FROM tasks), "
             "(SELECT coalesce(max(id), 0) FROM files) FROM quick_lane_state WHERE id = 1")


def snapshot_path(ledger: Path) -> Path:
    return ledger.with_name(FILE_NAME)


#: The counting triggers, exactly as schema 7 makes them (whitespace aside).
TRIGGERS = {
    f"quick_lane_{table}_{event.lower()}": f"CREATE TRIGGER quick_lane_{table}_{event.lower()} AFTER {event} ON "
                                           f"{table} BEGIN UPDATE quick_lane_state SET generation = generation + 1; END"
    for table in ("tasks", "files", "stat_cache") for event in ("INSERT", "UPDATE", "DELETE")
}


def rows_state(conn: sqlite3.Connection) -> Optional[tuple[Any, ...]]:
    """(token, generation, largest task id, largest file id), or None before schema 7, and when
    the count cannot be trusted: a counting trigger dropped or changed (by hand: scriptflow
    never does), so that the snapshot is then never used."""
    try:
        row = conn.execute(STATE_SQL).fetchone()
        triggers = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                     "AND name LIKE 'quick_lane_%'").fetchall())
    except sqlite3.OperationalError:  # no quick_lane_state: a ledger not yet migrated
        return None
    if {name: " ".join(str(sql).split()) for name, sql in triggers.items()} != TRIGGERS:
        log.debug("the ledger's quick_lane triggers are not schema 7's: its snapshot is not used")
        return None
    return tuple(row) if row is not None else None


class _Head(NamedTuple):
    """The file's head: what it was read by and at, how long the read took, and the tables' length and CRC-32."""

    key: str
    state: tuple[Any, ...]
    read_seconds: float
    length: int
    crc: int

    def holds(self, state: tuple[Any, ...]) -> bool:
        """Whether the tables after this head were read at ``state`` by this code."""
        return self.key == KEY and self.state == state

    def last_read_seconds(self) -> Optional[float]:
        """How long reading the tables took, when this code wrote them (whatever their state)."""
        seconds = self.read_seconds
        return float(seconds) if self.key == KEY and isinstance(seconds, (int, float)) else None


def _open_head(path: Path) -> Optional[tuple[BinaryIO, _Head]]:
    """The file at ``path``, positioned at its tables, and its head, if the head is intact; else
    None (and the file closed)."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    try:
        head = _read_head(f, path)
    except OSError:
        head = None
    if head is None:
        f.close()
        return None
    return f, head


def _read_head(f: BinaryIO, path: Path) -> Optional[_Head]:
    start = f.read(len(_MAGIC) + _HEADER.size)
    if not start.startswith(_MAGIC) or len(start) < len(_MAGIC) + _HEADER.size:
        return None
    head_length, head_crc, length, crc = _HEADER.unpack_from(start, len(_MAGIC))
    if os.fstat(f.fileno()).st_size != len(start) + head_length + length:  # before reading a byte more
        log.debug("%s is damaged: not used", path)
        return None
    head = f.read(head_length)
    if len(head) != head_length or zlib.crc32(head) != head_crc:
        log.debug("%s is damaged: not used", path)
        return None
    try:
        key, state, read_seconds = marshal.loads(head)
    except (ValueError, EOFError, TypeError):
        return None
    return _Head(key, state, read_seconds, length, crc)


def _open_kept(path: Path, state: tuple[Any, ...]) -> Optional[tuple[BinaryIO, _Head]]:
    """``_open_head``, when the head says the tables were read at ``state`` by this code."""
    opened = _open_head(path)
    if opened is not None and not opened[1].holds(state):
        opened[0].close()
        return None
    return opened


def _head_of(path: Path) -> Optional[_Head]:
    """The head of the file at ``path`` if it is intact (the file is closed again)."""
    opened = _open_head(path)
    if opened is None:
        return None
    opened[0].close()
    return opened[1]


def last_read_seconds(path: Path) -> Optional[float]:
    """How long reading the tables kept at ``path`` took, whatever state they were read at; None
    without a file this code wrote."""
    head = _head_of(path)
    return head.last_read_seconds() if head is not None else None


def load(path: Path, state: tuple[Any, ...]) -> Optional[LeanTables]:
    """The tables kept at ``path`` if they were read at ``state`` by this code; else None (the
    tables themselves are read only then)."""
    kept = _open_kept(path, state)
    if kept is None:
        return None
    f, head = kept
    try:
        with f:
            payload = f.read(head.length)
    except OSError:
        return None
    if len(payload) != head.length or zlib.crc32(payload) != head.crc:
        log.debug("%s is damaged: not used", path)
        return None
    try:
        tables: LeanTables = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    return tables


#: A temporary file older than this was left by a process killed while it wrote (writing takes
#: well under a second): the next save removes it.
STALE_TMP_S = 600.0


def save(path: Path, state: tuple[Any, ...], tables: LeanTables, read_seconds: float) -> None:
    """Keep ``tables``, read at ``state`` in ``read_seconds``; a failure only costs the next run its read."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        head, payload = marshal.dumps((KEY, state, read_seconds)), marshal.dumps(tables)
        with open(tmp, "wb") as f:
            f.write(_MAGIC + _HEADER.pack(len(head), zlib.crc32(head), len(payload), zlib.crc32(payload)) + head)
            f.write(payload)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        log.debug("cannot keep the quick lane's tables in %s: %s", path, exc)
        _remove(tmp)
    now = time.time()
    for left in path.parent.glob(f"{path.name}.*.tmp"):
        try:
            if now - left.stat().st_mtime > STALE_TMP_S:
                _remove(left)
        except OSError:
            pass


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def read_tables(conn: sqlite3.Connection, run_id: int, ledger: Path) -> LeanTables:
    """``read_lean_tables`` in the caller's read transaction of ``conn``, from the snapshot when it
    is what that read would give; a read's tables are kept for the next run."""
    state = rows_state(conn)
    path = snapshot_path(ledger)
    if state is not None:
        tables = load(path, state)
        if tables is not None:
            return tables
    tables, seconds = _timed_read(conn, run_id)
    if state is not None:
        save(path, state, tables, seconds)
    return tables


def _timed_read(conn: sqlite3.Connection, run_id: int) -> tuple[LeanTables, float]:
    """``read_lean_tables`` and how long it took: the time kept in the head, measured the same
    way by the prefetch and by ``keep_for_next_run``, whose rule compares it with a run's."""
    began = time.perf_counter()
    tables = read_lean_tables(conn, run_id)
    return tables, time.perf_counter() - began


#: The id the next run gets (``LedgerWriter`` gives the runs' largest id plus one), read in the
#: tables' own read transaction: the tables leave out that run's rows.
NEXT_RUN_SQL = "SELECT coalesce(max(id), 0) + 1 FROM runs"


def connect_reader(ledger: Path) -> sqlite3.Connection:
    """A read-only connection to ``ledger``: ``mode=ro``, never immutable (an immutable
    connection would not see later commits)."""
    return sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, check_same_thread=False)


#: The share of a run's time that reading the tables for the next run may add to it...
KEEP_SHARE = 0.05
#: ... or, in any run, this many seconds (below a person's notice; about 15,000 tasks' tables).
KEEP_SECONDS = 0.1


def keep_for_next_run(ledger: Path, run_seconds: float) -> bool:
    """Read the tables the next run will read and keep them, unless the file already holds them
    or reading them would cost more than ``KEEP_SHARE`` of a run of ``run_seconds`` and more than
    ``KEEP_SECONDS``; True when they were read and kept.

    A run that changed rows (any build, any task run) leaves the file stale, so the next run
    would read the ledger while its flow waits: about 40 ms at 10,000 tasks, the difference
    between the first no-op after a build and the next. Read by the run that changed the rows,
    once it is recorded and under its lock, they are loaded by the next run instead. That read
    overlaps nothing, so it costs the run more (about 65 ms at 10,000 tasks, 1.3 s at 100,000)
    than the next run would have waited, and adds its memory to the run's: it is done only
    when it is small beside the run (a build, tasks that take time) or small in itself (up to
    about 15,000 tasks), judged by how long the last read took (kept in the file's head; with
    no earlier read, as in a project's first run, it reads). So the first no-op after a short
    run (one quick task rerun) loads the file in a project of 10,000 tasks; in one of 100,000,
    where the read takes 1.3 s, the next run reads, as before. A no-op, which changes none of
    these rows, finds the file current and reads nothing. Any failure only leaves the file as
    it was."""
    path = snapshot_path(ledger)
    try:
        conn = connect_reader(ledger)
    except sqlite3.Error:
        return False
    try:
        conn.execute("BEGIN")
        try:
            state = rows_state(conn)
            head = _head_of(path)  # read once: whether the file is current, and the last read's time
            if state is None or (head is not None and head.holds(state)):
                return False
            last = head.last_read_seconds() if head is not None else None
            if last is not None and last > max(KEEP_SHARE * run_seconds, KEEP_SECONDS):
                log.debug("the quick lane's tables not kept after a run of %.1f s: the last read took %.2f s, "
                          "the next run reads them", run_seconds, last)
                return False
            tables, read_seconds = _timed_read(conn, conn.execute(NEXT_RUN_SQL).fetchone()[0])
        finally:
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        log.debug("the quick lane's tables not kept after the run: %s", exc)
        return False
    finally:
        conn.close()
    save(path, state, tables, read_seconds)
    return True
