"""The run's events as notification documents: a ``Listener`` the runner adds beside the console.

The engine only calls the ``Listener`` hooks; this turns them into JSON
documents and hands them to one ``Sender`` per target. Each hook only builds a
small dict and queues it, so it costs the engine's threads nothing noticeable.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, Optional

from ..clock import utc_now
from ..core.runstate import Listener, TaskRecord
from ..executors.base import Attempt, Outcome
from ..project import Project
from ..terminal.console import tail
from .sender import Sender
from .targets import Target

log = logging.getLogger("scriptflow.notify")

#: Lines of stderr a failure notification carries.
STDERR_LINES = 20
#: The longest a run's end waits for queued notifications (all targets together), in seconds.
DRAIN_SECONDS = 5.0


class Notifier(Listener):
    """Builds one document per event and queues it for every target that asked for that event."""

    def __init__(self, targets: list[Target], project: Project) -> None:
        self.project = project
        self.senders = [Sender(t) for t in targets]
        self.counts: Counter[str] = Counter()
        self.run: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- run events (called by the runner) --------------------------------------------
    def run_started(self, run_id: int, name: Optional[str], flow: str, started_at: str) -> None:
        self.run = {"run_id": run_id, "run_name": name, "flow": flow, "run_started_at": started_at}
        self._send("run_started", f"run {run_id} ({flow}) started")

    def run_finished(self, status: str, exit_code: int, error: Optional[str]) -> None:
        self._send("run_finished", f"run {self.run.get('run_id')} ({self.run.get('flow')}) {status}: "
                   f"{self._counts_text()}", status=status, exit_code=exit_code, error=error)

    def message(self, text: str, html: Optional[str] = None) -> None:
        """``sf.notify``: a message from the flow itself."""
        self._send("message", text, html=html)

    # -- task events (the engine's Listener hooks) --------------------------------------
    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None:
        if will_retry:
            self._send("task_retried", f"task {record.spec.uid} failed (attempt {attempt.number}), retrying",
                       task_uid=record.spec.uid, attempt=attempt.number, exit_code=outcome.exit_code,
                       error=outcome.error, stderr_tail=tail(attempt.stderr_path, STDERR_LINES))

    def task_finished(self, record: TaskRecord) -> None:
        with self._lock:
            self.counts[record.status] += 1
        if record.status == "failed":
            stderr = tail(self.project.absolute(record.stderr_path), STDERR_LINES) if record.stderr_path else []
            self._send("task_failed", f"task {record.spec.uid} failed (exit {record.exit_code}) in run "
                       f"{self.run.get('run_id')} ({self.run.get('flow')})", task_uid=record.spec.uid,
                       attempts=record.attempts, exit_code=record.exit_code, error=record.error,
                       reason=record.reason, stderr_tail=stderr)

    # -- plumbing ------------------------------------------------------------------------
    def close(self, wait: float = DRAIN_SECONDS) -> None:
        """Let queued documents go out, waiting at most ``wait`` seconds in all."""
        deadline = time.monotonic() + wait
        for sender in self.senders:
            sender.close(deadline)

    def _counts_text(self) -> str:
        with self._lock:
            counts = dict(self.counts)
        return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no tasks"

    def _send(self, event: str, text: str, **fields: Any) -> None:
        try:
            with self._lock:
                counts = dict(self.counts)
            document: dict[str, Any] = {
                "event": event, "text": f"scriptflow: {text}", "project": self.project.dir.name,
                "project_dir": str(self.project.dir), **self.run, "time": utc_now(), "counts": counts,
            }
            document.update(fields)
            for sender in self.senders:
                if event in sender.target.events:
                    sender.put(document)
        except Exception:  # noqa: BLE001 - a notification must never break a run
            log.exception("notify: could not prepare the %s notification", event)


class Broadcast(Listener):
    """Several listeners as one (the console, then the notifier), in order."""

    def __init__(self, *listeners: Listener) -> None:
        self.listeners = listeners

    def task_submitted(self, record: TaskRecord) -> None:
        for listener in self.listeners:
            listener.task_submitted(record)

    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None:
        for listener in self.listeners:
            listener.attempt_started(record, attempt)

    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None:
        for listener in self.listeners:
            listener.attempt_failed(record, attempt, outcome, will_retry)

    def task_finished(self, record: TaskRecord) -> None:
        for listener in self.listeners:
            listener.task_finished(record)

    def task_reused(self, record: TaskRecord) -> None:
        for listener in self.listeners:
            listener.task_reused(record)
