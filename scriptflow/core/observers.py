"""Listener calls that cannot break the engine.

The console and any other listener are observers: a closed pipe, a bug in a
display, or a hook that raises must never stop the engine from recording a
task, resolving its future or releasing its dependants (a lost decrement
hangs the run with the project lock held). As ``concurrent.futures`` does
with done-callbacks, errors are contained: logged (the first time per hook,
so a broken display does not flood the run log) and otherwise ignored.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from ..executors.base import Attempt, Outcome
from .runstate import Listener, TaskRecord

log = logging.getLogger("scriptflow.engine")


class ContainedListener(Listener):
    """Forwards each hook to ``inner``; an exception it raises is logged once per hook and dropped."""

    def __init__(self, inner: Listener) -> None:
        self.inner = inner
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def _call(self, hook: str, *args: Any) -> None:
        try:
            getattr(self.inner, hook)(*args)
        except Exception:  # an observer's error is logged, never the engine's problem
            self._raised(hook)

    def _raised(self, hook: str) -> None:
        """Log the exception being handled, the first time ``hook`` raises."""
        with self._lock:
            first = hook not in self._failed
            self._failed.add(hook)
        if first:
            log.exception("listener %s.%s raised (ignored from now on; the run goes on)",
                          getattr(self.inner, "display_name", type(self.inner).__name__), hook)

    def task_submitted(self, record: TaskRecord) -> None:
        self._call("task_submitted", record)

    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None:
        self._call("attempt_started", record, attempt)

    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None:
        self._call("attempt_failed", record, attempt, outcome, will_retry)

    def task_finished(self, record: TaskRecord) -> None:
        self._call("task_finished", record)

    def task_reused(self, record: TaskRecord) -> None:
        try:  # called directly, not through ``_call``: a no-op makes one call per task
            self.inner.task_reused(record)
        except Exception:  # noqa: BLE001 - as in ``_call``
            self._raised("task_reused")
