"""Are a task's declared outputs there? The one check the engine and the executors share.

A task succeeds only if its command exited 0 *and* every declared output
exists. The engine asks this when an attempt ends (to decide success, and
early, to stop the run before a freed slot starts queued work); cluster
executors ask it while they wait for outputs a job wrote on another node.
One function, so these answers cannot differ.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def missing_outputs(paths: Iterable[os.PathLike[str] | str]) -> list[Path]:
    """The declared outputs (absolute paths) that do not exist, in their declared order.

    A path not seen at first is looked for again after listing its folder: on
    NFS a file another host has just written can stay invisible until the
    client drops its cached attributes of the folder. Costs one ``stat`` per
    output when all are there.
    """
    missing = [Path(p) for p in paths if not os.path.exists(p)]
    if missing:
        for folder in {p.parent for p in missing}:
            refresh_dir(folder)
        missing = [p for p in missing if not os.path.exists(p)]
    return missing


def refresh_dir(path: os.PathLike[str] | str) -> None:
    """List a folder so that an NFS client drops its cached attributes and sees new files."""
    try:
        os.listdir(path)
    except OSError:
        pass
