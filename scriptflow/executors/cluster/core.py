"""The cluster executors' core: one queue, one monitor thread, the Executor interface.

``slurm``, ``sge`` and ``pbs`` differ only in the commands they run and the
text they parse, so everything with threads and ordering lives here once;
subclasses say how to talk to one scheduler (``directives_for``,
``submit_argv``, ``parse_job_id``, ``poll``, ``accounting``, ``cancel_argv``)
and hold no threads or state of their own.

One monitor thread per executor submits queued attempts (at most ``maxsize``
jobs in the scheduler, ``submit_rate`` a second) and follows them to their
outcome through a ``JobWatch``. One thread keeps the ordering rule simple:
an attempt's future is resolved (the engine's done-callback decides whether
the run stops) before its slot can take the next queued attempt, and
``reporter.may_start()`` is asked right before each submission, so after
a failure without --keep-going no other job reaches the scheduler.
"""
from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional, Sequence

from ...clock import utc_now
from . import arrays, jobscript
from ..base import Attempt, Executor, Outcome, RecordedJob, Reporter, Started
from .settings import ClusterSettings
from .jobwatch import Job, JobWatch
from .scheduler import Final, JobStatus, PollError
from .submission import Submission
#: How often the monitor looks at ended jobs (exit file, outputs) between scheduler polls.
_TICK = 0.25


class ClusterExecutor(Submission, Executor):
    """Submit attempts as scheduler jobs and follow them; subclasses speak one scheduler's language."""

    settings_class: ClassVar[type[ClusterSettings]] = ClusterSettings
    settings: ClusterSettings
    #: Scheduler commands shown in messages (and ``SUBMIT_COMMAND``, ``DIRECTIVE_PREFIX``: see Submission).
    STATUS_COMMAND: ClassVar[str] = "status"
    CANCEL_COMMAND: ClassVar[str] = "cancel"

    def __init__(self, settings: Mapping[str, Any], state_dir: Path) -> None:
        super().__init__(settings, state_dir)
        self.queue = self.settings.target_queue
        self.log = logging.getLogger(f"scriptflow.executors.{self.name}")
        self._host = socket.gethostname()
        self._cond = threading.Condition()
        self._submit_lock = threading.Lock()
        self._waiting: "deque[Job]" = deque()
        self._inflight: list[Job] = []
        self._stopping = threading.Event()
        self._kill_now = threading.Event()
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self._next_submit = 0.0
        #: attempts per array (1: no arrays; known once the monitor starts) and when the current
        #: gathering window opened (a queued attempt and a free slot; None: no window open)
        self._array_cap = 1
        self._window_start: Optional[float] = None
        self._watch = JobWatch(self, self._resolve)

    # -- what subclasses provide ---------------------------------------------------------

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Status of the given jobs in one query; jobs missing from the answer have ended (or are unknown)."""
        raise NotImplementedError

    def accounting(self, job_ids: Sequence[str]) -> dict[str, Final]:
        """How ended jobs ended, for those the scheduler's accounting knows (missing: not known yet)."""
        return {}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        raise NotImplementedError

    # -- running scheduler commands --------------------------------------------------------

    def run_command(self, argv: Sequence[str], timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        """Run a scheduler command; a missing program or a timeout becomes returncode 127/124 with a message."""
        try:
            return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=timeout or self.settings.command_timeout)
        except FileNotFoundError:
            return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: command not found (is it on PATH?)")
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(
                argv, 124, "", f"{argv[0]} did not answer within {timeout or self.settings.command_timeout:g} s")
        except OSError as exc:
            return subprocess.CompletedProcess(argv, 126, "", f"{argv[0]}: {exc}")

    @staticmethod
    def message(proc: subprocess.CompletedProcess) -> str:
        """The command's complaint on one line (stderr, else stdout; lines joined with '; ')."""
        lines = [" ".join(line.split()) for line in (proc.stderr or proc.stdout or "").splitlines()]
        text = "; ".join(line for line in lines if line)
        return text[:500] or "no message"

    # -- the Executor interface --------------------------------------------------------------

    @property
    def slots(self) -> int:
        return self.settings.maxsize

    def submit(self, attempt: Attempt, reporter: Reporter) -> "Future[Outcome]":
        future: "Future[Outcome]" = Future()
        job = Job(attempt, future, reporter)
        if self._stopping.is_set():
            future.set_result(Outcome(exit_code=None, error="not submitted: the run was interrupted",
                                      interrupted=True))
            return future
        with self._cond:
            self._waiting.append(job)
            self._ensure_thread()
            self._cond.notify_all()
        return future

    def reattach(self, job: RecordedJob, attempt: Attempt, reporter: Reporter) -> "Optional[Future[Outcome]]":
        rec = self._watch.adopt(job, attempt, reporter)
        if rec is None:
            self.log.info("job %s of %s is unknown to %s: submitting again", job.job_id, job.task_uid, self.name)
            return None
        self.log.info("re-attached to job %s of %s", job.job_id, job.task_uid)
        # Reported from the monitor thread, after the engine has recorded the new attempt.
        rec.announce = Started(started_at=job.started_at or utc_now(), host=self._host, job_id=job.job_id,
                               job_script=job.job_script, queue=job.queue)
        with self._cond:
            self._inflight.append(rec)
            self._ensure_thread()
            self._cond.notify_all()
        return rec.future

    def cancel_all(self, grace_seconds: float) -> None:
        """Interrupt: drop queued attempts, cancel every job in flight with one command, wait for them."""
        self._stopping.set()
        with self._submit_lock:  # no submission is in progress past this point, and none will start
            with self._cond:
                waiting = list(self._waiting)
                self._waiting.clear()
                victims = [j for j in self._inflight
                           if j.phase in ("submitted", "ended") and not j.resolved and j.job_id]
                for j in victims:
                    j.cancelling = True
                self._cond.notify_all()
        for job in waiting:
            self._resolve(job, Outcome(exit_code=None, error="not submitted: the run was interrupted",
                                       interrupted=True))
        if not victims:
            return
        ids = [j.job_id for j in victims if j.job_id]
        proc = self.run_command(self.cancel_argv(ids))
        if proc.returncode != 0:
            self.log.warning("%s of %d job(s) said: %s", self.CANCEL_COMMAND, len(ids), self.message(proc))
        else:
            self.log.info("cancelled %d job(s): %s", len(ids), " ".join(ids))
        deadline = time.monotonic() + grace_seconds
        remaining = list(ids)
        while remaining and time.monotonic() < deadline and not self._kill_now.is_set():
            try:
                statuses = self.poll(remaining)
            except PollError:
                statuses = {i: JobStatus("unknown", live=True) for i in remaining}
            remaining = [i for i in remaining if (st := statuses.get(i)) is not None and st.live]
            if remaining:
                self._kill_now.wait(0.3)
        if remaining:
            self.log.warning("job(s) still listed by the scheduler after cancelling: %s", " ".join(remaining))
        ended = utc_now()
        for job in victims:  # a job in the scheduler counts as started (the ledger says so since started())
            started_at, host = job.ran(jobscript.read_exit_file(job.exit_path) if job.exit_path else None)
            self._resolve(job, Outcome(exit_code=None, started_at=started_at or ended, ended_at=ended, host=host,
                                       interrupted=True,
                                       error=f"interrupted: job {job.job_id} cancelled ({self.CANCEL_COMMAND})"))

    def kill_now(self) -> None:
        self._kill_now.set()

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            busy = bool(self._waiting or any(not j.resolved for j in self._inflight))
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and not busy:
            thread.join(timeout=10)

    # -- the monitor thread ------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._monitor, name=f"sf-{self.name}-monitor", daemon=True)
            self._thread.start()

    def _monitor(self) -> None:
        try:
            cap = self.array_capacity()
        except Exception:  # noqa: BLE001 - arrays are an optimisation: without them, plain jobs
            self.log.exception("%s: cannot tell whether job arrays may be used: submitting plain jobs", self.name)
            cap = 1
        with self._cond:
            self._array_cap = max(1, cap)
        while True:
            with self._cond:
                while True:
                    if self._closed and not self._waiting and not self._inflight:
                        return
                    wait = self._next_wake(time.monotonic())
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the monitor must survive its own bugs
                self.log.exception("%s monitor: internal error (continuing)", self.name)
                time.sleep(self.settings.poll_interval)

    def _next_wake(self, now: float) -> Optional[float]:
        """Seconds until the monitor has something to do (None: until notified). Holds ``_cond``."""
        waits = []
        if self._waiting and not self._stopping.is_set() and self._room():
            waits.append(max(self._next_submit - now, self._batch_wait(now)))
        active = [j for j in self._inflight if not j.cancelling and not j.resolved]
        if any(j.announce is not None for j in active):
            waits.append(0.0)
        if any(j.phase == "submitted" for j in active):
            waits.append(self._watch.next_poll - now)
        if any(j.phase in ("ended", "finishing") for j in active):
            waits.append(self._watch.next_tick - now)
        return min(waits) if waits else None

    def _room(self) -> bool:
        return len(self._inflight) < self.settings.maxsize

    def _batch_wait(self, now: float) -> float:
        """Seconds until the queued attempts go out (<= 0: now). Holds ``_cond``; call only with
        attempts waiting and a free slot.

        Without arrays, at once. With arrays, at once if a full array can go (``cap`` attempts are
        waiting and ``cap`` slots are free, ``cap`` = the array size bounded by ``maxsize``), else
        ``array_window`` seconds after the window opened: the first moment an attempt waited and a
        slot was free. So a fan-out goes out as few arrays, and a full ``maxsize`` refills with one
        submission per window, not one per finished job.
        """
        cap = min(self._array_cap, self.settings.maxsize)
        if cap <= 1 or (len(self._waiting) >= cap and self.settings.maxsize - len(self._inflight) >= cap):
            return 0.0
        if self._window_start is None:
            self._window_start = now
        return self._window_start + self.array_window() - now

    def _tick(self) -> None:
        with self._submit_lock:  # see _submit_ready: never after cancel_all resolved the job
            with self._cond:
                announce = [j for j in self._inflight if j.announce is not None and not j.cancelling]
            for job in announce:
                started, job.announce = job.announce, None
                if started is not None:
                    job.reporter.started(started)
        self._submit_ready()
        now = time.monotonic()
        if now >= self._watch.next_poll:
            self._watch.poll(self._jobs("submitted", "ended"), now)
        if now >= self._watch.next_tick:
            self._watch.next_tick = now + _TICK
            self._watch.check_ended(self._jobs("ended"))
            self._watch.check_finishing(self._jobs("finishing", cancelling=True))

    def _jobs(self, *phases: str, cancelling: bool = False) -> list[Job]:
        """In-flight jobs in one of ``phases`` (those being cancelled only if ``cancelling``)."""
        with self._cond:
            return [j for j in self._inflight if j.phase in phases and (cancelling or not j.cancelling)]

    # -- submission -----------------------------------------------------------------------

    def _submit_ready(self) -> None:
        """Submit queued attempts while there is room, as arrays where they can share one. This
        thread also resolves every outcome the watch decides (see ``_resolve``), so a failure's
        done-callback has run before we get here."""
        while True:
            outcomes: dict[Job, Outcome] = {}
            refused: list[Job] = []
            with self._submit_lock:
                with self._cond:
                    if self._stopping.is_set() or not self._waiting or not self._room():
                        return
                    now = time.monotonic()
                    if now < self._next_submit or self._batch_wait(now) > 0:
                        return
                    room = self.settings.maxsize - len(self._inflight)
                    batch = arrays.take_group(self._waiting, self.group_key, min(self._array_cap, room))
                    going = []
                    for job in batch:  # False once the run stops (a failure, no --keep-going)
                        if job.reporter.may_start():
                            job.phase = "submitting"
                            self._inflight.append(job)
                            going.append(job)
                        else:
                            refused.append(job)
                    if not self._waiting or not self._room():
                        # The next attempts wait for a window of their own; those still queued
                        # behind other options next to free slots have waited theirs already.
                        self._window_start = None
                if going:
                    interval = 1.0 / self.settings.submit_rate if self.settings.submit_rate > 0 else 0.0
                    self._next_submit = time.monotonic() + interval
                    outcomes = self.submit_jobs(going)
                    for job in going:
                        if job not in outcomes:
                            # The job id reaches the ledger at once, and before any cancel_all can resolve
                            # the job (it waits for this lock), so "running" never overwrites "interrupted".
                            job.reporter.started(Started(started_at=job.submitted_at or utc_now(),
                                                         host=self._host, job_id=job.job_id,
                                                         job_script=str(job.script), queue=job.queue))
            for job in refused:
                self._resolve(job, Outcome(exit_code=None, error="not submitted: the run was stopping",
                                           interrupted=True))
            for job, outcome in outcomes.items():
                self._resolve(job, outcome)

    def _resolve(self, job: Job, outcome: Outcome) -> None:
        """Resolve the attempt's future, then free its slot: in that order, on the calling thread.

        The engine's done-callback decides synchronously whether the run stops (what
        ``reporter.may_start`` answers after a failure without --keep-going). Only once it has
        run may this job's slot take the next queued attempt; resolving on another thread, or
        freeing the slot first, would let the monitor submit a job the engine no longer wants.
        """
        with self._cond:
            if job.resolved:
                return
            job.resolved = True  # it stays in _inflight, holding its slot, until the callback has run
        try:
            job.future.set_result(outcome)
        finally:
            with self._cond:
                if job in self._inflight:
                    self._inflight.remove(job)
                self._cond.notify_all()
