"""``scriptflow sql "SELECT ..."``: query the ledger read-only, as a table, JSON or CSV.

Only click is imported here; SQLite, sqlite-utils and tabulate load when the
command runs.
"""
from __future__ import annotations

import base64
import sys
from typing import Any

import click

from .options import directory_option, file_option

EXAMPLES = """\b
Examples (the views are documented in docs/ledger.md):
  scriptflow sql "SELECT * FROM run_summary ORDER BY run_id DESC LIMIT 5"
  scriptflow sql "SELECT uid, attempt, duration_seconds FROM slowest_tasks LIMIT 10"
  scriptflow sql "SELECT run_id, uid, exit_code, stderr_path FROM failures" --json
  scriptflow sql "SELECT uid, run_id, command FROM latest_producers WHERE path = 'final.txt'"
  scriptflow sql "SELECT path, sha256, run_id FROM file_history WHERE path = 'out.csv'" --csv
  scriptflow sql "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
"""


@click.command("sql", short_help="Query the ledger (read-only): table, --json or --csv.", epilog=EXAMPLES)
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one object per row.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header line.")
@file_option
@directory_option
def sql_command(query: str, as_json: bool, as_csv: bool, file: str | None, directory: str | None) -> int:
    """Run QUERY, one SQL statement, over .scriptflow/ledger.db and print its rows.

    The ledger is opened read-only, so this works while a run is live and
    never changes it: a statement that would write (INSERT, UPDATE, DELETE,
    CREATE, DROP, ATTACH, setting a PRAGMA...) is refused. It needs no
    sqlite3 tool (the same as `sqlite3 .scriptflow/ledger.db "QUERY"`). A
    table by default; a query returning no rows prints nothing ([] with
    --json). Bad SQL, a refused statement or a missing ledger: one line on
    stderr and exit code 2.
    """
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    from ..readers.runs import find_project
    from ..readers.sql import query as run_query

    result = run_query(find_project(file, directory).ledger_path, query)
    if as_json:
        import json

        click.echo(json.dumps([{k: _json_value(v) for k, v in row.items()} for row in result.rows], indent=2))
    elif as_csv:
        import csv

        if result.rows:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(result.columns)
            writer.writerows([_text(row[c]) for c in result.columns] for row in result.rows)
    elif result.rows:
        from tabulate import tabulate

        click.echo(tabulate([[_text(row[c]) for c in result.columns] for row in result.rows],
                            headers=result.columns, disable_numparse=True))
    return 0


def _text(value: Any) -> Any:
    """A cell as shown in a table or CSV: NULL empty (as sqlite3 prints it), a BLOB as an x'..' literal."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return "x'" + value.hex() + "'"
    return value


def _json_value(value: Any) -> Any:
    """A BLOB as sqlite-utils writes one in JSON: {"$base64": true, "encoded": ...}."""
    if isinstance(value, bytes):
        return {"$base64": True, "encoded": base64.b64encode(value).decode("ascii")}
    return value
