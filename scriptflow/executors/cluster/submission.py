"""Writing job scripts and submitting them: one attempt as a plain job, or several as one job array.

Part of ``ClusterExecutor`` (``core`` mixes this in), kept apart from the
monitor thread and its ordering rules: this is everything that turns
attempts into scheduler commands and job ids, and nothing that decides when.
A scheduler subclass says how its commands look (``directives_for``,
``submit_argv``, ``parse_job_id``, and for arrays ``array_*``).

Whatever way an attempt is submitted, it gets its own job script (its own
command, environment and ``.exit`` file), its own logs and its own job id:
``123`` for a plain job, ``123_4`` (SLURM) or ``123.4`` (Grid Engine) for
element 4 of array 123. A failed
submission fails every attempt it carried, each with the scheduler's
message in its stderr log, and each task's ``retry`` decides what follows.
"""
from __future__ import annotations

import logging
import re
import shlex
import subprocess
from pathlib import Path
from typing import ClassVar, Optional, Sequence

from ...clock import utc_now
from ...names import safe_text
from . import arrays, jobscript
from ..base import Attempt, Outcome
from .jobwatch import Job
from .resources import Resources
from .settings import ArraySettings, ClusterSettings

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Submission:
    """Turning attempts into submitted jobs (a mixin of ``ClusterExecutor``)."""

    settings: ClusterSettings
    state_dir: Path
    queue: Optional[str]
    log: logging.Logger
    DIRECTIVE_PREFIX: ClassVar[str] = "#"
    SUBMIT_COMMAND: ClassVar[str] = "submit"
    #: The environment variable holding an array element's index (empty: no arrays).
    ARRAY_INDEX_VARIABLE: ClassVar[str] = ""
    #: The index of an array's first element (SLURM 0, Grid Engine 1).
    ARRAY_FIRST_INDEX: ClassVar[int] = 0

    # -- what subclasses provide ---------------------------------------------------------

    def directives_for(self, res: Resources, attempt: Attempt, job_name: str) -> list[str]:
        """Scheduler options for the script header (without the prefix)."""
        raise NotImplementedError

    def submit_argv(self, script: Path, attempt: Attempt) -> list[str]:
        raise NotImplementedError

    def parse_job_id(self, stdout: str) -> str:
        """The job id from the submit command's output; ValueError if there is none."""
        raise NotImplementedError

    def log_note(self) -> str:
        return "stdout/stderr paths are given to the scheduler on its command line"

    #: The command showing the cluster's largest array (empty: this scheduler gets no arrays), the
    #: name of that limit, and what is assumed when the command does not say.
    ARRAY_LIMIT_COMMAND: ClassVar[tuple[str, ...]] = ()
    ARRAY_LIMIT_NAME: ClassVar[str] = ""
    DEFAULT_ARRAY_LIMIT: ClassVar[int] = 1

    def parse_array_limit(self, stdout: str) -> Optional[int]:
        """The most elements one array may have, from ``ARRAY_LIMIT_COMMAND``'s output; None if it
        does not say."""
        raise NotImplementedError

    def array_capacity(self) -> int:
        """How many attempts one array may hold (1: this scheduler or its settings want no arrays):
        ``array_max``, bounded by the cluster's limit. Asked once, on the monitor thread, before
        the first submission."""
        settings = self.settings
        if not (self.ARRAY_LIMIT_COMMAND and isinstance(settings, ArraySettings) and settings.arrays
                and settings.array_max > 1):
            return 1
        proc = self.run_command(self.ARRAY_LIMIT_COMMAND)
        limit = self.parse_array_limit(proc.stdout) if proc.returncode == 0 else None
        if limit is None:
            self.log.info("%s gave no %s (%s): assuming %d", " ".join(self.ARRAY_LIMIT_COMMAND),
                          self.ARRAY_LIMIT_NAME, self.message(proc), self.DEFAULT_ARRAY_LIMIT)
            limit = self.DEFAULT_ARRAY_LIMIT
        return max(1, min(settings.array_max, limit))

    def array_window(self) -> float:
        """Seconds queued attempts wait for others to share their array (see ``core``)."""
        return self.settings.array_window if isinstance(self.settings, ArraySettings) else 0.0

    def array_header(self, directives: Sequence[str], name: str) -> list[str]:
        """The array's header options: an element's ``directives`` under the array's job ``name``."""
        raise NotImplementedError

    def array_log_pattern(self, log_stem: Path, suffix: str) -> str:
        """The element log path given to the scheduler: ``log_stem``, the element's index in the
        scheduler's own placeholder, then ``suffix`` (``.out``)."""
        raise NotImplementedError

    def array_submit_argv(self, script: Path, count: int, stdout_pattern: str, stderr_pattern: str) -> list[str]:
        raise NotImplementedError

    def array_element_id(self, array_id: str, index: int) -> str:
        """The job id of the element numbered ``index`` (from ``ARRAY_FIRST_INDEX``)."""
        raise NotImplementedError

    def run_command(self, argv: Sequence[str], timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        raise NotImplementedError

    def message(self, proc: subprocess.CompletedProcess) -> str:
        raise NotImplementedError

    # -- job scripts ---------------------------------------------------------------------

    def _script_path(self, attempt: Attempt) -> Path:
        return jobscript.script_path(self.state_dir, attempt)

    def job_name(self, attempt: Attempt) -> str:
        return "sf-" + (safe_text(attempt.task_uid) or "task")

    def _resources(self, attempt: Attempt) -> tuple[dict, Resources]:
        resources = dict(attempt.resources)
        if self.settings.walltime is not None and resources.get("time") is None:
            resources["time"] = self.settings.walltime
        return resources, Resources.from_task(resources)

    def directives(self, attempt: Attempt) -> list[str]:
        """Every header option of the attempt's job (ValueError for unreadable resources)."""
        _, res = self._resources(attempt)
        return [*self.directives_for(res, attempt, self.job_name(attempt)), *self.settings.directives,
                *res.directives]

    def group_key(self, job: Job) -> Optional[tuple[str, ...]]:
        """What ``job`` must share with others to go in one array (None: it goes alone)."""
        if not job.grouped:
            job.grouped = True
            try:
                job.group = arrays.group_key(self.directives(job.attempt), self.queue)
            except ValueError:
                job.group = None  # its submission reports the error, alone
        return job.group

    def write_script(self, attempt: Attempt, script: Path) -> None:
        """Check the task's resources and environment, and write its job script (ValueError, OSError)."""
        resources, _ = self._resources(attempt)
        bad = [name for name in attempt.env if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"environment variable name {bad[0]!r} cannot be exported by a job script")
        text = jobscript.render_job_script(
            attempt, shell=self.settings.shell, directive_prefix=self.DIRECTIVE_PREFIX,
            directives=self.directives(attempt), exit_path=jobscript.exit_path_for(script),
            modules=self.settings.modules, setup=self.settings.setup + list(resources.get("setup") or []),
            log_note=self.log_note())
        attempt.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        attempt.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        jobscript.write_script(script, text)

    def _prepare(self, job: Job) -> Optional[Outcome]:
        """Write the job's own script; an Outcome when that failed (the engine retries per task)."""
        attempt = job.attempt
        script = self._script_path(attempt)
        try:
            jobscript.exit_path_for(script).unlink(missing_ok=True)
            self.write_script(attempt, script)
        except ValueError as exc:
            return Outcome(exit_code=None, error=f"cannot submit {attempt.task_uid}: {exc}")
        except OSError as exc:
            return Outcome(exit_code=None, error=f"cannot write job script {script}: {exc}")
        job.script, job.exit_path, job.queue = script, jobscript.exit_path_for(script), self.queue
        return None

    # -- submitting ------------------------------------------------------------------------

    def submit_jobs(self, jobs: Sequence[Job]) -> dict[Job, Outcome]:
        """Submit ``jobs`` with one command (an array when there are several); the outcome of each
        that did not reach the scheduler. The others have a job id and phase ``submitted``."""
        failed: dict[Job, Outcome] = {}
        ready = []
        for job in jobs:
            outcome = self._prepare(job)
            if outcome is None:
                ready.append(job)
            else:
                failed[job] = outcome
        if not ready:
            return failed
        try:
            argv = (self.submit_argv(ready[0].script, ready[0].attempt) if len(ready) == 1 and ready[0].script
                    else self._write_array(ready))
        except (OSError, ValueError) as exc:
            return {**failed, **{job: Outcome(exit_code=None, error=f"cannot write the job array's script: {exc}")
                                 for job in ready}}
        proc = self.run_command(argv)
        error = None
        if proc.returncode != 0:
            error = f"{self.SUBMIT_COMMAND} failed (exit {proc.returncode}): {self.message(proc)}"
        else:
            try:
                job_id = self.parse_job_id(proc.stdout)
            except ValueError:
                error = (f"{self.SUBMIT_COMMAND} printed no job id: {' '.join(proc.stdout.split())[:300]!r}"
                         f" ({self.message(proc)})")
        if error is not None:
            for job in ready:  # where the user looks first: the attempt's stderr log (as locally)
                try:
                    with open(job.attempt.stderr_path, "a", encoding="utf-8") as err:
                        err.write(f"scriptflow: {error}\nscript: {job.script}\ncommand: {shlex.join(argv)}\n")
                except OSError:
                    pass
                failed[job] = Outcome(exit_code=None, error=error)
            return failed
        now = utc_now()
        for index, job in enumerate(ready, start=self.ARRAY_FIRST_INDEX):
            job.job_id = job_id if len(ready) == 1 else self.array_element_id(job_id, index)
            job.submitted_at, job.phase = now, "submitted"
        self.log.debug("submitted %d attempt(s) as job %s", len(ready), job_id)
        return failed

    def _write_array(self, jobs: Sequence[Job]) -> list[str]:
        """The array's script and its element log links; the command that submits it."""
        scripts = [job.script for job in jobs if job.script is not None]
        path, log_stem = arrays.array_paths(scripts[0])
        path.parent.mkdir(parents=True, exist_ok=True)
        for index, job in enumerate(jobs, start=self.ARRAY_FIRST_INDEX):
            arrays.link_logs(log_stem, index, job.attempt.stdout_path, job.attempt.stderr_path)
        header = self.array_header(self.directives(jobs[0].attempt),
                                   arrays.array_name([self.job_name(j.attempt) for j in jobs]))
        jobscript.write_script(path, arrays.render_array_script(  # /bin/sh: it only execs, and starts fast
            shell="/bin/sh", directive_prefix=self.DIRECTIVE_PREFIX, directives=header,
            index_variable=self.ARRAY_INDEX_VARIABLE, scripts=scripts, first=self.ARRAY_FIRST_INDEX))
        return self.array_submit_argv(path, len(jobs), self.array_log_pattern(log_stem, ".out"),
                                      self.array_log_pattern(log_stem, ".err"))
