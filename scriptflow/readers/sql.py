"""``scriptflow sql``: one read-only query over the ledger, for people without a ``sqlite3`` tool.

The ledger is an interface people query (docs/ledger.md lists its tables and
views), but many clusters and every Windows machine lack the ``sqlite3``
command. This runs a query through Python's own SQLite instead, and never
writes, whatever the text says, by three locks of its own: the file is opened
``mode=ro`` (a live run is never blocked or altered), ``PRAGMA query_only``
is on, and an authorizer refuses every action that is not reading (so even a
write SQLite would allow on a read-only file, such as ``PRAGMA query_only =
0``, ``ATTACH`` or ``VACUUM INTO``, never runs). sqlite-utils' ``query``
adds a fourth: it only runs statements that return rows, and names duplicate
columns apart (``sha256``, ``sha256_2``), which ``--json`` needs.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScriptflowError
from ..ledger.store import open_for_reading

#: What reading needs: SELECT, reading a column, calling a function, a recursive CTE, and the
#: savepoint sqlite-utils wraps around a query so that nothing it runs can stay applied.
_READING = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                      sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_SAVEPOINT})
#: PRAGMAs that only describe the schema (also as ``pragma_table_info('runs')`` in a SELECT).
_DESCRIBING_PRAGMAS = frozenset({
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "database_list", "collation_list", "function_list", "module_list", "pragma_list",
    "compile_options",
})
#: PRAGMAs that are settings: read them (no value given), never set them.
_READABLE_SETTINGS = frozenset({
    "user_version", "schema_version", "application_id", "page_count", "page_size", "freelist_count",
    "journal_mode", "encoding", "foreign_keys", "query_only", "busy_timeout",
})
#: Action codes -> words for the refusal message.
_ACTION_WORDS = {
    getattr(sqlite3, name): name[len("SQLITE_"):].replace("_", " ")
    for name in ("SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_INDEX",
                 "SQLITE_CREATE_VIEW", "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_TEMP_TABLE",
                 "SQLITE_CREATE_TEMP_INDEX", "SQLITE_CREATE_TEMP_VIEW", "SQLITE_CREATE_TEMP_TRIGGER",
                 "SQLITE_CREATE_VTABLE", "SQLITE_DROP_TABLE", "SQLITE_DROP_INDEX", "SQLITE_DROP_VIEW",
                 "SQLITE_DROP_TRIGGER", "SQLITE_DROP_TEMP_TABLE", "SQLITE_DROP_TEMP_INDEX",
                 "SQLITE_DROP_TEMP_VIEW", "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_VTABLE",
                 "SQLITE_ALTER_TABLE", "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_PRAGMA", "SQLITE_REINDEX",
                 "SQLITE_ANALYZE", "SQLITE_TRANSACTION")
    if hasattr(sqlite3, name)
}


_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"})


class QueryError(ScriptflowError):
    """A query that is not valid SQL, names no such table, or would not only read."""


@dataclass
class QueryResult:
    """The rows of a query as dicts whose keys are its (de-duplicated) column names, in order."""

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


class _ReadOnly:
    """An SQLite authorizer allowing reading only; remembers the first refused action for the message."""

    def __init__(self) -> None:
        self._refused: list[tuple[str | None, str]] = []

    @property
    def refused(self) -> str | None:
        """The refused action to name: the statement's own (DROP VIEW x), not the schema-table
        bookkeeping SQLite checks first (DELETE sqlite_master)."""
        if not self._refused:
            return None
        own = [text for table, text in self._refused if table not in _SCHEMA_TABLES]
        return own[0] if own else f"changing the schema ({self._refused[0][1]})"

    def __call__(self, action: int, arg1: str | None, arg2: str | None, _db: str | None,
                 _trigger: str | None) -> int:
        if action in _READING:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _DESCRIBING_PRAGMAS or (name in _READABLE_SETTINGS and arg2 is None):
                return sqlite3.SQLITE_OK
        word = _ACTION_WORDS.get(action, f"action {action}")
        self._refused.append((arg1, word + (f" {arg1}" if arg1 else "")
                              + (f" = {arg2}" if action == sqlite3.SQLITE_PRAGMA and arg2 is not None else "")))
        return sqlite3.SQLITE_DENY


def query(ledger: Path, sql: str) -> QueryResult:
    """Run one read-only statement returning rows over the ledger at ``ledger``; QueryError otherwise."""
    from sqlite_utils import Database

    if not sql.strip():
        raise QueryError("no query given: scriptflow sql \"SELECT ...\" (see scriptflow sql --help)")
    conn = open_for_reading(ledger)  # mode=ro; LedgerError (one line, exit 2) when there is no ledger
    try:
        conn.row_factory = None
        conn.execute("PRAGMA query_only = ON")
        guard = _ReadOnly()
        conn.set_authorizer(guard)
        db = Database(conn, recursive_triggers=False, execute_plugins=False)
        try:
            rows = list(_rows(db, sql))
        except (sqlite3.Error, sqlite3.Warning) as exc:
            if guard.refused is not None:
                raise QueryError(f"scriptflow sql only reads the ledger: refused {guard.refused}") from None
            message = str(exc).rstrip(".")
            if "readonly" in message or "read-only" in message:
                raise QueryError(f"scriptflow sql only reads the ledger: {message}") from None
            raise QueryError(f"bad query: {message}") from None
        except ValueError:
            raise QueryError("scriptflow sql runs one statement that returns rows (SELECT, WITH ... SELECT, "
                             "or a PRAGMA that reads)" + (f"; refused {guard.refused}" if guard.refused else "")
                             ) from None
        return QueryResult(list(rows[0]) if rows else [], rows)
    finally:
        conn.close()


def _rows(db: Any, sql: str) -> Iterator[dict[str, Any]]:
    yield from db.query(sql)
