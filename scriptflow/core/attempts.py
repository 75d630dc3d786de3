"""The attempts of a task: launching them on an executor, re-attaching, and handling outcomes.

A mixin of ``Engine`` (``core/engine.py``), which owns the tasks, the
decisions and finishing; this part turns a decided task into attempts and an
attempt's outcome back into a retry, a failure or a success. The attributes
and methods it uses from the engine are declared below for the type checker.
"""
from __future__ import annotations

import logging
import os
import stat
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from ..executors.base import Attempt, Executor, Outcome, RecordedJob, Reporter, Started
from ..executors.outputs import OutputPattern
from ..names import file_stem
from ..project import Project
from .fingerprint import FileHash, FileHasher
from .outcome import changed_input, changed_input_error, outcome_error
from .outputs import remove_outputs
from .recorder import RunRecorder
from .runstate import Listener, RunOptions, TaskRecord
from .spec import TaskSpec
from .watching import Watcher

log = logging.getLogger("scriptflow.engine")


#: An attempt whose inputs and outputs hold at most this many bytes is recorded where it ended.
INLINE_RECORD_BYTES = 1 << 20


def small_files(spec: TaskSpec, input_hashes: Optional[Mapping[str, Optional[FileHash]]] = None) -> bool:
    """Whether the task's inputs and outputs are files (or missing) of at most
    ``INLINE_RECORD_BYTES`` together: what recording an attempt's success may read.

    An input hashed when the task was decided (``input_hashes``) counts with that size, without
    a ``stat``: the budget only chooses the thread that records the success (an input changed
    since is read again either way, ``changed_input``)."""
    budget = INLINE_RECORD_BYTES
    known = input_hashes or {}
    paths: list[Any] = []
    for name, path in spec.input_abs.items():
        if name in known:
            hashed = known[name]
            if hashed is not None:
                if hashed.sha256.startswith("dir:"):
                    return False
                budget -= hashed.size
        else:
            paths.append(path)
    if budget < 0:
        return False
    for path in (*paths, *spec.output_abs.values()):
        if isinstance(path, OutputPattern):  # any number of files
            return False
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            return False
        budget -= st.st_size
        if budget < 0:
            return False
    return True


class _AttemptReporter(Reporter):
    """What an executor reports about one attempt of this engine (the contract is ``Reporter``'s)."""

    def __init__(self, engine: "AttemptHandling", record: TaskRecord, attempt: Attempt) -> None:
        self._engine, self._record, self._attempt = engine, record, attempt

    def started(self, started: Started) -> None:
        self._engine._attempt_started(self._record, self._attempt, started)

    def may_start(self) -> bool:
        return not self._engine.stopping


class AttemptHandling:
    """Launching attempts and handling their outcomes (see the module docstring)."""

    # Provided by Engine.
    project: Project
    options: RunOptions
    run_id: int
    record: RunRecorder
    hasher: FileHasher
    listener: Listener
    stopping: bool
    interrupted: bool
    _lock: threading.RLock
    in_pool: Callable[..., None]
    executor: Callable[[str], Executor]
    _finish: Callable[..., None]
    _guard: Callable[..., None]
    _decide: Callable[[TaskRecord], None]
    _write_row: Callable[[TaskRecord], None]
    _ready: Callable[[TaskRecord], None]
    running_attempts: dict[int, TaskRecord]
    run_link: Optional[Callable[[int], dict[str, str]]]
    _watch: Optional[Watcher]
    #: The run's logs folder and its ledger spelling (``_logs_folder``).
    _logs: Optional[tuple[Path, str]] = None

    def _launch(self, record: TaskRecord) -> None:
        spec = record.spec
        with self._lock:
            if self.stopping:
                stop = True
            else:
                stop = False
                record.status = "running"
                record.attempts += 1
        if stop:
            self._finish(record, "not-started", reason="run-stopping")
            return
        number = record.attempts
        logs, logs_rel = self._logs_folder()
        stem = f"{file_stem(spec.uid)}.{number}"
        out_name, err_name = f"{stem}.out", f"{stem}.err"
        attempt = Attempt(
            run_id=self.run_id, attempt_id=self.record.new_attempt_id(), task_uid=spec.uid, number=number,
            command=spec.command, shell=spec.shell, cwd=spec.cwd, env=spec.env,
            stdout_path=logs / out_name, stderr_path=logs / err_name, run_token=self.options.run_token,
            resources=spec.resources, outputs=[spec.output_abs[p] for p in spec.outputs], container=spec.container,
        )
        executor = self.executor(spec.executor)
        if self.run_link is not None and executor.local_commands and attempt.container is None:
            attempt.run_link = self.run_link(attempt.attempt_id)  # its script may create tasks
        reporter = _AttemptReporter(self, record, attempt)
        job = self._recorded_job(record, attempt)
        own_logs = attempt.stdout_path, attempt.stderr_path
        if job is not None:  # whatever the executor reports about it lands on the row recorded below
            attempt.stdout_path, attempt.stderr_path = job.stdout_path, job.stderr_path
        self._record_attempt(record, attempt,  # the only INSERT of this attempt
                             None if job is not None else (f"{logs_rel}/{out_name}", f"{logs_rel}/{err_name}"))
        future = self._reattach(record, attempt, executor, job, reporter) if job is not None else None
        if future is None:
            if job is not None:  # the executor cannot follow the job: the attempt gets its own log files
                attempt.stdout_path, attempt.stderr_path = own_logs
                record.stderr_path = self.project.relative(attempt.stderr_path)
                self.record.attempt_logs(attempt)
            remove_outputs(spec, self.project)
            try:
                self.running_attempts[attempt.attempt_id] = record
                future = executor.submit(attempt, reporter)
            except Exception as exc:  # noqa: BLE001 - an executor that cannot take work fails the attempt
                future = Future()
                future.set_result(Outcome(exit_code=None, error=f"submission failed: {exc}"))
        if spec.watches:  # before the callback below, which may run at once
            self._watcher().add(attempt.attempt_id, spec.uid, number,
                                {"stdout": attempt.stdout_path, "stderr": attempt.stderr_path}, spec.watches,
                                record.task)
        here = executor.outcome_on_resolving_thread
        future.add_done_callback(lambda fut: self._attempt_future_done(record, attempt, fut, here))

    def _attempt_future_done(self, record: TaskRecord, attempt: Attempt, future: "Future[Outcome]",
                             here: bool = False) -> None:
        """On the executor's thread: decide at once whether the run must stop (so the slot this
        frees does not start a queued attempt), then handle the outcome: on this thread when
        the executor allows it (``here``) and the attempt exited 0 with small files (hashing
        them costs less than handing the task to another thread), else in the prepare pool."""
        self.running_attempts.pop(attempt.attempt_id, None)  # its command can create no more tasks
        inline = False
        try:
            if not future.cancelled() and not future.exception():
                outcome = future.result()
                if not self.options.keep_going and record.attempts > record.spec.retry and not outcome.interrupted \
                        and outcome_error(record.spec, outcome) is not None:
                    self.stopping = True
                inline = (here and outcome.exit_code == 0 and outcome.error is None and not outcome.interrupted
                          and not self.stopping and small_files(record.spec, record.input_hashes))
        finally:  # whatever that check raises, the outcome is handled (and the task ends): no hang
            if inline:
                self._guard(self._attempt_done, record, attempt, future)
            else:
                self.in_pool(self._attempt_done, record, attempt, future)

    def _recorded_job(self, record: TaskRecord, attempt: Attempt) -> Optional[RecordedJob]:
        """The job a dead run left in the scheduler for this task, if it computes exactly this
        task (same fingerprint) on the same executor; only a task's first attempt re-attaches."""
        job = self.options.reattach.pop(record.spec.uid, None) if attempt.number == 1 else None
        if job is None or job.fingerprint != record.fingerprint or job.executor != record.spec.executor:
            return None
        return job

    def _reattach(self, record: TaskRecord, attempt: Attempt, executor: Executor, job: RecordedJob,
                  reporter: Reporter) -> "Optional[Future[Outcome]]":
        """Ask the executor to follow ``job`` for ``attempt`` (already recorded, with the job's logs).

        None means what ``Executor.reattach`` promises: nothing of the job runs or will write the
        task's outputs, so the caller submits anew. An executor that raises could not tell
        whether the job still runs: the attempt fails with the reason rather than putting a
        second job next to one that may be alive.
        """
        try:
            future = executor.reattach(job, attempt, reporter)
        except Exception as exc:  # noqa: BLE001 - an executor bug or a scheduler it cannot ask
            log.exception("re-attaching to job %s of %s failed", job.job_id, record.spec.uid)
            future = Future()
            future.set_result(Outcome(exit_code=None, error=f"cannot re-attach to job {job.job_id}: {exc}"))
            return future
        if future is not None:
            self.record.event("reattach", record.spec.uid, {"job_id": job.job_id})
        return future

    def _record_attempt(self, record: TaskRecord, attempt: Attempt,
                        logs: Optional[tuple[str, str]] = None) -> None:
        """``logs``: the ledger's spelling of the attempt's two log files, when known already."""
        if logs is None:
            logs = self.project.relative(attempt.stdout_path), self.project.relative(attempt.stderr_path)
        record.stderr_path = logs[1]
        self.record.attempt_queued(record.id, record.spec, attempt, logs)

    def _logs_folder(self) -> tuple[Path, str]:
        """The run's logs folder and the ledger's spelling of it, worked out by the first attempt
        (a log's path is then two string joins, not a path's resolution per attempt and file)."""
        folder = self._logs
        if folder is None:
            logs = self.project.logs_dir(self.run_id)
            folder = self._logs = (logs, self.project.relative(logs))
        return folder

    def _attempt_started(self, record: TaskRecord, attempt: Attempt, started: Started) -> None:
        self.record.attempt_started(attempt, started)
        self.listener.attempt_started(record, attempt)

    def _watcher(self) -> Watcher:
        """The run's follower of watched attempts, created by the first one."""
        with self._lock:
            if self._watch is None:
                self._watch = Watcher(self.run_id, lambda uid, detail: self.record.event("watch", uid, detail),
                                      self.options.warn)
            return self._watch

    def _attempt_done(self, record: TaskRecord, attempt: Attempt, future: "Future[Outcome]") -> None:
        if record.done:  # abandoned (``abandon``): recorded interrupted already; a late report changes nothing
            return
        spec = record.spec
        if spec.watches:  # every match delivered and recorded before the outcome (and the future)
            self._watcher().finish(attempt.attempt_id)
        try:
            outcome = future.result()
        except Exception as exc:  # noqa: BLE001 - executor bug: fail the attempt, keep the run
            outcome = Outcome(exit_code=None, error=f"executor error: {exc!r}")
        record.exit_code = outcome.exit_code
        if outcome.interrupted or (self.interrupted and outcome.exit_code != 0):
            never_ran = outcome.started_at is None
            if not never_ran:
                remove_outputs(spec, self.project)
            self.record.attempt_ended(attempt, "not-started" if never_ran else "interrupted", outcome,
                              outcome.error or "interrupted")
            self._finish(record, "not-started" if never_ran else "interrupted",
                         reason="run-stopping" if never_ran else None, error="interrupted")
            return
        error = outcome_error(spec, outcome)
        changed = changed_input(self.hasher, spec, record.input_hashes)
        if changed is not None and error is None:
            error = changed_input_error(changed)
        if error is None:
            hashes = [(p, self.hasher.hash(spec.output_abs[p])) for p in spec.outputs]
            self.record.attempt_succeeded(record.id, attempt, outcome, hashes)
            self._finish(record, "succeeded")
            return
        remove_outputs(spec, self.project)
        with self._lock:
            will_retry = record.attempts <= spec.retry and not self.stopping
        self.record.attempt_ended(attempt, "timed-out" if outcome.timed_out else "failed", outcome, error)
        record.error = error
        self.listener.attempt_failed(record, attempt, outcome, will_retry)
        if will_retry:
            self.record.event("retry", spec.uid, {"after_attempt": attempt.number, "error": error})
            if changed is not None:
                self._ready(record)  # hash the inputs again: the next attempt reads their new content
            else:
                self._launch(record)
            return
        reason = f"input-changed-while-running:{changed}" if changed is not None else None
        self._finish(record, "failed", reason=reason, error=error)

    # -- finishing -------------------------------------------------------------------------
