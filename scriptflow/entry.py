"""The ``scriptflow`` command's entry point.

It imports nothing heavy itself, so that a Ctrl-C in the first milliseconds
(while click, rich and the commands load) ends the command like any other
interrupt, "scriptflow: interrupted" and exit code 130, instead of a
traceback. Only the interpreter's own start-up, before this module runs, is
out of its reach.
"""
from __future__ import annotations

import gc
import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        interrupted()
    try:
        cli_main()
    except KeyboardInterrupt:  # after the command's own handlers: while reporting or exiting
        interrupted()
    finally:
        # What the command leaves (a run's tasks, records and specs: millions of objects at
        # 100,000 tasks) is never scanned again: the interpreter's last garbage collection,
        # on exit, would otherwise walk all of it (1.5 s at 100,000 tasks).
        gc.freeze()


def interrupted() -> None:
    try:
        sys.stderr.write("scriptflow: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.exit(130)
