"""``scriptflow doctor``: the full health check of a ledger, read-only.

Damage (exit 1): a bad header, ``PRAGMA integrity_check`` findings, missing
tables, rows whose parent row is missing. Notes (still healthy): runs left
``running`` by a process that is gone, rows of ended runs still marked
running, an older schema. Reading never writes, so it is safe while a run
is live; ``integrity_check`` reads every page (about 20 s on a 400 MB ledger).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from ..ledger.health import Findings, header_problem, schema_problem
from ..ledger.store import connect_read_only, latest_version
from .runs import live_status

#: How many integrity_check messages are shown.
MAX_MESSAGES = 20


def diagnose(ledger: Path) -> Findings:
    found = Findings()
    if not ledger.exists():
        found.notes.append(f"no ledger at {ledger} yet: nothing to check")
        return found
    problem = header_problem(ledger)
    if problem is not None:
        found.damage.append(problem)
        return found
    try:
        conn = connect_read_only(ledger)
    except sqlite3.Error as exc:
        found.damage.append(f"cannot open it: {exc}")
        return found
    try:
        _check(conn, found)
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        found.damage.append(f"reading it failed: {' '.join(str(exc).split())}")
    finally:
        conn.close()
    return found


def _check(conn: sqlite3.Connection, found: Findings) -> None:
    messages = [row[0] for row in conn.execute(f"PRAGMA integrity_check({MAX_MESSAGES})")]
    if messages != ["ok"]:
        found.damage.extend(f"integrity_check: {m}" for m in messages)
        return  # the other checks would only read the damage again
    problem = schema_problem(conn)
    if problem is not None:
        found.damage.append(problem)
        return
    version, latest = conn.execute("PRAGMA user_version").fetchone()[0], latest_version()
    if version > latest:
        found.notes.append(f"schema version {version} is newer than this scriptflow knows ({latest}): "
                           f"only its structure was checked")
        return
    if version < latest:
        found.notes.append(f"schema version {version}: the next run migrates it to {latest}")
    orphans: dict[str, int] = {}
    for table, _rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
        key = f"{table} -> {parent}"
        orphans[key] = orphans.get(key, 0) + 1
    for key, count in orphans.items():
        found.damage.append(f"{count} row(s) of {key.split(' ')[0]} point to a missing row of {key.split(' ')[-1]}")
    conn.row_factory = sqlite3.Row
    for run in conn.execute("SELECT * FROM runs WHERE status = 'running'").fetchall():
        if live_status(run) == "lost":
            found.notes.append(f"run {run['id']} (pid {run['pid']} on {run['host']}) was left running by a process "
                               f"that is gone: the next run or resume marks it lost")
    for table in ("tasks", "attempts"):
        stale = conn.execute(
            f"SELECT count(*) FROM {table} x JOIN runs r ON r.id = x.run_id "
            f"WHERE r.status NOT IN ('running') AND x.status IN ('running', 'queued', 'waiting', 'deciding')"
        ).fetchone()[0]
        if stale:
            found.notes.append(f"{stale} row(s) of {table} in ended runs are still marked running or waiting")
