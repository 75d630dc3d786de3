"""Options shared by several commands."""
from __future__ import annotations

import click

file_option = click.option(
    "--file", "file", metavar="FILE",
    help="Flow file to use: a Python file, or a .toml/.json file listing tasks (relative to -C if given; "
         "default: the one of sflow.py, scriptflow.toml with [[task]] tables, scriptflow.json).",
)
directory_option = click.option(
    "-C", "--directory", "directory", metavar="DIR",
    help="Project folder: run as if started in DIR.",
)
