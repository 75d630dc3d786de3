"""Telling SQLite's errors apart: a bad statement, a ledger that cannot be written, a damaged file.

A failing statement is one operation's problem; a full disk, an I/O error,
a read-only file or a damaged database is the whole ledger's, and the run
must stop instead of carrying on without a record. Python 3.11 gives the
SQLite error code; older versions only the message, so both are read.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

# SQLite's primary result codes (sqlite3.h).
_PERM, _BUSY, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 8, 10, 11, 13, 14, 26
_DAMAGE_CODES = {_CORRUPT, _NOTADB}
_CANNOT_WRITE_CODES = {_PERM, _READONLY, _IOERR, _FULL, _CANTOPEN} | _DAMAGE_CODES
_DAMAGE_WORDS = ("malformed", "not a database", "corrupt")
#: Before Python 3.11 only the message tells: SQLite's texts for the codes above (sqlite3_errstr;
#: ``access permission denied`` is SQLITE_PERM's).
_CANNOT_WRITE_WORDS = ("disk is full", "disk i/o error", "readonly", "read-only", "unable to open",
                       "access permission denied", "authorization denied") + _DAMAGE_WORDS


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_damage(exc: BaseException) -> bool:
    """The database file is damaged (``database disk image is malformed``, ``file is not a database``).

    Text that is not UTF-8 can only come from damage too (scriptflow writes
    only ``str``): SQLite hands it over and Python's decoding fails.
    """
    if isinstance(exc, UnicodeDecodeError):
        return True
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _code(exc)
    if code is not None:
        return code in _DAMAGE_CODES
    return any(word in str(exc).lower() for word in _DAMAGE_WORDS)


def cannot_write(exc: BaseException) -> bool:
    """The ledger as a whole cannot be written (full disk, I/O error, read-only, damaged)."""
    if isinstance(exc, UnicodeDecodeError):
        return True
    if not isinstance(exc, sqlite3.Error):
        return False
    code = _code(exc)
    if code is not None:
        return code in _CANNOT_WRITE_CODES
    return any(word in str(exc).lower() for word in _CANNOT_WRITE_WORDS)


def damaged_message(path: Path | str, exc: BaseException | str, note: str = "") -> str:
    """The one line every command prints for a damaged ledger (``note``: e.g. that nothing was written)."""
    what = " ".join(str(exc).replace("*** in database main ***", "").split())
    return (f"the ledger {path} is damaged ({what}){note}: "
            f"run `scriptflow doctor --repair` to salvage what is readable")


_last_ledger: list[str] = []


def remember_ledger(path: Path | str) -> None:
    """Note the ledger this process opened, so a late SQLite error can name it."""
    _last_ledger[:] = [str(path)]


def last_ledger() -> str:
    return _last_ledger[0] if _last_ledger else ".scriptflow/ledger.db"


def sqlite_error_message(exc: BaseException) -> str:
    """The one line for an SQLite error that reached the command line."""
    path = last_ledger()
    if is_damage(exc):
        return damaged_message(path, exc)
    return f"cannot use the ledger {path}: {exc}"
