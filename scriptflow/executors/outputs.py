"""Are a task's declared outputs there? The one check the engine and the executors share.

A task succeeds only if its command exited 0 *and* every declared output
exists. The engine asks this when an attempt ends (to decide success, and
early, to stop the run before a freed slot starts queued work); cluster
executors ask it while they wait for outputs a job wrote on another node.
One function, so these answers cannot differ.

An output declared by pattern (``outputs=sf.glob("results/part-*.csv")``)
is an ``OutputPattern``: it exists when at least one regular file matches it.
"""
from __future__ import annotations

import glob as globmodule
import os
from collections.abc import Iterable
from pathlib import Path

#: scriptflow's state folder (``project.STATE_FOLDER``): nothing in it matches an output pattern.
_STATE = ".scriptflow"


class OutputPattern(str):
    """An absolute, normalised glob pattern among a task's outputs (``**`` recurses).

    A ``str`` subclass, so that it travels wherever output paths go (a task's spec, a
    dependant's inputs, an attempt) and each place that must tell it from a file can.
    """

    def folder(self) -> str:
        """The deepest folder of the pattern without a wildcard: everything it matches lies in it."""
        parts = self.split(os.sep)
        fixed = []
        for part in parts[:-1]:
            if globmodule.has_magic(part):
                break
            fixed.append(part)
        return os.sep.join(fixed) or os.sep

    def matches(self) -> list[str]:
        """The regular files (or symlinks to one) matching the pattern now, absolute and sorted;
        nothing under a ``.scriptflow`` folder matches."""
        folder = self.folder()
        return matching_files(str(self), folder, folder)


def matching_files(pattern: str, root: str, below: str) -> list[str]:
    """The regular files (or symlinks to one) matching ``pattern`` (relative to ``root`` when
    relative; ``**`` recurses), normalised and sorted; none with a ``.scriptflow`` folder in its
    path below ``below``. Shared by glob inputs (``core/paths.py``) and output patterns."""
    found = set()
    for match in globmodule.glob(pattern, root_dir=root, recursive=True):
        path = os.path.join(root, match)
        if _STATE in os.path.relpath(path, below).split(os.sep):
            continue
        if os.path.isfile(path):
            found.add(os.path.normpath(match))
    return sorted(found)


def missing_outputs(paths: Iterable[os.PathLike[str] | str]) -> list[Path]:
    """The declared outputs (absolute paths) that do not exist, in their declared order.

    A path not seen at first is looked for again after listing its folder: on
    NFS a file another host has just written can stay invisible until the
    client drops its cached attributes of the folder. Costs one ``stat`` per
    output when all are there (a pattern: one ``glob``).
    """
    paths = list(paths)
    missing = [p for p in paths if not _exists(p)]
    if missing:
        for folder in {_folder_of(p) for p in missing}:
            refresh_dir(folder)
        missing = [p for p in missing if not _exists(p)]
    return [Path(p) for p in missing]


def _exists(path: os.PathLike[str] | str) -> bool:
    if isinstance(path, OutputPattern):
        return bool(path.matches())
    return os.path.exists(path)


def _folder_of(path: os.PathLike[str] | str) -> str:
    if isinstance(path, OutputPattern):
        return path.folder()
    return os.path.dirname(os.fspath(path))


def refresh_dir(path: os.PathLike[str] | str) -> None:
    """List a folder so that an NFS client drops its cached attributes and sees new files."""
    try:
        os.listdir(path)
    except OSError:
        pass
