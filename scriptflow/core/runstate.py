"""The engine's per-run state that others see: options, task records, listener hooks.

Kept apart from ``engine`` so the console and the runner depend on these
plain types, not on the engine's machinery.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..executors.base import Attempt, Outcome, RecordedJob
from .spec import TaskSpec
from .task import Task

#: Final task statuses that let dependants run ("would-run" only exists in a dry run).
OK = ("succeeded", "cached", "would-run")


@dataclass(eq=False)
class TaskRecord:
    """The engine's bookkeeping for one started task."""

    task: Task
    spec: TaskSpec
    id: int
    deps: list["TaskRecord"] = field(default_factory=list)
    dependants: list["TaskRecord"] = field(default_factory=list)
    waiting_on: int = 0
    status: str = "waiting"
    attempts: int = 0
    reason: Optional[str] = None
    error: Optional[str] = None
    exit_code: Optional[int] = None
    stderr_path: Optional[str] = None
    fingerprint: Optional[str] = None

    @property
    def done(self) -> bool:
        return self.status not in ("waiting", "deciding", "running")


class Listener:
    """What the console hears from the engine (all no-ops here)."""

    def task_submitted(self, record: TaskRecord) -> None: ...
    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None: ...
    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None: ...
    def task_finished(self, record: TaskRecord) -> None: ...


@dataclass
class RunOptions:
    run_id: int
    config: dict[str, Any]
    force_globs: list[str] = field(default_factory=list)
    force_all: bool = False
    keep_going: bool = False
    #: After Ctrl-C/SIGTERM, how long running tasks get to exit before they are killed.
    grace_seconds: float = 10.0
    #: List each task's decision instead of running anything (``run --dry-run``).
    dry_run: bool = False
    #: uid -> cluster job left running by a run that died; re-attached instead of resubmitted.
    reattach: dict[str, RecordedJob] = field(default_factory=dict)
    #: The flow file (absolute): no task may declare it as an output.
    flow_file: Optional[str] = None
