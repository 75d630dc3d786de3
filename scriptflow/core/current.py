"""The engine of the run in progress, for ``Task.start()`` to find.

A tiny module of its own so that ``task`` does not import ``engine`` (which
imports ``task``). A process runs at most one flow at a time, and flows may
start tasks from any thread they create, so this is one process-wide slot
rather than a context variable (a new thread starts with an empty context).
"""
from __future__ import annotations

import threading
from typing import Any, Optional, Protocol


class Engine(Protocol):
    """What ``Task.start()`` needs of the engine (``core.engine.Engine`` is one)."""

    def submit(self, task: Any) -> None: ...

    def created(self, task: Any) -> None: ...


_engine: Optional[Engine] = None
_lock = threading.Lock()


def current_engine() -> Optional[Engine]:
    """The engine running now, or None outside ``scriptflow run``."""
    return _engine


def set_current_engine(engine: Optional[Engine]) -> None:
    global _engine
    with _lock:
        _engine = engine


def clear_current_engine(engine: Engine) -> None:
    """Forget ``engine`` if it is still the current one."""
    global _engine
    with _lock:
        if _engine is engine:
            _engine = None
