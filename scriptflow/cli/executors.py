"""``scriptflow executors``: every executor this installation can run tasks on, with its settings."""
from __future__ import annotations

import json

import click


@click.command("executors", short_help="List executors and their settings.")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per executor with its settings.")
def executors_command(names: tuple[str, ...], as_json: bool) -> int:
    """List the executors tasks can use (executor="NAME"): built-in ones (local, slurm, sge, pbs,
    and dask, which needs `pip install 'scriptflow[dask]'`), and those installed
    packages provide through the `scriptflow.executors` entry-point group. For each: the
    settings it accepts under `executors.NAME` in the configuration, with their types,
    defaults, units and meaning, then the settings every executor has (container,
    container_runtime, container_args, container_pull: the image its tasks run in). Give
    NAMEs to show only those.

    An installed executor that cannot be loaded is listed with the reason.
    """
    from tabulate import tabulate

    from ..executors.catalog import catalog
    from ..executors.settings import common_settings

    docs = catalog(names)
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in docs], indent=2))
        return 0
    for i, doc in enumerate(docs):
        origin = doc.origin + (f", {doc.package}" if doc.package else "")
        click.echo(("\n" if i else "") + f"{doc.name} ({origin})" + (f": {doc.summary}" if doc.summary else ""))
        if doc.error:
            click.echo(f"  cannot be loaded: {doc.error}")
        elif not doc.settings:
            click.echo("  no settings")
        else:
            rows = [[s.name, s.type, s.default, s.unit or "", s.help] for s in doc.settings]
            table = tabulate(rows, headers=["setting", "type", "default", "unit", "meaning"], tablefmt="plain")
            click.echo("\n".join("  " + line for line in table.splitlines()))
    rows = [[s.name, s.type, s.default, s.unit or "", s.help] for s in common_settings()]
    table = tabulate(rows, headers=["setting", "type", "default", "unit", "meaning"], tablefmt="plain")
    click.echo("\nevery executor also takes (the container to run its tasks in; docs/containers.md):")
    click.echo("\n".join("  " + line for line in table.splitlines()))
    return 0
