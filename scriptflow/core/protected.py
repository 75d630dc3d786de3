"""Outputs no task may declare, refused when the task is started, before anything runs.

scriptflow removes a task's declared outputs before each attempt and after a
failure (a failed task must never look done), so declaring a path as output
is permission to delete it. Some paths must never be given that permission:
scriptflow's own state (``.scriptflow/``: the ledger, logs, lock; only its
``values/`` folder, where ``sf.call`` tasks write their return values, holds
outputs), the flow
file, the project folder or any folder holding it, and the task's own
inputs (a path both read and written by one task would be deleted before the
task could read it; a directory output holding an input likewise). Each
output is checked as written and with symlinks resolved, so ``alias/sflow.py``
with ``alias -> .`` is the flow file too.
"""
from __future__ import annotations

import os
from typing import Optional

from ..errors import TaskDefinitionError
from ..project import VALUES_FOLDER, Project
from .spec import TaskSpec


def _spellings(path: str) -> set[str]:
    """The path as written, with its parent's symlinks resolved (what a removal touches), and fully resolved.

    The parent is resolved once: when the last component is not a symlink, the fully resolved
    path is the resolved parent joined with the name (what ``realpath`` would have walked again).
    """
    parent, name = os.path.split(path)
    real_parent = os.path.realpath(parent)
    in_parent = os.path.join(real_parent, name)
    if name in ("", ".", "..") or os.path.islink(path):
        return {path, in_parent, os.path.realpath(path)}
    return {path, in_parent}


def _protected_spellings(project: Project, flow_file: Optional[str]) -> tuple[set[str], ...]:
    """The spellings of the project folder, its state, the values folder and the flow file: the
    same for every task of a run, so resolved once per project and flow file rather than per task."""
    key = (str(project.dir), str(project.state_dir), flow_file)
    found = _PROTECTED.get(key)
    if found is None:
        found = (_spellings(key[0]), _spellings(key[1]), _spellings(str(project.state_dir / VALUES_FOLDER)),
                 _spellings(os.path.abspath(flow_file)) if flow_file else set())
        _PROTECTED.clear()  # one project per process, in practice: keep only the latest
        _PROTECTED[key] = found
    return found


_PROTECTED: dict[tuple[str, str, Optional[str]], tuple[set[str], ...]] = {}


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_outputs(spec: TaskSpec, project: Project, flow_file: Optional[str]) -> None:
    """Raise ``TaskDefinitionError`` naming the task and the first protected output it declares."""
    roots, states, values, flows = _protected_spellings(project, flow_file)
    inputs = {rel: _spellings(spec.input_abs[rel]) for rel in spec.inputs}
    for rel in spec.outputs:
        spellings = _spellings(spec.output_abs[rel])
        if all(any(_within(out, v) and out not in values for v in values) for out in spellings):
            continue  # a function task's value file: scriptflow's own output, made and removed as any other
        why = _why(spellings, roots, states, flows, inputs)
        if why:
            raise TaskDefinitionError(
                f"task {spec.uid!r}: output {rel} {why}; scriptflow removes a task's outputs before it runs "
                "and when it fails, so it cannot be declared as one")


def _why(outputs: set[str], roots: set[str], states: set[str], flows: set[str],
         inputs: dict[str, set[str]]) -> Optional[str]:
    for out in outputs:
        if any(_within(out, state) for state in states):
            return "is inside .scriptflow/ (the ledger and logs)"
        if out in flows:
            return "is the flow file"
        if any(_within(root, out) for root in roots):
            return "is the project folder or holds it"
    for rel, spellings in inputs.items():
        if outputs & spellings:
            return "is also an input of the task"
        if any(_within(inp, out) and inp != out for inp in spellings for out in outputs):
            return f"holds input {rel} of the task"
    return None
