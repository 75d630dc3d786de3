"""The quick lane's tables kept in a file, used instead of reading them again while they are unchanged.

A run's first task waits for the quick lane's tables (``history.read_lean_tables``):
at 100,000 tasks, about 1 s of SQLite and of Python building 300,000 rows,
every run, although a no-op after a no-op reads exactly what the last run
read. ``marshal`` loads the same objects ten times faster. So the prefetch
(``prefetch.py``), when it had to read the tables, also writes them to
``.scriptflow/quicklane.snapshot``, and a later run loads that file instead
of reading, but only when it is what reading would give:

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
from typing import Any, Iterator, Optional

from ..ledger.store import SETTLED_SQL
from ..version import __version__
from . import history
from .history import LeanTables, read_lean_tables

log = logging.getLogger("scriptflow.snapshot")

FILE_NAME = "quicklane.snapshot"
_MAGIC = b"SFQL2\n"
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


def load(path: Path, state: tuple[Any, ...]) -> Optional[LeanTables]:
    """The tables kept at ``path`` if they were read at ``state`` by this code; else None (the
    tables themselves are read only then)."""
    try:
        with open(path, "rb") as f:
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
                key, kept_state = marshal.loads(head)
            except (ValueError, EOFError, TypeError):
                return None
            if key != KEY or kept_state != state:
                return None
            payload = f.read(length)
    except OSError:
        return None
    if len(payload) != length or zlib.crc32(payload) != crc:
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


def save(path: Path, state: tuple[Any, ...], tables: LeanTables) -> None:
    """Keep ``tables``, read at ``state``; a failure only costs the next run its read."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        head, payload = marshal.dumps((KEY, state)), marshal.dumps(tables)
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
    tables = read_lean_tables(conn, run_id)
    if state is not None:
        save(path, state, tables)
    return tables
