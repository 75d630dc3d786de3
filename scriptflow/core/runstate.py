"""The engine's per-run state that others see: options, task records, listener hooks.

Kept apart from ``engine`` so the console and the runner depend on these
plain types, not on the engine's machinery.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional, Sequence

from ..errors import task_error
from ..executors.base import Attempt, Outcome, RecordedJob
from .fingerprint import FileHash
from .spec import SLOTS, TaskSpec
from .task import Task

_NO_HASHES: Mapping[str, Optional[FileHash]] = MappingProxyType({})

#: Final task statuses that let dependants run ("would-run" only exists in a dry run).
OK = ("succeeded", "cached", "would-run")
#: Statuses of a task that has not finished yet.
OPEN = ("waiting", "deciding", "running")


@dataclass(eq=False, **SLOTS)
class TaskRecord:
    """The engine's bookkeeping for one started task."""

    task: Task
    spec: TaskSpec
    id: int
    #: The records it waits for (a tuple or list; assigned whole, never changed in place). Defaults
    #: below that are immutable and shared cost nothing for the 100,000 tasks of a no-op.
    deps: Sequence["TaskRecord"] = ()
    dependants: list["TaskRecord"] = field(default_factory=list)
    waiting_on: int = 0
    status: str = "waiting"
    attempts: int = 0
    reason: Optional[str] = None
    error: Optional[str] = None
    exit_code: Optional[int] = None
    stderr_path: Optional[str] = None
    #: As decided (None for a task the quick lane found up to date: only re-attaching asks for it).
    fingerprint: Optional[str] = None
    #: Input hashes as decided (and recorded): checked again after each attempt. Assigned whole.
    input_hashes: Mapping[str, FileHash | None] = field(default_factory=lambda: _NO_HASHES)
    #: Its ``tasks`` row is in the writer's queue (a task decided at once is written complete, once).
    row_written: bool = False
    #: The task whose command created this one (``tasks.parent_task_id``), or None for the flow's.
    parent: Optional["TaskRecord"] = None

    @property
    def parent_id(self) -> Optional[int]:
        return self.parent.id if self.parent is not None else None

    @property
    def done(self) -> bool:
        return self.status not in OPEN


def resolve_future(record: TaskRecord) -> None:
    """Settle the flow's ``Task`` future from the record's final status."""
    task, status = record.task, record.status
    if status in OK:
        task.set_result(task)
    else:
        task.set_exception(task_error(record.spec.uid, status, record.error or ""))


class Listener:
    """What the console hears from the engine (all no-ops here)."""

    def task_submitted(self, record: TaskRecord) -> None: ...
    def attempt_started(self, record: TaskRecord, attempt: Attempt) -> None: ...
    def attempt_failed(self, record: TaskRecord, attempt: Attempt, outcome: Outcome, will_retry: bool) -> None: ...
    def task_finished(self, record: TaskRecord) -> None: ...

    def task_reused(self, record: TaskRecord) -> None:
        """A task found up to date as it was started (``core/quicklane.py``): submitted and
        finished at once. One call instead of two, since a no-op makes one per task."""
        self.task_submitted(record)
        self.task_finished(record)


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
    #: Put in every local attempt's environment (SCRIPTFLOW_RUN) so a later run can find its processes.
    run_token: str = ""
    #: ``run --adopt``: tasks never run whose outputs exist and are newer than their inputs are done.
    adopt: bool = False
    #: The flow file (absolute): no task may declare it as an output.
    flow_file: Optional[str] = None
    #: One line for the user's terminal (a watch callback that raised).
    warn: Optional[Callable[[str], None]] = None
