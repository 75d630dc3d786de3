"""``scriptflow bundle``: this scriptflow and its requirements as one file, for machines without pip."""
from __future__ import annotations

from pathlib import Path

import click


@click.command("bundle", short_help="Write scriptflow.pyz: scriptflow in one file, for machines without pip.")
@click.argument("out", default="scriptflow.pyz", type=click.Path(path_type=Path))
@click.option("--python", "interpreter", default="/usr/bin/env python3", show_default=True,
              help="The interpreter of the archive's #! line (used when it is run as ./scriptflow.pyz).")
def bundle_command(out: Path, interpreter: str) -> int:
    """Write OUT (default scriptflow.pyz): this scriptflow and every
    package it needs at run time (click, rich, sqlite-utils, ... as installed
    next to it) in one executable zip file. Copy it to a machine that has a
    Python but no pip access, such as a cluster's login node, and run it
    there with that Python, in place of the `scriptflow` command:

        python3 scriptflow.pyz run NAME

    Built from the installed packages: no network, no pip. Only pure-Python
    packages fit in a zip; the build stops naming a package with compiled
    code. The optional extras (dask) are not included. Tasks the archive
    runs find scriptflow too (it puts itself first on PYTHONPATH), so
    `sf.call` and `import sflow` work in tasks. `python3 scriptflow.pyz
    --version` lists the bundled versions. The archive needs a Python at
    least as new as the one that built it when a requirement depends on
    the Python version (tomli before 3.11): build with the oldest Python you
    will run it on.
    """
    from ..bundle.archive import build

    built = build(out, interpreter)
    contents = built.contents
    names = ", ".join(f"{d.name} {d.version}" for d in contents.distributions)
    click.echo(f"wrote {out} ({built.size / 1e6:.1f} MB): {names}")
    for name, why in sorted(contents.left_out.items()):
        click.echo(f"  not bundled: {name} ({why})")
    click.echo(f"needs Python {contents.needs_python} or newer; run it with: python3 {out} --help")
    return 0
