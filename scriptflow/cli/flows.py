"""``scriptflow list``: the flows a flow file defines."""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("list", short_help="List the flows in sflow.py.")
@file_option
@directory_option
def list_command(file: str | None, directory: str | None) -> int:
    """List the flows (flow_NAME functions) in sflow.py, with the first line of their docstrings."""
    from .. import config
    from ..run import flowfile

    path = flowfile.locate(file, directory)
    config.reset_flow_config()
    module = flowfile.load(path)
    found = flowfile.flows(module)
    if not found:
        click.echo(f"{path.name} defines no flows (functions named flow_NAME)")
        return 1
    width = max(len(name) for name in found)
    for name, flow in found.items():
        kind = "async " if flow.is_async else ""
        summary = f"  {flow.summary}" if flow.summary else ""
        click.echo(f"{name:<{width}}  {kind}{summary}".rstrip())
    return 0
