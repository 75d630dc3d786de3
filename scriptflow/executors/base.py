"""The executor contract: what the engine hands an executor, and what it gets back.

An executor takes an ``Attempt`` (everything needed to run one try of a
task, already resolved to absolute paths) and a ``Reporter`` (how to talk
back while it runs), and returns a future of its ``Outcome``. Executors
never touch the ledger: they report through the reporter and the future,
and the engine records. ``docs/executors.md`` explains the contract to
people writing one; ``registry`` finds them by name.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Union

from .settings import ExecutorSettings

#: Container runtimes whose containers live outside the process tree of the command that starts
#: them (so they must be stopped by name: ``container.stop``).
OCI_RUNTIMES = ("podman", "docker")


@dataclass(frozen=True)
class Container:
    """The image an attempt runs in, resolved by the engine before the attempt exists
    (``container.wrap`` turns the attempt's command into the runtime's argv).

    ``image`` is the reference as the user wrote it (``ghcr.io/lab/r:4.3``, ``env.sif``);
    ``image_id`` the immutable identity the ledger records and the fingerprint hashes
    (``sha256:...``: the image id for podman/docker, the sha256 of the image file for
    apptainer/singularity); ``run_ref`` what the runtime is given to run (the image id, or the
    absolute path of the image file); ``mounts`` the folders mounted at the same path (the
    project folder, and the task's folder when it lies outside); ``args`` the configured
    ``container_args``.
    """

    runtime: str
    image: str
    image_id: str
    run_ref: str
    args: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    #: Map the container's files to the user running scriptflow (``container.user_args``).
    keep_user: bool = True

    @property
    def oci(self) -> bool:
        return os.path.basename(self.runtime) in OCI_RUNTIMES


@dataclass
class Attempt:
    """One try of one task, as the executor sees it."""

    run_id: int
    attempt_id: int
    task_uid: str
    number: int
    command: Union[list[str], str]
    shell: bool
    cwd: Union[Path, str]
    env: dict[str, str]
    stdout_path: Path
    stderr_path: Path
    #: The run's token: a local executor puts it in the environment of the command (SCRIPTFLOW_RUN)
    #: so that a later run can find and stop its processes if this run dies (see process_groups).
    run_token: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    #: Declared outputs (absolute): cluster executors wait for them on slow shared filesystems.
    outputs: list[Union[Path, str]] = field(default_factory=list)
    #: Run the command inside this image (``container.wrap``); None: run it as is.
    container: Optional[Container] = None
    #: Variables that let the command create tasks of this run (SCRIPTFLOW_SOCKET, SCRIPTFLOW_KEY),
    #: given only to executors whose ``local_commands`` is true and only without a container (which
    #: does not see the socket): they add them to the command's environment.
    run_link: dict[str, str] = field(default_factory=dict)


@dataclass
class Started:
    """Where and when an attempt's command started (or its job was submitted): what the ledger
    shows while it runs, and what ``kill -9`` recovery needs to find it again (pid, job id)."""

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


class Reporter:
    """How an executor talks back to the engine about one attempt while it is in flight.

    The engine passes one to ``submit`` and ``reattach``. Both methods are cheap, thread-safe
    and may be called from any thread of the executor; this base class (what tests and
    tools use outside a run) accepts everything and records nothing.
    """

    def started(self, started: Started) -> None:
        """The command really started, or its job is in the scheduler: call once, before the
        future resolves, with what identifies it (pid and host, or job id and script). The
        engine records it at once, so a runner killed from now on leaves a ledger the next
        run can find the process or job from."""

    def may_start(self) -> bool:
        """Ask right before starting an attempt that waited (for a free slot, in a queue): False
        once the run is stopping (a failure without --keep-going). The attempt must then not
        start; resolve its future with ``Outcome(exit_code=None, interrupted=True, error=...)``."""
        return True


class Executor(ABC):
    """Runs attempts somewhere: the contract every executor, built in or installed, keeps.

    - ``name`` is what tasks and the configuration call it; ``settings_class`` (a frozen
      dataclass deriving from ``ExecutorSettings``) declares its settings, checked from
      ``executors.<name>`` before anything runs and kept as ``self.settings``.
    - ``submit`` returns at once; the executor's own threads run the attempt and resolve the
      future, never with an exception for a command that failed (that is an ``Outcome``).
    - Executors never open the ledger, nor write anything but the attempt's log files and
      their own files under ``state_dir``: the engine records what they report.
    """

    name: ClassVar[str]
    #: The settings ``executors.<name>`` accepts (none by default).
    settings_class: ClassVar[type[ExecutorSettings]] = ExecutorSettings
    #: Its commands run on this machine as children of the run, so they can reach the run's Unix
    #: socket: the engine then fills ``Attempt.run_link`` and the executor puts it in their environment.
    local_commands: ClassVar[bool] = False
    #: True when the thread that resolves an attempt's future may spend a little time there:
    #: the engine then records a successful outcome whose files are small on that thread (a
    #: few hundred microseconds) instead of handing it to another one. False (the default)
    #: for executors whose resolving thread watches many attempts and must not be held up.
    outcome_on_resolving_thread: ClassVar[bool] = False

    def __init__(self, settings: Mapping[str, Any], state_dir: Path) -> None:
        """``settings`` is the raw ``executors.<name>`` section (ConfigError if it is wrong);
        ``state_dir`` is ``.scriptflow/``, where an executor may keep files of its own."""
        self.settings: ExecutorSettings = self.settings_class.from_config(self.name, settings)
        self.state_dir = state_dir

    @property
    def slots(self) -> Optional[int]:
        """How many attempts run at once (None: no fixed limit)."""
        return None

    @abstractmethod
    def submit(self, attempt: Attempt, reporter: Reporter) -> "Future[Outcome]":
        """Start the attempt (or queue it) and return at once.

        Write the command's stdout and stderr to ``attempt.stdout_path``/``stderr_path`` as they
        come (the engine follows them while the attempt runs, for ``t.watch``); call
        ``reporter.started`` once it starts, and ask ``reporter.may_start`` first if it waited.
        The future's ``Outcome`` says how the attempt ended: the exit code (None if the command
        never ran), when it really started and ended and where, and an ``error`` line for
        anything but exit 0 (``interrupted=True`` after ``cancel_all``). The engine checks
        the declared outputs itself.
        """

    @abstractmethod
    def cancel_all(self, grace_seconds: float) -> None:
        """Interrupt: stop every attempt in flight, and start none of those waiting. Ask each to
        stop, wait up to ``grace_seconds``, then kill what is left; resolve every future (with
        ``interrupted=True``) before returning. Runs on its own thread."""

    def kill_now(self) -> None:
        """Second Ctrl-C: ``cancel_all`` is running; stop waiting for the grace period."""

    def reattach(self, job: RecordedJob, attempt: Attempt, reporter: Reporter) -> "Optional[Future[Outcome]]":
        """Follow ``job``, which a run that died (kill -9) submitted, instead of submitting again.

        The engine has recorded ``attempt`` with the job's log files; report through ``reporter``
        and resolve the future as for ``submit``. Return None only when nothing of the job runs
        now or will run later: the executor knows it ended (or never existed), or it cancelled
        the job and saw it end. The engine then removes the task's outputs and submits anew, so
        a None about a job that is still alive would let two jobs write the same files. When
        the executor cannot tell, it follows the job (or raises: the attempt then fails, and
        nothing is submitted). The default, for executors without jobs that outlive scriptflow
        (local processes of a dead run are killed by the next run), is None.
        """
        return None

    def release_slot(self, attempt_id: int) -> None:
        """The attempt's command waits for tasks it created (README, "Tasks that create tasks"):
        an executor limiting how many attempts run at once lets another start meanwhile."""

    def reclaim_slot(self, attempt_id: int) -> None:
        """The wait that ``release_slot`` announced is over: block until the attempt holds a slot
        again (or has ended). Called exactly once per ``release_slot``."""

    def shutdown(self) -> None:
        """Release threads and resources; called once at the end of a run, when no attempt is in
        flight (after ``cancel_all`` if the run was interrupted)."""
