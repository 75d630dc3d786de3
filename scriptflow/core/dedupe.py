"""One task, one execution: the same task created twice in a run runs once.

Two parts of a flow may each create the task they need (``sf.Task("python
prep.py", outputs="clean.csv", name="prep")`` in two helper functions). When
both define exactly the same thing, the second start binds to the first's
record: its future resolves with the first's outcome and nothing runs twice.
When the same uid comes with a different definition, the flow has a bug that
would otherwise make one task's result depend on which call came first: that
is an error naming both creation lines.
"""
from __future__ import annotations

from typing import Any

from ..errors import TaskDefinitionError
from .spec import TaskSpec
from .task import Task


def _identity(spec: TaskSpec) -> tuple[Any, ...]:
    """Everything that makes two tasks the same task: what runs, on what, with which inputs."""
    return (repr(spec.definition()), spec.inputs, spec.executor, repr(sorted(spec.resources.items())), spec.retry)


def _site(task: Task) -> str:
    return getattr(task, "_created_at", None) or "an unknown line"


def bind_duplicate(first: Any, task: Task, spec: TaskSpec) -> None:
    """``task`` has the uid of the already started ``first`` (a TaskRecord): make it the same task,
    or raise naming both creation sites when its definition differs."""
    if _identity(first.spec) != _identity(spec):
        what = _difference(first.spec, spec)
        raise TaskDefinitionError(
            f"two different tasks are named {spec.uid!r} ({what} differs): created at {_site(first.task)} "
            f"and at {_site(task)}; task uids must be unique in a run")
    task._record = first

    def follow(done: Any) -> None:
        error = done.exception()
        if error is not None:
            task.set_exception(error)
        else:
            task.set_result(task)

    first.task.add_done_callback(follow)


def _difference(a: TaskSpec, b: TaskSpec) -> str:
    da, db = a.definition(), b.definition()
    for key in da.keys() | db.keys():
        if da.get(key) != db.get(key):
            return key
    for key in ("inputs", "executor", "resources", "retry"):
        if getattr(a, key) != getattr(b, key):
            return key
    return "definition"
