"""The run's task socket (``children.py``), opened only when an attempt may need it.

``children.py`` brings ``socket``, ``secrets``, ``hmac``, ``select`` and
``tempfile``; a run whose tasks never run a local command (the no-op, a run
of cached tasks) needs none of them. ``open_link`` only sets the engine's
``run_link`` hook; the first attempt that asks imports ``children`` and
creates the server (which binds its socket then, as before).
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Optional

from ..core.engine import Engine
from ..project import Project

if TYPE_CHECKING:
    from .children import TaskLink


class DeferredLink:
    """``Engine.run_link`` until the first call, which creates the real ``TaskLink``."""

    def __init__(self, engine: Engine, project: Project, run_id: int) -> None:
        self.engine = engine
        self.project = project
        self.run_id = run_id
        self._lock = threading.Lock()
        self._link: Optional[TaskLink] = None
        self._closed = False

    def environment(self, attempt_id: int) -> dict[str, str]:
        with self._lock:
            if self._closed:
                return {}
            if self._link is None:
                from .children import TaskLink, can_listen

                if not can_listen():  # pragma: no cover - Windows: scripts cannot create tasks
                    self._closed = True
                    return {}
                self._link = TaskLink(self.engine, self.project, self.run_id)
            link = self._link
        return link.environment(attempt_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            link, self._link = self._link, None
        if link is not None:
            link.close()


def open_link(engine: Engine, project: Project, run_id: int) -> DeferredLink:
    """Give every local attempt of the run the variables to create tasks (see ``children.py``)."""
    link = DeferredLink(engine, project, run_id)
    engine.run_link = link.environment
    return link


def close_link(link: Optional[DeferredLink]) -> None:
    if link is not None:
        link.engine.run_link = None
        link.close()
