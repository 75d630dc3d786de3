"""The functional style: ``sf.task(...)`` and the ``@sf.flow`` decorator.

``sf.task`` is ``sf.Task(...).start()`` in one call, for flows that never
edit a task after creating it. ``@sf.flow`` names a flow without the
``flow_`` prefix and gives it a description and parameter help, which
``scriptflow list`` shows; the decorated function is returned unchanged (it
only gains a ``__scriptflow_flow__`` attribute), so it can still be called.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from ..errors import TaskDefinitionError
from .task import Task

#: The attribute ``@sf.flow`` sets on a function; ``run.flowfile`` looks for it.
FLOW_ATTRIBUTE = "__scriptflow_flow__"


def task(cmd: Any, outputs: Any = None, inputs: Any = None, name: Optional[str] = None, **options: Any) -> Task:
    """Create a task and start it: ``sf.task("python fit.py", outputs="fit.csv", retry=2)``.

    Takes every keyword ``sf.Task`` takes; returns the started task (a future: ``.result()``
    waits for it, ``await`` too, and it can be another task's input).
    """
    return Task(cmd, outputs=outputs, inputs=inputs, name=name, **options).start()


@dataclass(frozen=True)
class FlowInfo:
    """What ``@sf.flow`` says about a flow function."""

    name: Optional[str] = None
    description: Optional[str] = None
    #: parameter name -> one line of help, shown by ``scriptflow list --params``
    params: Mapping[str, str] = field(default_factory=dict)


def flow(function: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
         description: Optional[str] = None, params: Optional[Mapping[str, str]] = None) -> Any:
    """Mark a function as a flow: ``@sf.flow`` or ``@sf.flow(name="fit", description=..., params={"n": "draws"})``.

    The flow's name defaults to the function's name (without a ``flow_`` prefix); the
    description to the first line of its docstring.
    """
    if name is not None and (not isinstance(name, str) or not name or any(c.isspace() for c in name)):
        raise TaskDefinitionError(f"@sf.flow: invalid flow name {name!r}")
    info = FlowInfo(name=name, description=description, params=dict(params or {}))

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TaskDefinitionError(f"@sf.flow: {fn!r} is not a function")
        unknown = set(info.params) - set(inspect.signature(fn).parameters)
        if unknown:
            raise TaskDefinitionError(f"@sf.flow: {getattr(fn, '__name__', fn)} has no parameter "
                                      f"{sorted(unknown)[0]!r} (named in params=)")
        setattr(fn, FLOW_ATTRIBUTE, info)
        return fn

    return mark(function) if function is not None else mark
