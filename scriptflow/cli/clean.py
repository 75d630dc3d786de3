"""``scriptflow clean``: remove the output files the ledger recorded."""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("clean", short_help="Remove recorded outputs that are unchanged.")
@click.argument("flow", required=False)
@click.option("--run", "run", metavar="RUN",
              help="Only the outputs recorded by run RUN (an id, or a name: its most recent run).")
@click.option("-n", "--dry-run", is_flag=True, help="Only list what would be removed.")
@file_option
@directory_option
def clean_command(flow: str | None, run: str | None, dry_run: bool, file: str | None, directory: str | None) -> int:
    """Remove output files recorded in the ledger (all of them, FLOW's, or one run's).

    A file is removed only if its content is still what the ledger last
    recorded for it: files edited by hand are kept, and so is anything
    outside the project folder or inside .scriptflow/. The ledger is not
    changed; the next run remakes the removed outputs. Waits for nothing:
    fails (exit code 3) while a run holds the project.
    """
    from ..readers.clean import REMOVED, WOULD_REMOVE, clean
    from ..run.lock import ProjectLock
    from ..readers.runs import find_project

    project = find_project(file, directory)
    lock = None
    if not dry_run and project.ledger_path.exists():
        lock = ProjectLock(project)
        lock.acquire(wait=False)
    try:
        result = clean(project, flow=flow, run=run, dry_run=dry_run)
    finally:
        if lock is not None:
            lock.release()
    width = max((len(what) for _, what, _ in result.items), default=0)
    for path, what, detail in result.items:
        click.echo(f"{what:<{width}}  {path}" + (f"  ({detail})" if detail else ""))
    done = result.count(WOULD_REMOVE if dry_run else REMOVED)
    kept = len(result.items) - done - result.count("already gone")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {done} file{'s' if done != 1 else ''}, kept {kept}, "
               f"{result.count('already gone')} already gone")
    return 0
