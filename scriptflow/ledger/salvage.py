"""``scriptflow doctor --repair``: copy what is readable from a damaged ledger into a new one.

Pure Python (many clusters have no ``sqlite3`` program): a fresh ledger is
made with scriptflow's own migrations, then each table is copied row by
row, by ranges of rowids so that one unreadable page costs only the rows on
it (a range that fails is retried one rowid at a time). Rows whose parent
row was lost (a task without its run) are dropped too, so the new ledger
passes ``PRAGMA foreign_key_check``. The stat cache is not copied: it is a
cache, and a damaged hash in it could make a changed file look unchanged;
files are simply hashed again. The damaged file is kept beside the new one
as ``ledger.db.damaged-<UTC time>`` (with its ``-wal``/``-shm``).
Runs only under the project lock, so no run writes meanwhile.
"""
from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from .store import open_for_writing

#: Copied in this order (parents first); ``schema_migrations`` belongs to the new file.
TABLES = ("runs", "tasks", "attempts", "files", "events", "reuses")
#: Tables WITHOUT ROWID: copied by ranges of this key column instead of rowids.
KEYED = {"reuses": "run_id"}
NOT_COPIED = {"stat_cache": "not copied: a cache, rebuilt as files are hashed again"}
CHUNK = 500
#: With no readable max(rowid), stop probing after this many empty ranges in a row.
EMPTY_RANGES_TO_STOP = 20
_READ_ERRORS = (sqlite3.Error, UnicodeDecodeError, ValueError, OverflowError)


@dataclass
class TableResult:
    name: str
    saved: int = 0
    unreadable: int = 0  # rowids that could not be read (an upper bound: some may never have held a row)
    rejected: int = 0  # rows read but refused by the schema (a damaged value)
    orphaned: int = 0  # rows dropped because their parent row was lost
    note: str = ""

    @property
    def lost(self) -> int:
        return self.unreadable + self.rejected + self.orphaned


@dataclass
class SalvageReport:
    ledger: Path
    kept_as: Path
    tables: list[TableResult] = field(default_factory=list)
    error: Optional[str] = None  # why nothing at all could be read, if so


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _present(src: sqlite3.Connection, table: str) -> bool:
    """False when the damaged ledger is of a schema before ``table`` existed (unreadable: assume it is there)."""
    try:
        return bool(_columns(src, table))
    except _READ_ERRORS:
        return True


def _bound(src: sqlite3.Connection, table: str, fn: str) -> Optional[int]:
    try:
        value = src.execute(f"SELECT {fn}({KEYED.get(table, 'rowid')}) FROM {table}").fetchone()[0]
        return int(value) if value is not None else 0
    except _READ_ERRORS:
        return None


def _read_rows(src: sqlite3.Connection, table: str, cols: list[str], result: TableResult) -> Iterator[tuple[Any, ...]]:
    """Every readable row of ``table``, by rowid ranges; counts rowids that fail on their own
    (for a table in ``KEYED``: ranges of its key, and key values that fail count once)."""
    select = f"SELECT {', '.join(cols)} FROM {table} WHERE {KEYED.get(table, 'rowid')} BETWEEN ? AND ?"
    low, high = _bound(src, table, "min"), _bound(src, table, "max")
    if low is None:
        low = 1
    lo, empty_run = min(low, 1), 0
    while True:
        if high is not None and lo > high:
            return
        if high is None and empty_run >= EMPTY_RANGES_TO_STOP:
            return
        hi = lo + CHUNK - 1
        try:
            rows = src.execute(select, (lo, hi)).fetchall()
        except _READ_ERRORS:
            rows = []
            for rowid in range(lo, hi + 1):
                try:
                    rows.extend(src.execute(select, (rowid, rowid)).fetchall())
                except _READ_ERRORS:
                    result.unreadable += 1
        empty_run = 0 if rows else empty_run + 1
        yield from rows
        lo = hi + 1


def _drop_orphans(dst: sqlite3.Connection, results: dict[str, TableResult]) -> None:
    """Delete rows whose parent was lost, until ``foreign_key_check`` finds none (a lost run takes its tasks...)."""
    while True:
        orphans = dst.execute("PRAGMA foreign_key_check").fetchall()
        if not orphans:
            return
        deletes = [(table, dst.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,)).rowcount)
                   for table, rowid, _parent, _fk in orphans if table not in KEYED]
        if any(table in KEYED for table, *_ in orphans):  # no rowid to name a row: one pass drops
            deletes.append(("reuses", dst.execute(  # every reuse whose run or task is gone
                "DELETE FROM reuses WHERE run_id NOT IN (SELECT id FROM runs) "
                "OR task_id NOT IN (SELECT id FROM tasks)").rowcount))
        for table, count in deletes:
            if table in results:
                results[table].orphaned += count
                results[table].saved -= count


def salvage(ledger: Path, stamp: Optional[str] = None) -> SalvageReport:
    """Replace ``ledger`` by a new ledger holding every row that can be read from it."""
    stamp = stamp or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = ledger.with_name(f"{ledger.name}.damaged-{stamp}")
    fresh = ledger.with_name(f"{ledger.name}.salvage-{stamp}")
    for leftover in (fresh, Path(f"{fresh}-wal"), Path(f"{fresh}-shm")):
        if leftover.exists():
            leftover.unlink()
    report = SalvageReport(ledger, kept)
    dst = open_for_writing(fresh)
    try:
        dst.execute("PRAGMA foreign_keys = OFF")
        src = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
        try:
            try:
                src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except _READ_ERRORS as exc:
                report.error = f"{exc}"
            results = {}
            for table in TABLES:
                result = TableResult(table)
                results[table] = result
                report.tables.append(result)
                if report.error is not None:
                    continue
                if table in KEYED and not _present(src, table):
                    result.note = "not in the damaged ledger (an older schema)"
                    continue
                cols = _columns(dst, table)
                try:
                    cols = [c for c in cols if c in set(_columns(src, table))] or cols
                except _READ_ERRORS:
                    pass
                insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                dst.execute("BEGIN")
                for row in _read_rows(src, table, cols, result):
                    try:
                        dst.execute(insert, row)
                        result.saved += 1
                    except sqlite3.Error:
                        result.rejected += 1
                dst.execute("COMMIT")
            dst.execute("BEGIN")
            _drop_orphans(dst, results)
            dst.execute("COMMIT")
            for name, note in NOT_COPIED.items():
                report.tables.append(TableResult(name, note=note))
        finally:
            src.close()
        dst.execute("PRAGMA foreign_keys = ON")
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file to move into place
    finally:
        dst.close()
    for suffix in ("", "-wal", "-shm"):
        old = Path(f"{ledger}{suffix}")
        if old.exists():
            os.replace(old, Path(f"{kept}{suffix}"))
    os.replace(fresh, ledger)
    return report
