"""Outputs no task may declare, refused when the task is started, before anything runs.

scriptflow removes a task's declared outputs before each attempt and after a
failure (a failed task must never look done), so declaring a path as output
is permission to delete it. Some paths must never be given that permission:
scriptflow's own state (``.scriptflow/``: the ledger, logs, lock; only its
``values/`` folder, where ``sf.call`` tasks write their return values, holds
outputs), the flow
file and the files scriptflow looks for beside it (``sflow.py``,
``scriptflow.toml``, ``scriptflow.json``: configuration, or a flow file
``--file`` did not choose), the project folder or any folder holding it,
and the task's own inputs (a path both read and written by one task would be deleted before the
task could read it; a directory output holding an input likewise). Each
output is checked as written and with symlinks resolved, so ``alias/sflow.py``
with ``alias -> .`` is the flow file too. An output pattern's fixed folder
must lie inside the project and outside ``.scriptflow/``, and none of the
files it matches when the task starts may be one of those files or an input.
"""
from __future__ import annotations

import os
import stat
from typing import Iterable, Optional

from ..errors import TaskDefinitionError
from ..executors.outputs import OutputPattern
from ..project import VALUES_FOLDER, Project
from .spec import TaskSpec

#: Files in the project folder that scriptflow reads to run (run/flowfile.py, config.py).
PROJECT_FILES = ("sflow.py", "scriptflow.toml", "scriptflow.json")


class Spellings:
    """A path's spellings: as written, with its parent's symlinks resolved (what a removal
    touches), and fully resolved, as ``os.path.realpath`` would give them.

    ``realpath`` lstat()s every component of every path (12 calls per task of one input and
    one output: most of a no-op run's time). Here a parent directory's resolution is kept,
    keyed on the directory's identity (device and inode, from one ``lstat``), and a path
    whose last component is not a symlink is that resolution joined with its name, which is
    exactly what ``realpath`` computes: two ``lstat`` calls per path. A parent that is itself
    a symlink, or does not exist, is resolved each time.
    """

    def __init__(self, home: Optional[str] = None) -> None:
        self._dirs: dict[str, tuple[tuple[int, int], str]] = {}
        #: The project folder and its resolution, taken as fixed for the run (the run holds its lock
        #: and its ledger there): a file directly in it costs one ``lstat``.
        self._home = (home, os.path.realpath(home)) if home else None

    def _real_dir(self, parent: str) -> str:
        try:
            st = os.lstat(parent)
        except OSError:
            return os.path.realpath(parent)
        if stat.S_ISLNK(st.st_mode):
            return os.path.realpath(parent)
        key = (st.st_dev, st.st_ino)
        known = self._dirs.get(parent)
        if known is not None and known[0] == key:
            return known[1]
        real = os.path.realpath(parent)
        self._dirs[parent] = (key, real)
        return real

    def __call__(self, path: str) -> set[str]:
        cut = path.rfind("/")  # os.path.split and join, for a normalised absolute path
        parent, name = path[:cut] or "/", path[cut + 1:]
        if cut < 0 or os.sep != "/" or name in ("", ".", ".."):  # not a normalised absolute file path
            return _spellings(path)
        home = self._home
        real = home[1] if home and parent == home[0] else self._real_dir(parent)
        beside = real + name if real.endswith("/") else real + "/" + name
        try:
            is_link = stat.S_ISLNK(os.lstat(beside).st_mode)
        except OSError:  # absent (or unreachable): realpath keeps the name as it is
            is_link = False
        return {path, beside, os.path.realpath(path) if is_link else beside}


def _spellings(path: str) -> set[str]:
    """The path as written, with its parent's symlinks resolved (what a removal touches), and fully resolved."""
    parent, name = os.path.split(path)
    return {path, os.path.join(os.path.realpath(parent), name), os.path.realpath(path)}


def _project_files(project_dir: str) -> frozenset[str]:
    """The spellings of PROJECT_FILES (once per run, in ``ProtectedOutputs``)."""
    return frozenset(s for name in PROJECT_FILES for s in _spellings(os.path.join(project_dir, name)))


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class ProtectedOutputs:
    """The protected paths of one run, resolved once; ``check`` runs for every started task."""

    def __init__(self, project: Project, flow_file: Optional[str]) -> None:
        self._spellings = Spellings(str(project.dir))
        self._roots = _spellings(str(project.dir))
        self._states = _spellings(str(project.state_dir))
        self._values = _spellings(str(project.state_dir / VALUES_FOLDER))
        self._flows = _spellings(os.path.abspath(flow_file)) if flow_file else set()
        self._own = _project_files(str(project.dir))
        self._inside_values = _inside(self._values)
        self._inside_states = _inside(self._states)

    def check(self, spec: TaskSpec) -> None:
        """Raise ``TaskDefinitionError`` naming the task and the first protected output it declares."""
        if not spec.outputs:
            return
        spell = self._spellings
        inputs = {rel: spell(spec.input_abs[rel]) for rel in spec.inputs}
        for rel in spec.outputs:
            path = spec.output_abs[rel]
            if isinstance(path, OutputPattern):
                why = self._pattern_why(path, inputs)
                if why:
                    raise TaskDefinitionError(f"task {spec.uid!r}: output pattern {rel} {why}; scriptflow removes "
                                              "the files it matches before the task runs")
                continue
            spellings = spell(path)
            if all(out.startswith(self._inside_values) for out in spellings):
                continue  # a function task's value file: scriptflow's own output, made and removed as any other
            why = _why(spellings, self._roots, self._states, self._inside_states, self._flows, self._own, inputs)
            if why:
                raise TaskDefinitionError(
                    f"task {spec.uid!r}: output {rel} {why}; scriptflow removes a task's outputs before it runs "
                    "and when it fails, so it cannot be declared as one")

    def _pattern_why(self, pattern: OutputPattern, inputs: dict[str, set[str]]) -> Optional[str]:
        """Why an output pattern is refused, or None: its folder must be in the project, outside
        its state; the files it matches now must not be the flow, configuration or input files."""
        folder = self._spellings(pattern.folder())
        if any(_within(out, state) for out in folder for state in self._states):
            return "is inside .scriptflow/ (the ledger and logs)"
        if not all(any(_within(out, root) for root in self._roots) for out in folder):
            return "is outside the project folder"
        for match in pattern.matches():
            spellings = self._spellings(match)
            if spellings & self._flows:
                return "matches the flow file"
            if spellings & self._own:
                return f"matches {os.path.basename(match)}, a flow or configuration file of the project"
            for rel, input_spellings in inputs.items():
                if spellings & input_spellings:
                    return f"matches input {rel} of the task"
        return None


def _inside(folders: Iterable[str]) -> tuple[str, ...]:
    """Prefixes of the paths strictly inside any of ``folders`` (for ``str.startswith``)."""
    return tuple(folder.rstrip(os.sep) + os.sep for folder in folders)


def _why(outputs: set[str], roots: set[str], states: set[str], inside_states: tuple[str, ...], flows: set[str],
         own: frozenset[str], inputs: dict[str, set[str]]) -> Optional[str]:
    for out in outputs:
        if out in states or out.startswith(inside_states):
            return "is inside .scriptflow/ (the ledger and logs)"
        if out in flows:
            return "is the flow file"
        if out in own:
            return "is a flow or configuration file of the project"
        if any(_within(root, out) for root in roots):
            return "is the project folder or holds it"
    inside_outputs = _inside(outputs) if inputs else ()
    for rel, spellings in inputs.items():
        if outputs & spellings:
            return "is also an input of the task"
        if any(inp.startswith(inside_outputs) for inp in spellings):
            return f"holds input {rel} of the task"
    return None
