"""The ledger's check before a run, begun as ``scriptflow run`` starts, before the runner is imported.

``PRAGMA quick_check`` reads every page of the ledger (30-55 ms for the 15-30
MB ledger of a 10,000-task project), and SQLite lets go of the GIL for all
of it, so it can run on the other core while the command imports the
runner, the engine and the executors (about 40 ms). Only the ledger's path
is needed, and it follows from ``--file`` and ``-C`` alone: the project is
the flow file's folder, and without ``--file`` the flow file is looked for
in ``-C`` or the current folder. The runner still finds the flow file
itself; a check begun for another ledger than the one it finds (a flow file
that does not exist: the runner then reports that) is not used.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..ledger.health import StartedCheck
from ..project import Project


def begin_ledger_check(file: Optional[str], directory: Optional[str]) -> Optional[StartedCheck]:
    """The check of the ledger a run with these ``--file`` and ``-C`` options would use, begun;
    None when there is no ledger there (yet)."""
    base = Path(directory) if directory else Path.cwd()
    folder = Path(os.path.abspath(base / file)).parent if file else Path(os.path.abspath(base))
    ledger = Project(folder).ledger_path
    return StartedCheck(ledger) if ledger.is_file() else None
