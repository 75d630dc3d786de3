"""``sf.on(event, fn)``: the flow's own callbacks on task and run events.

Hooks are observers, like the console: they are called by the engine as a
task's attempt starts, as it ends, and once at the end of the run, and they
can never break the run. An exception in a hook is written to the run log
(with its traceback, and a one-line warning on the terminal the first time)
and otherwise ignored; the engine records the task, resolves its future and
releases its dependants as if the hook had not been there. Hooks are called
one at a time (under one lock), so a flow's hook needs no locking of its own,
on the engine's threads, so a slow hook slows the run: hand long work to a
thread of your own.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import TaskDefinitionError
from ..executors.base import Attempt, Outcome
from .runstate import Listener, TaskRecord

log = logging.getLogger("scriptflow.hooks")

#: The events a hook can be registered for, in the order they happen to one task.
EVENTS = ("task_started", "task_failed", "task_finished", "run_finished")


@dataclass(frozen=True)
class HookEvent:
    """What a hook receives (one object, whatever the event).

    ``uid``/``status``/``reason``/``error``/``exit_code``/``attempt``/``outputs``/``task`` describe
    the task (None for ``run_finished``); ``status`` is the task's final status
    (succeeded, cached, failed, upstream-failed, interrupted, not-started) for
    ``task_finished`` and ``task_failed``, 'running' for ``task_started``, and the
    run's status for ``run_finished``. ``exit_code`` is the run's exit code there.
    """

    event: str
    run_id: int
    uid: Optional[str] = None
    status: Optional[str] = None
    reason: Optional[str] = None
    error: Optional[str] = None
    exit_code: Optional[int] = None
    attempt: Optional[int] = None
    outputs: tuple[str, ...] = ()
    task: Any = None


_hooks: dict[str, list[Callable[[HookEvent], Any]]] = {name: [] for name in EVENTS}
_call_lock = threading.Lock()
_warned: set[int] = set()


def on(event: str, fn: Optional[Callable[[HookEvent], Any]] = None) -> Any:
    """Call ``fn(event)`` on each ``event`` of this run (see ``EVENTS``); returns ``fn``.
    Without ``fn`` it is a decorator: ``@sf.on("task_failed")``."""
    if fn is None:
        return lambda f: on(event, f)
    if event not in _hooks:
        raise TaskDefinitionError(f"sf.on: unknown event {event!r} (events: {', '.join(EVENTS)})")
    if not callable(fn):
        raise TaskDefinitionError(f"sf.on({event!r}, ...): {fn!r} is not callable")
    _hooks[event].append(fn)
    return fn


def reset() -> None:
    """Forget every hook (before a flow file is imported: each run registers its own)."""
    for handlers in _hooks.values():
        handlers.clear()
    _warned.clear()


def emit(event: HookEvent, warn: Optional[Callable[[str], None]] = None) -> None:
    """Call the hooks of ``event.event`` in registration order, each contained."""
    handlers = list(_hooks.get(event.event, ()))
    if not handlers:
        return
    with _call_lock:
        for fn in handlers:
            try:
                fn(event)
            except Exception as exc:  # noqa: BLE001 - a hook's error is logged, never the run's problem
                name = getattr(fn, "__qualname__", repr(fn))
                log.exception("hook %s for %s raised (the run goes on)", name, event.event)
                if warn is not None and id(fn) not in _warned:
                    _warned.add(id(fn))
                    warn(f"warning: hook {name} for {event.event} raised {type(exc).__name__}: {exc} "
                         "(ignored; details in .scriptflow/scriptflow.log)")


def _task_event(name: str, run_id: int, record: TaskRecord, status: Optional[str] = None) -> HookEvent:
    return HookEvent(event=name, run_id=run_id, uid=record.spec.uid, status=status or record.status,
                     reason=record.reason, error=record.error, exit_code=record.exit_code,
                     attempt=record.attempts or None, outputs=record.spec.outputs, task=record.task)


class HookListener(Listener):
    """Forwards every call to ``inner`` (the console), then calls the flow's hooks."""

    def __init__(self, inner: Listener, run_id: int, warn: Optional[Callable[[str], None]] = None) -> None:
        self.inner, self.run_id, self.warn = inner, run_id, warn

    @property
    def display_name(self) -> str:
        """How a ``ContainedListener`` names this listener in the run log: the console it wraps."""
        return type(self.inner).__name__

    def task_submitted(self, record: TaskRecord) -> None:
        self.inner.task_submitted(record)

    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None:
        try:
            self.inner.attempt_started(record, attempt)
        finally:
            if _hooks["task_started"]:  # the event is built only for a flow that listens
                emit(_task_event("task_started", self.run_id, record, "running"), self.warn)

    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None:
        self.inner.attempt_failed(record, attempt, outcome, will_retry)

    def task_finished(self, record: TaskRecord) -> None:
        try:
            self.inner.task_finished(record)
        finally:
            if record.status == "failed" and _hooks["task_failed"]:
                emit(_task_event("task_failed", self.run_id, record), self.warn)
            if _hooks["task_finished"]:
                emit(_task_event("task_finished", self.run_id, record), self.warn)

    def task_reused(self, record: TaskRecord) -> None:
        try:
            self.inner.task_reused(record)
        finally:
            if _hooks["task_finished"]:
                emit(_task_event("task_finished", self.run_id, record), self.warn)


def run_finished(run_id: int, status: str, exit_code: int, error: Optional[str],
                 warn: Optional[Callable[[str], None]] = None) -> None:
    emit(HookEvent(event="run_finished", run_id=run_id, status=status, exit_code=exit_code, error=error), warn)
