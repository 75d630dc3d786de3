"""The executor interface and the registry that maps config names to classes.

An executor takes an ``Attempt`` (everything needed to run one try of a
task, already resolved to absolute paths) and returns a future of its
``Outcome``. Executors never touch the ledger: they report back through the
future and the attempt's ``on_started`` hook, and the engine records.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Optional, Union

from ..errors import ConfigError


@dataclass
class Attempt:
    """One try of one task, as the executor sees it."""

    run_id: int
    attempt_id: int
    task_uid: str
    number: int
    command: Union[list[str], str]
    shell: bool
    cwd: Path
    env: dict[str, str]
    stdout_path: Path
    stderr_path: Path
    resources: dict[str, Any] = field(default_factory=dict)
    #: Declared outputs (absolute): cluster executors wait for them on slow shared filesystems.
    outputs: list[Path] = field(default_factory=list)
    #: Called by the executor once the command really starts (pid, host, job id...).
    on_started: Callable[["Started"], None] = lambda started: None
    #: Asked right before an attempt that waited for a free slot starts: False once the run
    #: is stopping (a failure without --keep-going), so queued attempts never start.
    should_start: Callable[[], bool] = lambda: True


@dataclass
class Started:
    started_at: str
    host: str
    pid: Optional[int] = None
    job_id: Optional[str] = None
    job_script: Optional[str] = None
    queue: Optional[str] = None


@dataclass
class RecordedJob:
    """A scheduler job recorded by a run that died (kill -9); a later run may re-attach to it."""

    task_uid: str
    fingerprint: str
    executor: str
    job_id: str
    job_script: Optional[str]
    queue: Optional[str]
    stdout_path: Path
    stderr_path: Path
    started_at: Optional[str]


@dataclass
class Outcome:
    """How an attempt ended. ``exit_code`` is None when the command never ran; ``started_at``
    is when the command really started (for a cluster job, not its submission)."""

    exit_code: Optional[int]
    started_at: Optional[str] = None
    ended_at: Optional[str] = None
    error: Optional[str] = None
    interrupted: bool = False
    #: Stopped because it ran past its ``timeout=`` (recorded as the attempt status ``timed-out``).
    timed_out: bool = False
    #: Where the command really ran (a cluster node), when the executor knows it.
    host: Optional[str] = None


class Executor(ABC):
    """Runs attempts somewhere. Subclasses set ``name`` and ``SETTINGS``."""

    name: ClassVar[str]
    #: Accepted keys of ``executors.<name>`` in the config, with their help text.
    SETTINGS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, settings: Mapping[str, Any], state_dir: Path) -> None:
        unknown = set(settings) - set(self.SETTINGS)
        if unknown:
            known = ", ".join(sorted(self.SETTINGS)) or "none"
            raise ConfigError(
                f"executors.{self.name}: unknown setting {sorted(unknown)[0]!r} (known: {known})"
            )
        self.settings = dict(settings)
        self.state_dir = state_dir

    @property
    def slots(self) -> Optional[int]:
        """How many attempts run at once (None: no fixed limit)."""
        return None

    @abstractmethod
    def submit(self, attempt: Attempt) -> "Future[Outcome]":
        """Start the attempt (or queue it) and return at once."""

    @abstractmethod
    def cancel_all(self, grace_seconds: float) -> None:
        """Stop every attempt in flight (interrupt): terminate, then kill after the grace period."""

    def kill_now(self) -> None:
        """Stop waiting for the grace period (second Ctrl-C)."""

    def reattach(self, job: RecordedJob, attempt: Attempt) -> "Optional[Future[Outcome]]":
        """Follow a job a dead run submitted instead of submitting again; None if it cannot."""
        return None

    def shutdown(self) -> None:
        """Release resources once no attempt is in flight."""


_BUILTIN = {
    "local": "scriptflow.executors.local:LocalExecutor",
    "slurm": "scriptflow.executors.cluster.slurm:SlurmExecutor",
    "sge": "scriptflow.executors.cluster.qsub:SgeExecutor",
    "pbs": "scriptflow.executors.cluster.qsub:PbsExecutor",
}
_registered: dict[str, type[Executor]] = {}


def register_executor(name: str, cls: type[Executor]) -> None:
    """Make ``cls`` available as ``executor=name`` in tasks and config."""
    _registered[name] = cls


def executor_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_registered))


def executor_class(name: str) -> type[Executor]:
    if name in _registered:
        return _registered[name]
    if name not in _BUILTIN:
        raise ConfigError(f"unknown executor {name!r} (available: {', '.join(executor_names())})")
    module, _, attr = _BUILTIN[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def create_executor(name: str, settings: Mapping[str, Any], state_dir: Path) -> Executor:
    return executor_class(name)(settings or {}, state_dir)
