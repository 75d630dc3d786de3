"""Regenerate the settings tables of ``docs/executors.md`` from the settings dataclasses.

``python -m scriptflow.executors.doc docs/executors.md`` rewrites the part of
that file between the two marker lines below (the prose around it is written
by hand); without an argument it prints that part. Only built-in executors
are documented there: installed ones show in ``scriptflow executors``. A
test fails when the file is out of date.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from .catalog import catalog, common_markdown, markdown

BEGIN = "<!-- BEGIN GENERATED: python -m scriptflow.executors.doc docs/executors.md -->"
END = "<!-- END GENERATED -->"


def generated() -> str:
    """The text between the markers: every built-in executor and its settings, then the settings
    every executor has."""
    return markdown(catalog(builtin_only=True)) + "\n" + common_markdown()


def update(text: str) -> str:
    """``text`` with the part between the markers replaced by ``generated()`` (ValueError if the
    markers are missing)."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the markers {BEGIN!r} and {END!r} are missing")
    return f"{head}{BEGIN}\n\n{generated()}\n{END}{tail}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stdout.write(generated() + "\n")
        return 0
    path = Path(args[0])
    try:
        path.write_text(update(path.read_text(encoding="utf-8")), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
