"""scriptflow: Make where the dependencies are Python code.

The public API used in ``sflow.py``. Importing it is cheap on purpose: tasks
often re-import ``sflow.py`` (and so scriptflow) in child processes, and the
``scriptflow`` command must be able to catch a Ctrl-C from its first
milliseconds (see ``scriptflow.entry``). So the names below are imported on
first use (PEP 562), not when the package is.
"""
from __future__ import annotations

#: No ``typing`` import at run time: it costs milliseconds during which a Ctrl-C would land in
#: this module, before ``scriptflow.entry`` can catch it.
TYPE_CHECKING = False

__all__ = ["HookEvent", "Task", "TaskError", "TaskFailed", "TaskNotStarted", "UpstreamFailed", "WatchEvent",
           "__version__", "bag", "call", "directory", "flow", "glob", "init", "notify", "on", "task"]

#: public name -> the module that defines it
_PUBLIC = {
    "init": ".config",
    "notify": ".core.messages",
    "Task": ".core.task",
    "bag": ".core.bag",
    "task": ".core.functional",
    "glob": ".core.paths",
    "call": ".core.call",
    "directory": ".core.paths",
    "flow": ".core.functional",
    "on": ".core.hooks",
    "HookEvent": ".core.hooks",
    "WatchEvent": ".core.watch",
    "TaskError": ".errors",
    "TaskFailed": ".errors",
    "TaskNotStarted": ".errors",
    "UpstreamFailed": ".errors",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from typing import Any

    from .config import init
    from .core.call import call
    from .core.functional import flow, task
    from .core.hooks import HookEvent, on
    from .core.paths import directory, glob
    from .core.messages import notify
    from .core.bag import bag
    from .core.task import Task
    from .core.watch import WatchEvent
    from .errors import TaskError, TaskFailed, TaskNotStarted, UpstreamFailed


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'scriptflow' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
