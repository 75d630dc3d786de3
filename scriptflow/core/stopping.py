"""Stopping a run: Ctrl-C / SIGTERM, killing what still runs, and giving up on silent executors.

Kept apart from the engine's event flow (``engine.py``): these are the operations the
runner calls from its signal handling (``run/signals.py``), each safe to call from
another thread while tasks finish.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from ..executors.base import Executor
from .recorder import RunRecorder
from .runstate import TaskRecord


class Stopping:
    """``interrupt``, ``kill_now``, ``abandon`` and ``wait_cancelled`` of an ``Engine``."""

    # Provided by Engine.
    record: RunRecorder
    stopping: bool
    interrupted: bool
    options: Any
    _lock: threading.RLock
    _executors: dict[str, Executor]
    _by_uid: dict[str, TaskRecord]
    _cancellers: list[threading.Thread]
    _finish: Callable[..., None]

    def interrupt(self) -> None:
        """Ctrl-C / SIGTERM: start nothing new, stop what runs (terminate, then kill)."""
        with self._lock:
            if self.interrupted:
                return
            self.stopping = True
            self.interrupted = True
            executors = list(self._executors.values())
        self.record.event("interrupt")
        for executor in executors:
            thread = threading.Thread(target=executor.cancel_all, args=(self.options.grace_seconds,),
                                      name=f"sf-cancel-{executor.name}", daemon=True)
            thread.start()
            self._cancellers.append(thread)

    def kill_now(self) -> None:
        for executor in list(self._executors.values()):
            executor.kill_now()

    def abandon(self) -> None:
        """Last resort after repeated signals: end every task still open as interrupted.

        Used when an executor does not report back even after being told to kill its attempts
        (a stuck scheduler command, an executor bug): the run must still end, release the
        project lock and record itself. Their attempts are recorded interrupted too.
        """
        with self._lock:
            open_records = [r for r in self._by_uid.values() if not r.done]
        for record in open_records:
            self.record.attempts_abandoned(record.id)
            self._finish(record, "interrupted", error="interrupted: its executor did not report back")

    def wait_cancelled(self) -> None:
        """After an interrupt, wait until the executors have finished stopping (leftover
        members of a task's process group are killed only once its own process has exited)."""
        for thread in list(self._cancellers):
            thread.join()
