"""Following submitted jobs to their outcome: status polls, exit files, accounting, late outputs.

Submitting a job is one command; knowing how it ended is where clusters are
unreliable. The scheduler stops listing a job before its exit file shows on
a shared filesystem, a killed job writes no exit file (only accounting
knows), the status command fails for minutes while the controller restarts,
and declared outputs appear seconds after the job ended. Those rules live
here, apart from the submission queue and the thread in ``core.py``, so
that each can be read and changed in one place. The watch knows the
executor only as a ``SchedulerClient`` (``scheduler.py``).

A ``JobWatch`` runs on the executor's monitor thread (``adopt``, which only
asks, runs on the engine's when a resumed run re-attaches to a job). It is
given the jobs to look at, moves them through their phases (submitted ->
ended -> finishing) and hands every decided outcome to ``resolve``, which
belongs to the core because resolving also frees the job's slot.
"""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ...clock import utc_now
from ..base import Attempt, Outcome, RecordedJob, Reporter, Started
from ..outputs import missing_outputs, refresh_dir
from .jobscript import epoch_to_text, exit_path_for, read_exit_file
from .scheduler import Final, JobStatus, PollError, SchedulerClient


@dataclass(eq=False)
class Job:
    """One attempt of a cluster executor, from its place in the queue to its resolved future."""

    attempt: Attempt
    future: "Future[Outcome]"
    reporter: Reporter
    script: Optional[Path] = None
    exit_path: Optional[Path] = None
    job_id: Optional[str] = None
    submitted_at: Optional[str] = None
    queue: Optional[str] = None
    #: waiting (in scriptflow's queue) | submitting | submitted (in the scheduler) | ended (no longer
    #: listed) | finishing (outcome known, outputs awaited)
    phase: str = "waiting"
    seen_running: bool = False
    gone_at: Optional[float] = None
    next_accounting: float = 0.0
    final: Optional[Final] = None
    outcome: Optional[Outcome] = None
    outcome_at: float = 0.0
    announce: Optional[Started] = None
    cancelling: bool = False
    resolved: bool = False
    #: the options it must share with others to go in one job array (None: alone), once computed
    group: Optional[tuple[str, ...]] = None
    grouped: bool = False

    def ran(self, info: Optional[dict[str, str]]) -> tuple[Optional[str], Optional[str]]:
        """When and where the command really ran, from its exit file ``info``; without one, the
        submission time and no host (the ledger then keeps the submitting machine)."""
        if info is None:
            return self.submitted_at, None
        return epoch_to_text(info.get("started")) or self.submitted_at, info.get("host") or None


class JobWatch:
    """Decides how the jobs of one cluster executor ended; see the module docstring."""

    def __init__(self, scheduler: SchedulerClient, resolve: Callable[[Job, Outcome], None]) -> None:
        self.scheduler = scheduler
        self.resolve = resolve
        #: monotonic times of the next status query and of the next look at ended jobs
        self.next_poll = 0.0
        self.next_tick = 0.0
        self._failures = 0
        self._failing_since: Optional[float] = None

    def adopt(self, recorded: RecordedJob, attempt: Attempt, reporter: Reporter) -> Optional[Job]:
        """A job a dead run submitted, in the phase it has now (exit file, status query, accounting),
        for ``attempt`` to follow; None only when the scheduler no longer lists it and neither it nor
        an exit file says it might still run (what ``Executor.reattach`` promises by None). A status
        query that fails is no such proof: the job is followed. Runs on the engine's thread: it only asks."""
        sch = self.scheduler
        script = Path(recorded.job_script) if recorded.job_script else None
        exit_path = exit_path_for(script) if script else None
        job = Job(attempt, Future(), reporter, script=script, exit_path=exit_path, job_id=recorded.job_id,
                  submitted_at=recorded.started_at, queue=recorded.queue, phase="submitted")
        if exit_path is not None and read_exit_file(exit_path) is not None:
            return job
        try:
            status = sch.poll([recorded.job_id]).get(recorded.job_id)
        except PollError as exc:
            # Cannot tell: follow it (the monitor's failure tolerance applies) rather than risk
            # a second job writing the same outputs.
            sch.log.warning("re-attaching to job %s of %s without knowing its state: %s",
                            recorded.job_id, recorded.task_uid, exc)
            status = JobStatus("unknown", live=True)
        if status is not None:
            if not status.live:
                job.phase, job.gone_at, job.final = "ended", time.monotonic(), status.final
            return job
        final = self.accounting([recorded.job_id]).get(recorded.job_id)
        if final is None:
            return None
        job.phase, job.gone_at, job.final = "ended", time.monotonic() - sch.settings.output_latency, final
        return job

    def poll(self, jobs: list[Job], now: float) -> None:
        """One status query covering ``jobs`` (those submitted or ended, not being cancelled)."""
        sch = self.scheduler
        if not any(j.phase == "submitted" for j in jobs):
            self.next_poll = now + sch.settings.poll_interval
            return
        for job in jobs:  # an exit file is the answer, whatever the scheduler says
            self.take_exit_file(job, refresh=False)
        jobs = [j for j in jobs if j.phase in ("submitted", "ended") and j.job_id]
        if not jobs:
            self.next_poll = now + sch.settings.poll_interval
            return
        try:
            statuses = sch.poll([j.job_id for j in jobs if j.job_id])
        except PollError as exc:
            self._poll_failed(jobs, str(exc), now)
            return
        if self._failures:
            sch.log.info("%s answers again after %d failed quer%s", sch.STATUS_COMMAND, self._failures,
                         "y" if self._failures == 1 else "ies")
        self._failures, self._failing_since = 0, None
        self.next_poll = time.monotonic() + sch.settings.poll_interval
        broken: list[tuple[Job, str]] = []
        for job in jobs:
            status = statuses.get(job.job_id or "")
            if status is not None and status.live:
                job.phase, job.gone_at = "submitted", None
                job.seen_running = job.seen_running or status.running
                if status.error:
                    broken.append((job, status.error))
            elif job.phase == "submitted":
                job.phase, job.gone_at = "ended", time.monotonic()
                job.final = status.final if status is not None else None
        if broken:
            ids = [j.job_id for j, _ in broken if j.job_id]
            proc = sch.run_command(sch.cancel_argv(ids))
            if proc.returncode != 0:
                sch.log.warning("%s %s said: %s", sch.CANCEL_COMMAND, " ".join(ids), sch.message(proc))
            for job, error in broken:
                self.decide(job, Outcome(exit_code=None, error=f"job {job.job_id}: {error}; deleted it"))

    def _poll_failed(self, jobs: list[Job], error: str, now: float) -> None:
        sch = self.scheduler
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = now
        failing_for = now - self._failing_since
        delay = min(sch.settings.poll_interval * 1.5 ** self._failures, max(sch.settings.poll_interval, 60.0))
        self.next_poll = now + delay
        if failing_for >= sch.settings.poll_failure_timeout:
            lost = [j for j in jobs if j.phase == "submitted"]
            sch.log.error("%s has failed for %.0f s (%s): failing %d job(s)", sch.STATUS_COMMAND, failing_for,
                          error, len(lost))
            ids = [j.job_id for j in lost if j.job_id]
            if ids:  # best effort: a retry must not run next to a job that is still alive
                sch.run_command(sch.cancel_argv(ids))
            for job in lost:
                self.decide(job, Outcome(
                    exit_code=None, error=f"lost track of job {job.job_id}: {sch.STATUS_COMMAND} failed for "
                                          f"{failing_for:.0f} s (poll_failure_timeout): {error}"))
            self._failing_since = now  # the next jobs get a full timeout of their own
            return
        sch.log.warning("%s failed (%d in a row, %.0f s of %g s allowed), retrying in %.1f s: %s",
                        sch.STATUS_COMMAND, self._failures, failing_for, sch.settings.poll_failure_timeout, delay,
                        error)

    def take_exit_file(self, job: Job, refresh: bool) -> bool:
        """Decide ``job`` from its exit file if it is there (True)."""
        if job.exit_path is None or job.phase not in ("submitted", "ended"):
            return False
        if refresh:
            refresh_dir(job.exit_path.parent)
        info = read_exit_file(job.exit_path)
        if info is None:
            return False
        code = int(info["exit_code"])
        error = info.get("error") or (None if code == 0 else f"exit code {code}")
        started_at, host = job.ran(info)
        self.decide(job, Outcome(exit_code=code, started_at=started_at, host=host,
                                 ended_at=epoch_to_text(info.get("ended")) or utc_now(), error=error))
        return True

    def check_ended(self, ended: list[Job]) -> None:
        """Jobs the scheduler no longer lists: wait for the exit file, then ask accounting."""
        if not ended:
            return
        sch = self.scheduler
        now = time.monotonic()
        for folder in {j.exit_path.parent for j in ended if j.exit_path is not None}:
            refresh_dir(folder)  # once per folder, not once per job
        ask: list[Job] = []
        for job in ended:
            if self.take_exit_file(job, refresh=False):
                continue
            waited = now - (job.gone_at or now)
            if waited < sch.settings.output_latency:
                continue
            if job.final is not None:
                self.decide_final(job, job.final)
            elif waited > sch.settings.output_latency + max(30.0, 6 * sch.settings.poll_interval):
                self.decide(job, Outcome(
                    exit_code=None, started_at=job.submitted_at if job.seen_running else None, ended_at=utc_now(),
                    error=f"job {job.job_id} ended without writing its exit file ({job.exit_path}) and "
                          f"the scheduler's accounting does not know how it ended"))
            elif now >= job.next_accounting:
                job.next_accounting = now + max(sch.settings.poll_interval, 1.0)
                ask.append(job)
        if ask:
            finals = self.accounting([j.job_id for j in ask if j.job_id])
            for job in ask:
                final = finals.get(job.job_id or "")
                if final is not None and not self.take_exit_file(job, refresh=True):
                    self.decide_final(job, final)

    def accounting(self, ids: list[str]) -> dict[str, Final]:
        """The scheduler's accounting of ``ids``; a failing query is logged and answers nothing."""
        if not ids:
            return {}
        try:
            return self.scheduler.accounting(ids)
        except PollError as exc:
            self.scheduler.log.warning("accounting query for %s failed: %s", " ".join(ids), exc)
            return {}

    def decide_final(self, job: Job, final: Final) -> None:
        if final.exit_code == 0 and final.error is None:
            self.scheduler.log.warning("job %s ended (%s) without an exit file at %s: taking the scheduler's word",
                                       job.job_id, final.state, job.exit_path)
        self.decide(job, Outcome(exit_code=final.exit_code, started_at=job.submitted_at, ended_at=utc_now(),
                                 error=final.error))

    def decide(self, job: Job, outcome: Outcome) -> None:
        job.outcome, job.outcome_at, job.phase = outcome, time.monotonic(), "finishing"
        self.check_finishing([job])

    def check_finishing(self, jobs: list[Job]) -> None:
        """Resolve jobs whose outcome is known once their outputs are visible (or the latency has passed)."""
        now = time.monotonic()
        for job in jobs:
            outcome = job.outcome
            assert outcome is not None
            if outcome.exit_code == 0 and outcome.error is None:
                missing = missing_outputs(job.attempt.outputs)
                if missing and now - job.outcome_at < self.scheduler.settings.output_latency:
                    continue
            self.resolve(job, outcome)
