"""The recorder of a dry run: it builds no statement at all.

A dry run records nothing: its writer drops every statement (``LedgerWriter(discard=True)``,
ids are still handed out). Building those statements is still work per task (five JSON
columns for a task's row, its file rows), about a quarter of a dry run's time per task;
this recorder skips it. Task and attempt ids come from the writer as in a real run.
"""
from __future__ import annotations

from typing import Any

from .recorder import RunRecorder


def _nothing(self: RunRecorder, *args: Any, **kwargs: Any) -> None:
    """A statement the writer would drop anyway."""


class DryRunRecorder(RunRecorder):
    """``RunRecorder`` whose statements are never built (the writer discards them)."""


for _name in ("event", "task_created", "task_decided", "task_container", "task_cached", "task_reused", "task_reason",
              "task_status", "files", "forget_inputs", "cached_outputs", "stat_entry", "attempt_queued",
              "attempt_logs", "attempt_started", "attempts_abandoned", "attempt_ended", "attempt_succeeded"):
    assert callable(getattr(RunRecorder, _name)), _name
    setattr(DryRunRecorder, _name, _nothing)
