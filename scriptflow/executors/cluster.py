"""The shared core of the cluster executors (``slurm``, ``sge``, ``pbs``).

For each attempt a job script is written to
``.scriptflow/jobs/<run>/<uid>.<attempt>.sh``: scheduler directives, module
loads and setup lines from the config, the environment overrides, a ``cd``
to the task's folder and the command, all quoted exactly, followed by a
wrapper step that writes the command's exit code and start/end times to
``<uid>.<attempt>.exit`` next to the script (atomically: temp file + mv)
before the job ends. The script is submitted (``sbatch --parsable``,
``qsub -terse``...), the job id goes to the ledger at once through
``attempt.on_started``.

One monitor thread per executor does everything else: it submits queued
attempts (at most ``maxsize`` jobs in the scheduler, at most ``submit_rate``
submissions a second), asks the scheduler once per ``poll_interval`` about
all jobs in flight together, reads exit files, falls back to accounting
(``sacct``, ``qacct``) for jobs that ended without one (killed, out of
time), waits up to ``output_latency`` seconds for declared outputs to
appear on a shared filesystem, and resolves the futures. A failing status
query is transient: it is logged and retried with back-off, and the jobs
fail only after ``poll_failure_timeout`` seconds without an answer.

Subclasses say how to talk to one scheduler (``directives``,
``submit_argv``, ``parse_job_id``, ``poll``, ``accounting``,
``cancel_argv``); they hold no threads or state of their own.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shlex
import socket
import subprocess
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Optional, Sequence

from ..errors import ConfigError
from ..ledger import utc_now
from .base import Attempt, Executor, Outcome, RecordedJob, Started

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: How often the monitor looks at ended jobs (exit file, outputs) between scheduler polls.
_TICK = 0.25
#: Seconds without a new submission after an attempt failed (see ``_resolve``).
_FAILURE_PAUSE = 0.5

#: Shell builtins and keywords: an argv naming one runs through ``env --`` so that the program
#: (``/usr/bin/printf``...) runs, exactly as the local executor's exec would run it.
_SHELL_WORDS = frozenset(
    "alias bg bind break builtin caller case cd command compgen complete continue declare dirs disown do "
    "done echo elif else enable esac eval exec exit export false fc fg fi for function getopts hash help "
    "history if in jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return "
    "select set shift shopt source suspend test then time times trap true type typeset ulimit umask "
    "unalias unset until wait while [ [[ ]] { } ! . :".split()
)

COMMON_SETTINGS = {
    "maxsize": "jobs in the scheduler at once, queued or running (default 100); the rest wait in scriptflow",
    "partition": "partition (SLURM) or queue (SGE, PBS) to submit to; 'queue' is the same setting",
    "queue": "queue (SGE, PBS) or partition (SLURM) to submit to; 'partition' is the same setting",
    "account": "account to charge (SLURM --account, SGE/PBS -A)",
    "modules": "environment modules loaded before the command (list; each becomes `module load NAME`)",
    "setup": "shell lines run before the command, e.g. 'source venv/bin/activate' (list or string)",
    "directives": "extra scheduler options for every job script, e.g. ['--qos=short'] (list)",
    "poll_interval": "seconds between two status queries covering all jobs in flight (default 5)",
    "submit_rate": "at most this many submissions per second (default 10; 0: no limit)",
    "poll_failure_timeout": "seconds of failing status queries before the jobs in flight fail (default 600)",
    "output_latency": "seconds to wait after a job ends for declared outputs to appear (default 5)",
    "shell": "interpreter of the job scripts (default /bin/bash)",
    "export_env": "jobs get the submitting environment (default true; SGE/PBS -V, SLURM --export=ALL)",
    "command_timeout": "seconds a scheduler command may take before it counts as failed (default 60)",
}

log = logging.getLogger("scriptflow.executors.cluster")


# -- units ----------------------------------------------------------------------------------

_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_MEM_FACTOR = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 ** 2, "p": 1024 ** 3}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_DURATION_FACTOR = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_mem_mb(value: Any) -> int:
    """Memory in MiB from what users write: ``4G``, ``500M``, ``1.5GB``, ``512K``; a bare number is MiB."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"mem must be like '4G' or '500M', got {value!r}")
    m = _MEM.match(str(value))
    if not m:
        raise ValueError(f"mem must be like '4G', '500M' or a number of MiB, got {value!r}")
    mb = math.ceil(float(m.group(1)) * _MEM_FACTOR[m.group(2).lower()])
    if mb <= 0:
        raise ValueError(f"mem must be positive, got {value!r}")
    return mb


def parse_time_seconds(value: Any) -> int:
    """Walltime in seconds from what users write.

    An int (or digits) is minutes, as in SLURM; ``H:MM:SS``; ``M:SS`` (minutes:seconds, as in
    SLURM); ``D-H``, ``D-H:MM``, ``D-H:MM:SS``; or a number with a unit: ``90m``, ``2h``, ``1d``.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"time must be like '2:00:00' or minutes, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = int(round(float(value) * 60))
    else:
        text = str(value).strip()
        m = _DURATION.match(text)
        try:
            if m:
                seconds = int(round(float(m.group(1)) * _DURATION_FACTOR[m.group(2).lower()]))
            elif re.fullmatch(r"\d+", text):
                seconds = int(text) * 60
            else:
                days = 0
                if "-" in text:
                    d, text = text.split("-", 1)
                    days = int(d)
                    parts = [int(p) for p in text.split(":")]
                    if not 1 <= len(parts) <= 3:
                        raise ValueError
                    parts += [0] * (3 - len(parts))          # D-H, D-H:M, D-H:M:S
                    h, mi, s = parts
                else:
                    parts = [int(p) for p in text.split(":")]
                    if len(parts) == 3:
                        h, mi, s = parts
                    elif len(parts) == 2:                   # M:S
                        h, (mi, s) = 0, parts
                    else:
                        raise ValueError
                if mi >= 60 and (days or h) or s >= 60:
                    raise ValueError
                seconds = days * 86400 + h * 3600 + mi * 60 + s
        except ValueError:
            raise ValueError(
                f"time must be like '2:00:00', '1-12:00:00', '90m' or minutes as a number, got {value!r}"
            ) from None
    if seconds <= 0:
        raise ValueError(f"time must be positive, got {value!r}")
    return seconds


def hms(seconds: int) -> str:
    """``H:MM:SS`` (hours may exceed 24), as SGE ``h_rt`` and PBS ``walltime`` take it."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def _as_lines(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise ValueError(f"{what} must be a string or a list of strings, got {value!r}")


@dataclass
class Resources:
    """A task's requests, in scheduler-neutral units."""

    cpus: Optional[int] = None
    mem_mb: Optional[int] = None
    time_s: Optional[int] = None
    gpus: Optional[int] = None
    directives: list[str] = field(default_factory=list)

    @classmethod
    def from_task(cls, resources: Mapping[str, Any]) -> "Resources":
        """Check and convert ``Task(cpus=, mem=, time=, gpus=, directives=)``; ValueError names the key."""
        res = cls()
        for key in ("cpus", "gpus"):
            value = resources.get(key)
            if value is None:
                continue
            try:
                number = int(value)
                if isinstance(value, bool) or number != float(value) or number < (1 if key == "cpus" else 0):
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a {'positive' if key == 'cpus' else 'non-negative'} "
                                 f"integer, got {value!r}") from None
            setattr(res, key, number)
        if resources.get("mem") is not None:
            res.mem_mb = parse_mem_mb(resources["mem"])
        if resources.get("time") is not None:
            res.time_s = parse_time_seconds(resources["time"])
        res.directives = _as_lines(resources.get("directives"), "directives")
        return res


# -- the job script -----------------------------------------------------------------------------


def command_line(command: Any, shell: bool) -> str:
    """The command as one shell line: ``shlex.join(argv)``, or ``/bin/sh -c 'STRING'``."""
    if shell:
        text = command if isinstance(command, str) else shlex.join(command)
        return f"/bin/sh -c {shlex.quote(text)}"
    argv = [command] if isinstance(command, str) else list(command)
    line = shlex.join(argv)
    if argv and argv[0] in _SHELL_WORDS:
        line = "env -- " + line
    return line


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def render_job_script(attempt: Attempt, *, shell: str, directive_prefix: str, directives: Sequence[str],
                      exit_path: Path, modules: Sequence[str], setup: Sequence[str],
                      log_note: str = "") -> str:
    """The text of a job script (see the module docstring and docs/hpc.md)."""
    q = shlex.quote
    lines = [f"#!{shell}"]
    for d in directives:
        lines.append(d if d.startswith("#") else f"{directive_prefix} {d}")
    lines += [
        "#",
        f"# scriptflow job: task {attempt.task_uid!r}, run {attempt.run_id}, attempt {attempt.number}.",
        "# Written by scriptflow and kept for debugging; it runs the command below and records its exit",
        "# code and start/end times in the .exit file next to this script.",
        f"# stdout: {attempt.stdout_path}",
        f"# stderr: {attempt.stderr_path}",
    ]
    if log_note:
        lines.append(f"# {log_note}")
    lines += [
        f"sf_exit_file={q(str(exit_path))}",
        "sf_now() { date +%s.%N 2>/dev/null || date +%s; }",
        "sf_started=$(sf_now)",
        "sf_finish() {  # sf_finish CODE [ERROR]: record how the command ended, then end the job with CODE",
        '  sf_tmp="$sf_exit_file.tmp.$$"',
        ("  { printf 'exit_code=%s\\nstarted=%s\\nended=%s\\nhost=%s\\n' \"$1\" \"$sf_started\" \"$(sf_now)\" "
         "\"$(uname -n)\""),
        "    if [ -n \"$2\" ]; then printf 'error=%s\\n' \"$2\"; fi",
        '  } >"$sf_tmp" && mv -f "$sf_tmp" "$sf_exit_file"',
        '  exit "$1"',
        "}",
    ]
    steps = [(f"module load {m}", f"module load {m}") for m in modules] + [(s, s) for s in setup]
    for code, label in steps:
        # A newline before "}" keeps a trailing comment in the line from swallowing the brace.
        lines += [f"{{ {code}", f"}} || sf_finish $? {q('setup failed: ' + _one_line(label))}"]
    for name, value in attempt.env.items():
        lines.append(f"export {name}={q(value)}")
    cwd = str(attempt.cwd)
    lines.append(f"cd {q(cwd)} || sf_finish 1 {q('cannot change to the task folder ' + _one_line(cwd))}")
    lines.append(command_line(attempt.command, attempt.shell) + " </dev/null")
    lines.append("sf_finish $?")
    return "\n".join(lines) + "\n"


def epoch_to_text(value: Optional[str]) -> Optional[str]:
    """``1764086400.123456789`` (what ``date +%s.%N`` prints; ``N`` where %N is unknown) -> ledger time."""
    if not value:
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)", value)
    if not m:
        return None
    return datetime.fromtimestamp(float(m.group(1)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_exit_file(path: Path) -> Optional[dict[str, str]]:
    """The wrapper's record (``exit_code=3`` lines); None while absent or unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    try:
        int(info["exit_code"])
    except (KeyError, ValueError):
        return None
    return info


def exit_path_for(script: Path) -> Path:
    return script.with_suffix(".exit")


# -- what the schedulers tell us ------------------------------------------------------------------


class PollError(Exception):
    """A status query failed (command missing, non-zero exit, timeout, unparsable answer)."""


@dataclass
class Final:
    """How a job ended according to the scheduler (accounting), when the exit file is missing."""

    state: str
    exit_code: Optional[int]
    error: Optional[str]


@dataclass
class JobStatus:
    state: str                        # the scheduler's word: PENDING, RUNNING, qw, r, Q, R, C ...
    live: bool                        # queued or running: the job has not ended
    running: bool = False
    final: Optional[Final] = None     # how it ended, when the status query already says (PBS)
    error: Optional[str] = None       # the job can never run (SGE "Eqw"): delete it and fail


@dataclass(eq=False)
class _Job:
    attempt: Attempt
    future: "Future[Outcome]"
    script: Optional[Path] = None
    exit_path: Optional[Path] = None
    job_id: Optional[str] = None
    submitted_at: Optional[str] = None
    queue: Optional[str] = None
    #: submitted (in the scheduler) | ended (no longer listed) | finishing (outcome known, outputs awaited)
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


class _Settings:
    """Typed reading of ``executors.<name>`` with one-line errors naming the key."""

    def __init__(self, name: str, settings: Mapping[str, Any]) -> None:
        self.name, self.raw = name, settings

    def _fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"executors.{self.name}.{key} must be {what}, got {self.raw[key]!r}")

    def number(self, key: str, default: float, minimum: float = 0.0, strict: bool = False,
               unit: str = "seconds") -> float:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum or (
                strict and value <= minimum):
            raise self._fail(key, f"a number {'>' if strict else '>='} {minimum:g} ({unit})")
        return float(value)

    def integer(self, key: str, default: int) -> int:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self._fail(key, "a positive integer")
        return value

    def text(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise self._fail(key, "a non-empty one-line string")
        return value.strip()

    def lines(self, key: str) -> list[str]:
        try:
            return _as_lines(self.raw.get(key), key)
        except ValueError:
            raise self._fail(key, "a string or a list of strings") from None

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value


# -- the executor --------------------------------------------------------------------------------


class ClusterExecutor(Executor):
    """Submit attempts as scheduler jobs and follow them; subclasses speak one scheduler's language."""

    SETTINGS: ClassVar[Mapping[str, str]] = COMMON_SETTINGS
    #: Directive prefix in job scripts (``#SBATCH``, ``#$``, ``#PBS``).
    DIRECTIVE_PREFIX: ClassVar[str] = "#"
    #: Scheduler commands shown in messages.
    SUBMIT_COMMAND: ClassVar[str] = "submit"
    STATUS_COMMAND: ClassVar[str] = "status"
    CANCEL_COMMAND: ClassVar[str] = "cancel"

    def __init__(self, settings: Mapping[str, Any], state_dir: Path) -> None:
        super().__init__(settings, state_dir)
        s = _Settings(self.name, self.settings)
        self.maxsize = s.integer("maxsize", 100)
        if self.settings.get("partition") is not None and self.settings.get("queue") is not None:
            raise ConfigError(f"executors.{self.name}: give either 'partition' or 'queue', not both")
        self.queue = s.text("partition") or s.text("queue")
        self.account = s.text("account")
        self.modules = s.lines("modules")
        self.setup = s.lines("setup")
        self.directives = s.lines("directives")
        self.poll_interval = s.number("poll_interval", 5.0, 0.05)
        self.submit_rate = s.number("submit_rate", 10.0, 0.0, unit="submissions per second")
        self.poll_failure_timeout = s.number("poll_failure_timeout", 600.0)
        self.output_latency = s.number("output_latency", 5.0)
        self.command_timeout = s.number("command_timeout", 60.0, 0.0, strict=True)
        self.shell = s.text("shell", "/bin/bash")
        if not self.shell.startswith("/") or any(c.isspace() for c in self.shell):
            raise ConfigError(f"executors.{self.name}.shell must be an absolute path without spaces, "
                              f"got {self.shell!r}")
        self.export_env = s.flag("export_env", True)
        self.configure(s)
        self.log = logging.getLogger(f"scriptflow.executors.{self.name}")
        self._host = socket.gethostname()
        self._cond = threading.Condition()
        self._submit_lock = threading.Lock()
        self._waiting: "deque[_Job]" = deque()
        self._inflight: list[_Job] = []
        self._stopping = threading.Event()
        self._kill_now = threading.Event()
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self._done = ThreadPoolExecutor(4, thread_name_prefix=f"sf-{self.name}-done")
        self._next_submit = 0.0
        self._next_poll = 0.0
        self._next_tick = 0.0
        self._poll_failures = 0
        self._failing_since: Optional[float] = None

    # -- what subclasses provide ---------------------------------------------------------

    def configure(self, s: _Settings) -> None:
        """Read scheduler-specific settings."""

    def directives_for(self, res: Resources, attempt: Attempt, job_name: str) -> list[str]:
        """Scheduler options for the script header (without the prefix)."""
        raise NotImplementedError

    def submit_argv(self, script: Path, attempt: Attempt) -> list[str]:
        raise NotImplementedError

    def parse_job_id(self, stdout: str) -> str:
        """The job id from the submit command's output; ValueError if there is none."""
        raise NotImplementedError

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Status of the given jobs in one query; jobs missing from the answer have ended (or are unknown)."""
        raise NotImplementedError

    def accounting(self, job_ids: Sequence[str]) -> dict[str, Final]:
        """How ended jobs ended, for those the scheduler's accounting knows (missing: not known yet)."""
        return {}

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def log_note(self) -> str:
        return "stdout/stderr paths are given to the scheduler on its command line"

    # -- running scheduler commands --------------------------------------------------------

    def run_command(self, argv: Sequence[str], timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        """Run a scheduler command; a missing program or a timeout becomes returncode 127/124 with a message."""
        try:
            return subprocess.run(list(argv), capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=timeout or self.command_timeout)
        except FileNotFoundError:
            return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: command not found (is it on PATH?)")
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(
                argv, 124, "", f"{argv[0]} did not answer within {timeout or self.command_timeout:g} s")
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
        return self.maxsize

    def submit(self, attempt: Attempt) -> "Future[Outcome]":
        future: "Future[Outcome]" = Future()
        job = _Job(attempt, future)
        if self._stopping.is_set():
            future.set_result(Outcome(exit_code=None, error="not submitted: the run was interrupted",
                                      interrupted=True))
            return future
        with self._cond:
            self._waiting.append(job)
            self._ensure_thread()
            self._cond.notify_all()
        return future

    def reattach(self, job: RecordedJob, attempt: Attempt) -> "Optional[Future[Outcome]]":
        script = Path(job.job_script) if job.job_script else None
        exit_path = exit_path_for(script) if script else None
        rec = _Job(attempt, Future(), script=script, exit_path=exit_path, job_id=job.job_id,
                   submitted_at=job.started_at, queue=job.queue, phase="submitted")
        known = exit_path is not None and read_exit_file(exit_path) is not None
        if not known:
            try:
                status = self.poll([job.job_id]).get(job.job_id)
            except PollError as exc:
                # Cannot tell: follow it (the monitor's failure tolerance applies) rather than risk
                # a second job writing the same outputs.
                self.log.warning("re-attaching to job %s of %s without knowing its state: %s",
                                 job.job_id, job.task_uid, exc)
                status = JobStatus("unknown", live=True)
            if status is not None:
                known = True
                if not status.live:
                    rec.phase, rec.gone_at, rec.final = "ended", time.monotonic(), status.final
            else:
                final = self._accounting_safe([job.job_id]).get(job.job_id)
                if final is not None:
                    known = True
                    rec.phase, rec.gone_at, rec.final = "ended", time.monotonic() - self.output_latency, final
        if not known:
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
        for job in victims:  # a job in the scheduler counts as started (the ledger says so since on_started)
            self._resolve(job, Outcome(exit_code=None, started_at=job.submitted_at or ended, ended_at=ended,
                                       interrupted=True,
                                       error=f"interrupted: job {job.job_id} cancelled ({self.CANCEL_COMMAND})"))

    def kill_now(self) -> None:
        self._kill_now.set()

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            busy = bool(self._waiting or self._inflight)
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and not busy:
            thread.join(timeout=10)
        self._done.shutdown(wait=not busy)

    # -- the monitor thread ------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._monitor, name=f"sf-{self.name}-monitor", daemon=True)
            self._thread.start()

    def _monitor(self) -> None:
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
                time.sleep(self.poll_interval)

    def _next_wake(self, now: float) -> Optional[float]:
        """Seconds until the monitor has something to do (None: until notified). Holds ``_cond``."""
        waits = []
        if self._waiting and not self._stopping.is_set() and self._room():
            waits.append(self._next_submit - now)
        active = [j for j in self._inflight if not j.cancelling and not j.resolved]
        if any(j.announce is not None for j in active):
            waits.append(0.0)
        if any(j.phase == "submitted" for j in active):
            waits.append(self._next_poll - now)
        if any(j.phase in ("ended", "finishing") for j in active):
            waits.append(self._next_tick - now)
        return min(waits) if waits else None

    def _room(self) -> bool:
        return len(self._inflight) < self.maxsize

    def _tick(self) -> None:
        with self._submit_lock:  # see _submit_ready: never after cancel_all resolved the job
            with self._cond:
                announce = [j for j in self._inflight if j.announce is not None and not j.cancelling]
            for job in announce:
                started, job.announce = job.announce, None
                if started is not None:
                    job.attempt.on_started(started)
        self._submit_ready()
        now = time.monotonic()
        if now >= self._next_poll:
            self._poll_jobs(now)
        if now >= self._next_tick:
            self._next_tick = now + _TICK
            self._check_ended()
            self._check_finishing()

    # submission

    def _submit_ready(self) -> None:
        while True:
            with self._submit_lock:
                with self._cond:
                    if self._stopping.is_set() or not self._waiting or not self._room():
                        return
                    if time.monotonic() < self._next_submit:
                        return
                    job = self._waiting.popleft()
                    if not job.attempt.should_start():  # the run is stopping (a failure, no --keep-going)
                        skipped = True
                    else:
                        skipped = False
                        job.phase = "submitting"
                        self._inflight.append(job)
                if skipped:
                    self._resolve(job, Outcome(exit_code=None, error="not submitted: the run was stopping",
                                               interrupted=True))
                    continue
                interval = 1.0 / self.submit_rate if self.submit_rate > 0 else 0.0
                self._next_submit = time.monotonic() + interval
                outcome = self._submit_one(job)
                if outcome is None:
                    # The job id reaches the ledger at once, and before any cancel_all can resolve
                    # the job (it waits for this lock), so "running" never overwrites "interrupted".
                    job.attempt.on_started(Started(started_at=job.submitted_at or utc_now(), host=self._host,
                                                   job_id=job.job_id, job_script=str(job.script),
                                                   queue=job.queue))
            if outcome is not None:
                self._resolve(job, outcome)

    def _script_path(self, attempt: Attempt) -> Path:
        stem = _UNSAFE_NAME.sub("_", attempt.task_uid)
        if stem != attempt.task_uid:  # two uids must never share a script or an exit file
            stem += "-" + hashlib.sha256(attempt.task_uid.encode()).hexdigest()[:8]
        return self.state_dir / "jobs" / str(attempt.run_id) / f"{stem}.{attempt.number}.sh"

    def job_name(self, attempt: Attempt) -> str:
        return "sf-" + (_UNSAFE_NAME.sub("_", attempt.task_uid) or "task")

    def write_script(self, attempt: Attempt, script: Path) -> None:
        """Check the task's resources and environment, and write its job script (ValueError, OSError)."""
        res = Resources.from_task(attempt.resources)
        bad = [name for name in attempt.env if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"environment variable name {bad[0]!r} cannot be exported by a job script")
        directives = self.directives_for(res, attempt, self.job_name(attempt)) + self.directives + res.directives
        text = render_job_script(attempt, shell=self.shell, directive_prefix=self.DIRECTIVE_PREFIX,
                                 directives=directives, exit_path=exit_path_for(script), modules=self.modules,
                                 setup=self.setup, log_note=self.log_note())
        script.parent.mkdir(parents=True, exist_ok=True)
        attempt.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        attempt.stderr_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = script.with_name(script.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o755)
        os.replace(tmp, script)

    def _submit_one(self, job: _Job) -> Optional[Outcome]:
        """Write the script and submit it; an Outcome when that failed (the engine retries per task)."""
        attempt = job.attempt
        script = self._script_path(attempt)
        try:
            for stale in (exit_path_for(script),):
                stale.unlink(missing_ok=True)
            self.write_script(attempt, script)
        except ValueError as exc:
            return Outcome(exit_code=None, error=f"cannot submit {attempt.task_uid}: {exc}")
        except OSError as exc:
            return Outcome(exit_code=None, error=f"cannot write job script {script}: {exc}")
        job.script, job.exit_path, job.queue = script, exit_path_for(script), self.queue
        argv = self.submit_argv(script, attempt)
        proc = self.run_command(argv)
        error = None
        if proc.returncode != 0:
            error = f"{self.SUBMIT_COMMAND} failed (exit {proc.returncode}): {self.message(proc)}"
        else:
            try:
                job.job_id = self.parse_job_id(proc.stdout)
            except ValueError:
                error = (f"{self.SUBMIT_COMMAND} printed no job id: {' '.join(proc.stdout.split())[:300]!r}"
                         f" ({self.message(proc)})")
        if error is not None:
            # Where the user looks first: the attempt's stderr log (as the local executor does).
            try:
                with open(attempt.stderr_path, "a", encoding="utf-8") as err:
                    err.write(f"scriptflow: {error}\nscript: {script}\ncommand: {shlex.join(argv)}\n")
            except OSError:
                pass
            return Outcome(exit_code=None, error=error)
        job.submitted_at = utc_now()
        job.phase = "submitted"
        self.log.debug("submitted %s as job %s (%s)", attempt.task_uid, job.job_id, script)
        return None

    # status

    def _poll_jobs(self, now: float) -> None:
        with self._cond:
            jobs = [j for j in self._inflight if j.phase in ("submitted", "ended") and not j.cancelling]
        if not any(j.phase == "submitted" for j in jobs):
            self._next_poll = now + self.poll_interval
            return
        for job in jobs:  # an exit file is the answer, whatever the scheduler says
            self._take_exit_file(job, refresh=False)
        jobs = [j for j in jobs if j.phase in ("submitted", "ended") and j.job_id]
        if not jobs:
            self._next_poll = now + self.poll_interval
            return
        try:
            statuses = self.poll([j.job_id for j in jobs if j.job_id])
        except PollError as exc:
            self._poll_failed(jobs, str(exc), now)
            return
        if self._poll_failures:
            self.log.info("%s answers again after %d failed quer%s", self.STATUS_COMMAND, self._poll_failures,
                          "y" if self._poll_failures == 1 else "ies")
        self._poll_failures, self._failing_since = 0, None
        self._next_poll = time.monotonic() + self.poll_interval
        broken: list[tuple[_Job, str]] = []
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
            proc = self.run_command(self.cancel_argv(ids))
            if proc.returncode != 0:
                self.log.warning("%s %s said: %s", self.CANCEL_COMMAND, " ".join(ids), self.message(proc))
            for job, error in broken:
                self._decide(job, Outcome(exit_code=None, error=f"job {job.job_id}: {error}; deleted it"))

    def _poll_failed(self, jobs: list[_Job], error: str, now: float) -> None:
        self._poll_failures += 1
        if self._failing_since is None:
            self._failing_since = now
        failing_for = now - self._failing_since
        delay = min(self.poll_interval * 1.5 ** self._poll_failures, max(self.poll_interval, 60.0))
        self._next_poll = now + delay
        if failing_for >= self.poll_failure_timeout:
            lost = [j for j in jobs if j.phase == "submitted"]
            self.log.error("%s has failed for %.0f s (%s): failing %d job(s)", self.STATUS_COMMAND, failing_for,
                           error, len(lost))
            ids = [j.job_id for j in lost if j.job_id]
            if ids:  # best effort: a retry must not run next to a job that is still alive
                self.run_command(self.cancel_argv(ids))
            for job in lost:
                self._decide(job, Outcome(
                    exit_code=None, error=f"lost track of job {job.job_id}: {self.STATUS_COMMAND} failed for "
                                          f"{failing_for:.0f} s (poll_failure_timeout): {error}"))
            self._failing_since = now  # the next jobs get a full timeout of their own
            return
        self.log.warning("%s failed (%d in a row, %.0f s of %g s allowed), retrying in %.1f s: %s",
                         self.STATUS_COMMAND, self._poll_failures, failing_for, self.poll_failure_timeout,
                         delay, error)

    def _take_exit_file(self, job: _Job, refresh: bool) -> bool:
        if job.exit_path is None or job.phase not in ("submitted", "ended"):
            return False
        if refresh:
            _refresh_dir(job.exit_path.parent)
        info = read_exit_file(job.exit_path)
        if info is None:
            return False
        code = int(info["exit_code"])
        error = info.get("error") or (None if code == 0 else f"exit code {code}")
        self._decide(job, Outcome(exit_code=code, started_at=epoch_to_text(info.get("started")) or job.submitted_at,
                                  ended_at=epoch_to_text(info.get("ended")) or utc_now(), error=error))
        return True

    def _check_ended(self) -> None:
        """Jobs the scheduler no longer lists: wait for the exit file, then ask accounting."""
        with self._cond:
            ended = [j for j in self._inflight if j.phase == "ended" and not j.cancelling]
        if not ended:
            return
        now = time.monotonic()
        for folder in {j.exit_path.parent for j in ended if j.exit_path is not None}:
            _refresh_dir(folder)  # once per folder, not once per job
        ask: list[_Job] = []
        for job in ended:
            if self._take_exit_file(job, refresh=False):
                continue
            waited = now - (job.gone_at or now)
            if waited < self.output_latency:
                continue
            if job.final is not None:
                self._decide_final(job, job.final)
            elif waited > self.output_latency + max(30.0, 6 * self.poll_interval):
                self._decide(job, Outcome(
                    exit_code=None, started_at=job.submitted_at if job.seen_running else None, ended_at=utc_now(),
                    error=f"job {job.job_id} ended without writing its exit file ({job.exit_path}) and "
                          f"the scheduler's accounting does not know how it ended"))
            elif now >= job.next_accounting:
                job.next_accounting = now + max(self.poll_interval, 1.0)
                ask.append(job)
        if ask:
            finals = self._accounting_safe([j.job_id for j in ask if j.job_id])
            for job in ask:
                final = finals.get(job.job_id or "")
                if final is not None and not self._take_exit_file(job, refresh=True):
                    self._decide_final(job, final)

    def _accounting_safe(self, ids: list[str]) -> dict[str, Final]:
        if not ids:
            return {}
        try:
            return self.accounting(ids)
        except PollError as exc:
            self.log.warning("accounting query for %s failed: %s", " ".join(ids), exc)
            return {}

    def _decide_final(self, job: _Job, final: Final) -> None:
        if final.exit_code == 0 and final.error is None:
            self.log.warning("job %s ended (%s) without an exit file at %s: taking the scheduler's word",
                             job.job_id, final.state, job.exit_path)
        self._decide(job, Outcome(exit_code=final.exit_code, started_at=job.submitted_at, ended_at=utc_now(),
                                  error=final.error))

    def _decide(self, job: _Job, outcome: Outcome) -> None:
        job.outcome, job.outcome_at, job.phase = outcome, time.monotonic(), "finishing"
        self._check_finishing([job])

    def _check_finishing(self, jobs: Optional[list[_Job]] = None) -> None:
        """Resolve jobs whose outcome is known once their outputs are visible (or the latency has passed)."""
        if jobs is None:
            with self._cond:
                jobs = [j for j in self._inflight if j.phase == "finishing"]
        now = time.monotonic()
        for job in jobs:
            outcome = job.outcome
            assert outcome is not None
            if outcome.exit_code == 0 and outcome.error is None:
                missing = [p for p in job.attempt.outputs if not os.path.exists(p)]
                if missing:
                    for parent in {Path(p).parent for p in missing}:
                        _refresh_dir(parent)
                    missing = [p for p in missing if not os.path.exists(p)]
                if missing and now - job.outcome_at < self.output_latency:
                    continue
            self._resolve(job, outcome)

    def _resolve(self, job: _Job, outcome: Outcome) -> None:
        with self._cond:
            if job.resolved:
                return
            job.resolved = True
            if job in self._inflight:
                self._inflight.remove(job)
            if outcome.error is not None and not outcome.interrupted:
                # The engine learns of a failure asynchronously; give it a moment to stop the run
                # (attempt.should_start) before the freed slot takes the next queued attempt.
                self._next_submit = max(self._next_submit, time.monotonic() + _FAILURE_PAUSE)
            self._cond.notify_all()
        try:
            self._done.submit(job.future.set_result, outcome)
        except RuntimeError:  # pool shut down (an abnormal end of the run): resolve here
            job.future.set_result(outcome)


def _refresh_dir(path: Path) -> None:
    """List a folder so that an NFS client drops its cached attributes and sees new files."""
    try:
        os.listdir(path)
    except OSError:
        pass


def join_ids(ids: Iterable[str]) -> str:
    return ",".join(ids)
