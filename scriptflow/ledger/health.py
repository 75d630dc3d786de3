"""Is the ledger file sound? A cheap check before every run, a full one for ``scriptflow doctor``.

A run must not write into a damaged ledger: SQLite would carry on around a
damaged page and the run could record results next to rows it cannot read.
The check before a run reads the file header, the whole schema (page 1 and
the schema pages) and the schema version, then runs ``PRAGMA quick_check``
when the file is small enough for it to be quick (``QUICK_CHECK_MAX_BYTES``:
it reads every page, 2-3 s on a 400 MB ledger against 7 ms for the header
and schema; see docs/ledger.md). Damage in a larger
file that the cheap check cannot see is still caught when it is met: every
SQLite "malformed" error becomes the same one-line message and the run
fails without recording success. ``scriptflow doctor`` runs the full
``PRAGMA integrity_check`` on demand.
"""
from __future__ import annotations

import sqlite3
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import LedgerError
from .sqlerrors import damaged_message, is_damage
from .store import latest_version

#: Ledgers up to this size get ``PRAGMA quick_check`` before each run (it reads every page).
QUICK_CHECK_MAX_BYTES = 32 * 1024 * 1024
MAGIC = b"SQLite format 3\x00"
TABLES = ("runs", "tasks", "attempts", "files", "stat_cache", "events", "schema_migrations")
#: Tables a later migration added: required from that schema version on.
TABLES_SINCE = {"reuses": 5}


class LedgerDamaged(LedgerError):
    """The ledger file is damaged; ``scriptflow doctor --repair`` salvages it."""


def header_problem(path: Path) -> Optional[str]:
    """What is wrong with the 100-byte SQLite header, if anything (None for a sound or empty file)."""
    with open(path, "rb") as fh:
        head = fh.read(100)
        size = fh.seek(0, 2)
    if not head:
        return None
    if len(head) < 100 or head[:16] != MAGIC:
        return "file is not a database (bad header)"
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"bad page size {page_size} in the header"
    if head[21:24] != b"\x40\x20\x20":
        return "bad payload fractions in the header"
    if size % page_size:
        return f"file size {size} is not a whole number of {page_size}-byte pages"
    return None


def read_only_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def schema_problem(conn: sqlite3.Connection) -> Optional[str]:
    """Missing tables or an unknown schema version (reads the whole schema: page 1 and its pages)."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0 and not names:
        return None  # a new, empty ledger
    missing = [t for t in TABLES if t not in names]
    missing += [t for t, since in TABLES_SINCE.items() if since <= version <= latest_version() and t not in names]
    if missing:
        return f"table {missing[0]} is missing"
    if version < 1:
        return f"schema version {version} with scriptflow's tables present"
    if version > latest_version():
        return None  # a newer scriptflow's ledger: refused later with its own message
    return None


def check_before_run(path: Path) -> None:
    """Raise ``LedgerDamaged`` (one line naming the file and the repair) if the ledger is damaged."""
    if not path.exists():
        return
    try:
        problem = header_problem(path)
        if problem is None:
            conn = read_only_connection(path)
            try:
                problem = schema_problem(conn)
                if problem is None and path.stat().st_size <= QUICK_CHECK_MAX_BYTES:
                    result = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                    problem = None if result == "ok" else result
            finally:
                conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        if not is_damage(exc):
            return  # a full disk or a read-only folder is not damage: opening it to write says what it is
        problem = str(exc)
    except OSError:
        return  # unreadable for other reasons (permissions): opening it reports that
    if problem is not None:
        raise LedgerDamaged(damaged_message(path, problem, "; nothing was written to it"))


class StartedCheck:
    """``check_before_run`` begun on a thread of its own when a run starts, its verdict given
    where the run used to check.

    A no-op of 10,000 tasks has a ledger of 15-30 MB, whose ``PRAGMA quick_check`` takes 30-55 ms:
    a tenth of the whole run, spent before the flow could start. SQLite lets go of the GIL
    for the whole check (one statement, no rows), so it runs on the other core while the command
    imports the runner (``run/earlycheck.py``). The verdict is the same and is
    given at the same point, before anything is written: ``verdict`` waits for the thread and
    raises what the check found. A run that had to wait for the lock checks again (the verdict
    is then as old as the wait, and another run wrote meanwhile)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._problem: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._check, name="sf-ledger-check", daemon=True)
        self._thread.start()

    def _check(self) -> None:
        try:
            check_before_run(self.path)
        except BaseException as exc:  # noqa: BLE001 - given back by ``verdict`` on the run's thread
            self._problem = exc

    def verdict(self, again: bool = False) -> None:
        """Raise what the check found (``LedgerDamaged``); with ``again``, check once more first."""
        self._thread.join()
        if again:
            check_before_run(self.path)
        elif self._problem is not None:
            problem, self._problem = self._problem, None
            raise problem

    def close(self) -> None:
        """Wait for the check (a run that ended before asking holds no connection after this)."""
        self._thread.join()


@dataclass
class Findings:
    """What ``scriptflow doctor`` found: damage (exit 1) and notes (still healthy)."""

    damage: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.damage
