"""``scriptflow doctor``: check the ledger in full; ``--repair`` salvages a damaged one."""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("doctor", short_help="Check the ledger for damage; --repair salvages it.")
@click.option("--repair", is_flag=True,
              help="Salvage a damaged ledger: copy every readable row into a new ledger and keep the damaged "
                   "file as ledger.db.damaged-<time>. Takes the project lock (fails if a run is live).")
@file_option
@directory_option
def doctor_command(repair: bool, file: str | None, directory: str | None) -> int:
    """Check .scriptflow/ledger.db: SQLite's full integrity check, the schema
    version, rows pointing to missing rows, runs left running by a process
    that is gone. Prints what it finds. Exit code 0 when the ledger is
    healthy, 1 when it is damaged. Read-only, safe while a run is live; it
    reads the whole file (about 20 s for 400 MB).

    With --repair (only when damaged): a new ledger is made with
    scriptflow's schema and every readable row of runs, tasks, attempts,
    files, events and reuses is copied into it, table by table and row by row; rows
    on damaged pages, and rows whose run or task was lost, are left out. The
    stat cache is not copied (files are hashed again on the next run). The
    damaged file is kept beside it as ledger.db.damaged-<UTC time>, and the
    number of rows saved and lost per table is printed. Exit code 0 when the
    repair is done, 3 if a run holds the project.
    """
    from ..readers.doctor import diagnose
    from ..readers.runs import find_project

    project = find_project(file, directory)
    ledger = project.ledger_path
    found = diagnose(ledger)
    click.echo(f"ledger: {ledger}")
    for line in found.damage:
        click.echo(f"  damaged: {line}")
    for line in found.notes:
        click.echo(f"  note: {line}")
    if found.healthy:
        click.echo("healthy" + (": nothing to repair" if repair else ""))
        return 0
    if not repair:
        click.echo("damaged: run `scriptflow doctor --repair` to salvage what is readable")
        return 1
    return _repair(project)


def _repair(project) -> int:
    from tabulate import tabulate

    from ..ledger.salvage import salvage
    from ..run.lock import ProjectLock

    lock = ProjectLock(project)
    lock.acquire(wait=False)
    try:
        report = salvage(project.ledger_path)
    finally:
        lock.release()
    if report.error:
        click.echo(f"nothing could be read: {report.error}")
    rows = [(t.name, t.saved if not t.note else "", t.lost if not t.note else "", t.note or
             ", ".join(f"{n} {what}" for n, what in ((t.unreadable, "unreadable"), (t.rejected, "rejected"),
                                                     (t.orphaned, "without their parent row")) if n))
            for t in report.tables]
    click.echo(tabulate(rows, headers=["table", "saved", "lost", ""]))
    click.echo(f"repaired: {report.ledger} is a new ledger; the damaged file is kept as {report.kept_as}")
    return 0
