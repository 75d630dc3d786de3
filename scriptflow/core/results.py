"""``t.value``: a task's result as a Python value, read from its outputs.

A task declares where its value comes from: ``value="r.json"`` (one of its
declared outputs, parsed as JSON) or ``parse=fn`` (``fn(task)`` returns the
value, reading whatever outputs it likes). ``t.value`` waits for the task
(starting it if needed), reads once and keeps the result. Since the value is
read from the outputs, a cached task has the same value as the run that made
it, without running anything.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

from ..errors import TaskDefinitionError

_UNSET = object()


class ValueSource:
    """Where a task's value comes from (set at creation, checked against its outputs)."""

    def __init__(self, path: Optional[str], parse: Optional[Callable[[Any], Any]]) -> None:
        self.path, self.parse = path, parse
        self.cached: Any = _UNSET


def value_source(task: Any, value: Any, parse: Any) -> Optional[ValueSource]:
    """Check ``value=``/``parse=`` of ``task`` (its outputs already declared)."""
    if value is None and parse is None:
        return None
    if value is not None and parse is not None:
        raise TaskDefinitionError(f"task {task._label()}: give value= or parse=, not both")
    if parse is not None and not callable(parse):
        raise TaskDefinitionError(f"task {task._label()}: parse= must be callable, got {parse!r}")
    if value is not None:
        if not isinstance(value, (str, os.PathLike)):
            raise TaskDefinitionError(f"task {task._label()}: value= must be the path of an output, got {value!r}")
        value = os.fspath(value)
        if os.path.normpath(value) not in {os.path.normpath(p) for p in task.get_outputs()}:
            raise TaskDefinitionError(f"task {task._label()}: value= {value!r} is not one of its outputs")
    return ValueSource(value, parse)


def task_value(task: Any) -> Any:
    """The task's value: waits for it, then reads ``value=`` as JSON or calls ``parse=``."""
    source: Optional[ValueSource] = getattr(task, "_value_source", None)
    if source is None:
        raise TaskDefinitionError(f"task {task.name} has no value: declare value='OUTPUT.json' or parse=fn")
    task.result()
    if source.cached is _UNSET:
        if source.parse is not None:
            source.cached = source.parse(task)
        else:
            assert source.path is not None
            base = os.fspath(task.cwd) if task.cwd is not None else os.getcwd()
            path = os.path.join(base, source.path)
            try:
                with open(path, encoding="utf-8") as f:
                    source.cached = json.load(f)
            except (OSError, ValueError) as exc:
                raise TaskDefinitionError(
                    f"task {task.name}: cannot read its value from {source.path}: {exc}") from None
    return source.cached
