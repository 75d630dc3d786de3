"""``sf.glob`` and ``sf.directory``: inputs that are sets of files.

A glob is expanded when its task is started (``start()``, ``result()``,
``await``): the concrete, sorted list of matching files becomes the task's
inputs, each hashed and recorded in ``files`` like any input. So adding,
removing or editing a matching file changes the fingerprint and reruns the
task, and ``why``/``report`` name the files, not the pattern. Among outputs
a glob is an ``executors.outputs.OutputPattern`` (``core.spec``): recorded as
one tree of the files it matches after the task ran, like a directory.

A directory (input or output) is hashed as a tree (``dir:`` + sha256 over its
sorted relative paths and file hashes, see ``core.fingerprint``); its list of
files is recorded as a ``manifest`` event (see docs/ledger.md).
"""
from __future__ import annotations

import os
from typing import Union

from ..executors.outputs import OutputPattern, matching_files

__all__ = ["Directory", "Glob", "OutputPattern", "PathLike", "directory", "glob"]

PathLike = Union[str, "os.PathLike[str]"]


class Glob(str):
    """A glob pattern among a task's inputs or outputs (the string is the pattern, for display)."""

    def expand(self, cwd: str) -> list[str]:
        """The regular files matching the pattern, relative to ``cwd``, sorted; ``**`` recurses.

        Nothing under ``.scriptflow`` matches: the ledger and logs are never task inputs.
        """
        return matching_files(str(self), cwd, cwd)


class Directory(str):
    """A directory as a task's input or output (hashed as a tree, its files recorded)."""


def glob(pattern: PathLike) -> Glob:
    """``sf.glob("data/*.csv")``: as an input, every matching file, expanded when the task starts;
    as an output, the files matching it after the task ran (removed before it runs)."""
    return Glob(os.fspath(pattern))


def directory(path: PathLike) -> Directory:
    """``sf.directory("results/")``: a whole directory as an input or an output."""
    text = os.fspath(path).rstrip("/") or "/"
    return Directory(text)
