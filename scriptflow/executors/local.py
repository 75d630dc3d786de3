"""Run attempts as subprocesses of this machine, ``maxsize`` at a time.

Each command runs in its own process group (a new session on POSIX, a new
process group on Windows) so an interrupt or a timeout stops the whole tree
it spawned, with stdout and stderr going straight to the attempt's log files.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Mapping

from ..clock import utc_now
from .base import Attempt, Executor, Outcome, Started
from .deadline import attempt_timeout, wait_with_deadline

POSIX = os.name == "posix"


def default_maxsize() -> int:
    return os.cpu_count() or 1


class LocalExecutor(Executor):
    name = "local"
    SETTINGS = {"maxsize": "how many tasks run at once (default: the number of CPUs)"}

    def __init__(self, settings: Mapping[str, Any], state_dir) -> None:
        super().__init__(settings, state_dir)
        maxsize = self.settings.get("maxsize") or default_maxsize()
        if not isinstance(maxsize, int) or maxsize < 1:
            from ..errors import ConfigError

            raise ConfigError(f"executors.local.maxsize must be a positive integer, got {maxsize!r}")
        self.maxsize = maxsize
        self._pool = ThreadPoolExecutor(maxsize, thread_name_prefix="sf-local")
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._kill_now = threading.Event()
        self._host = socket.gethostname()

    @property
    def slots(self) -> int:
        return self.maxsize

    def submit(self, attempt: Attempt) -> "Future[Outcome]":
        return self._pool.submit(self._run, attempt)

    def _run(self, attempt: Attempt) -> Outcome:
        if self._stopping.is_set() or not attempt.should_start():
            return Outcome(exit_code=None, error="not started: the run was stopping", interrupted=True)
        try:
            limit = attempt_timeout(attempt.resources)
        except ValueError as exc:
            return Outcome(exit_code=None, error=f"cannot run {attempt.task_uid}: {exc}")
        attempt.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(attempt.env)
        group = {"start_new_session": True} if POSIX else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        with open(attempt.stdout_path, "wb") as out, open(attempt.stderr_path, "wb") as err:
            started_at = utc_now()
            try:
                proc = subprocess.Popen(
                    attempt.command,
                    shell=attempt.shell,
                    cwd=str(attempt.cwd),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    **group,
                )
            except OSError as exc:
                message = f"cannot start command: {exc.strerror or exc}"
                if getattr(exc, "filename", None):
                    message += f": {exc.filename}"
                err.write((message + "\n").encode())
                return Outcome(exit_code=None, started_at=started_at, ended_at=utc_now(), error=message)
            with self._lock:
                self._procs[attempt.attempt_id] = proc
            if self._stopping.is_set():  # interrupted between the check above and Popen
                self._kill(proc) if self._kill_now.is_set() else self._terminate(proc)
            try:
                attempt.on_started(Started(started_at=started_at, host=self._host, pid=proc.pid))
            except Exception as exc:  # noqa: BLE001 - unrecorded: never leave it running
                return self._abort_started(attempt, proc, started_at, exc)
            code, timed_out = wait_with_deadline(proc, limit, self._terminate, self._kill)
            ended_at = utc_now()
            with self._lock:
                self._procs.pop(attempt.attempt_id, None)
        if self._stopping.is_set():
            return Outcome(code, started_at, ended_at, error="interrupted", interrupted=True)
        if timed_out:
            return Outcome(code, started_at, ended_at, error=f"timed out after {limit:g} s", timed_out=True)
        error = None
        if code != 0:
            error = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return Outcome(code, started_at, ended_at, error=error)

    def _abort_started(self, attempt: Attempt, proc: subprocess.Popen, started_at: str,
                       exc: Exception) -> Outcome:
        """``on_started`` raised: a command nobody recorded as running must not run on. Its
        process group is killed and reaped, and the attempt fails with the error."""
        self._kill(proc)
        code = proc.wait()
        with self._lock:
            self._procs.pop(attempt.attempt_id, None)
        return Outcome(code, started_at, utc_now(),
                       error=f"stopped at start: recording the start failed ({type(exc).__name__}: {exc})")

    def cancel_all(self, grace_seconds: float) -> None:
        self._stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            self._terminate(proc)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and not self._kill_now.is_set():
            if all(p.poll() is not None for p in procs):
                break
            time.sleep(0.05)
        # Whatever is left of those process groups is killed, including children that
        # ignored SIGTERM and outlived the task's own process.
        for proc in procs:
            self._kill(proc)

    def kill_now(self) -> None:
        self._stopping.set()
        self._kill_now.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            self._kill(proc)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _terminate(proc: subprocess.Popen) -> None:
        try:
            if POSIX:
                os.killpg(proc.pid, signal.SIGTERM)
            else:  # pragma: no cover - Windows
                proc.send_signal(signal.CTRL_BREAK_EVENT)
        except (ProcessLookupError, PermissionError, OSError):
            pass

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        try:
            if POSIX:
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - Windows
                proc.kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass

