"""``scriptflow why TARGET``: why a task ran or was skipped, from the ledger alone."""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("why", short_help="Explain why a task or file ran or was skipped.")
@click.argument("target")
@file_option
@directory_option
def why_command(target: str, file: str | None, directory: str | None) -> int:
    """Explain the last decision for TARGET, a task uid or a file path.

    Shows whether the task ran or was skipped and the evidence: which input
    changed (old and new sha256), the old and new command, an output missing
    or modified. Reads the ledger only; the flow is not run. A relative path
    is taken from the current directory (from DIR with -C).
    """
    from ..readers.runs import connect, find_project
    from ..readers.why import explain

    project = find_project(file, directory)
    for line in explain(connect(project), project, target, directory):
        click.echo(line)
    return 0
