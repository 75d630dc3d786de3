"""Options shared by several commands."""
from __future__ import annotations

import click

file_option = click.option(
    "--file", "file", metavar="FILE",
    help="Flow file to use instead of sflow.py (relative to -C if given).",
)
directory_option = click.option(
    "-C", "--directory", "directory", metavar="DIR",
    help="Project folder: run as if started in DIR.",
)
