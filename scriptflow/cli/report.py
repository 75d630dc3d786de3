"""``scriptflow report PATH``: how a file was made, from the ledger.

Only click is imported here; the queries and the output libraries load when
the command runs, so a report answers in about the time Python takes to start.
"""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("report", short_help="Show how a file was made (its lineage).")
@click.argument("path")
@click.option("--depth", type=click.IntRange(min=1), metavar="N",
              help="Follow inputs back at most N tasks (1: the producing task and its inputs). "
                   "Default: to the sources.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the lineage as JSON (structure 'scriptflow-report/1', documented in docs/ledger.md).")
@click.option("--table", "as_table", is_flag=True, help="Print one row per task of the lineage.")
@click.option("--dot", "as_dot", is_flag=True, help="Print the lineage graph as Graphviz DOT (pipe to `dot -Tsvg`).")
@click.option("--run", "run", metavar="RUN",
              help="Lineage as of run RUN (an id, or a name: its most recent run): later runs are ignored.")
@file_option
@directory_option
def report_command(path: str, depth: int | None, as_json: bool, as_table: bool, as_dot: bool, run: str | None,
                   file: str | None, directory: str | None) -> int:
    """Show how PATH was made: the task that last produced it, recursively back to the source files.

    For each task: uid, run, attempt, the command exactly as run, working
    directory, executor and job id, host, start, end, duration and exit
    code; for each file: its recorded sha256 and size, and whether the file
    on disk today still matches (MODIFIED / DELETED since otherwise). Inputs
    that no task produced are shown as sources.

    PATH is relative to the current directory (to DIR with -C) or absolute.
    Reads .scriptflow/ledger.db only: sflow.py is not imported and nothing
    is written. Exit code 1 when no task produced PATH (the message says
    whether it is a source input of some tasks).
    """
    if sum((as_json, as_table, as_dot)) > 1:
        raise click.UsageError("choose one of --json, --table and --dot")
    from ..readers.report import report
    from ..readers import render as report_render

    lineage = report(path, file=file, directory=directory, run=run, depth=depth)
    if as_json:
        click.echo(report_render.render_json(lineage))
    elif as_dot:
        click.echo(report_render.render_dot(lineage))
    elif as_table:
        click.echo(report_render.render_table(lineage))
    else:
        report_render.render_tree(lineage)
    return 0
