"""``scriptflow list``: the flows a flow file defines."""
from __future__ import annotations

import click

from .options import directory_option, file_option


@click.command("list", short_help="List the flows in sflow.py (or scriptflow.toml).")
@click.option("--params", "show_params", is_flag=True,
              help="Also show each flow's parameters, their types and defaults (given with "
                   "`scriptflow run FLOW --param NAME=VALUE`).")
@file_option
@directory_option
def list_command(show_params: bool, file: str | None, directory: str | None) -> int:
    """List the flows in sflow.py (flow_NAME functions, and functions marked
    @sf.flow) with their descriptions (the first line of their docstrings),
    or the flows of a scriptflow.toml / scriptflow.json ([[task]] tables are
    the flow `main`; [flow.NAME] tables, with their `description`).

    With --params, each flow is followed by one indented line per parameter:
    `NAME: TYPE = DEFAULT`, or `NAME: TYPE (required)`.
    """
    from .. import config
    from ..core.params import parameters
    from ..run import flowfile

    path = flowfile.locate(file, directory)
    config.reset_flow_config()
    found = flowfile.load_flows(path)
    if not found:
        click.echo(f"{path.name} defines no flows (functions named flow_NAME)")
        return 1
    width = max(len(name) for name in found)
    for name, flow in found.items():
        kind = "async " if flow.is_async else ""
        summary = f"  {flow.summary}" if flow.summary else ""
        click.echo(f"{name:<{width}}  {kind}{summary}".rstrip())
        if show_params:
            for param in parameters(flow.function):
                help_text = flow.param_help.get(param.name)
                click.echo(f"    {param.describe()}" + (" (required)" if param.required else "")
                           + (f"  {help_text}" if help_text else ""))
    return 0
