"""Run attempts as subprocesses of this machine, ``maxsize`` at a time.

Each command runs in its own process group (a new session on POSIX, a new
process group on Windows) so an interrupt or a timeout stops the whole tree
it spawned, with stdout and stderr going straight to the attempt's log files.
When the command exits, whatever it left running in its group is killed
before the outcome is reported (POSIX), so no retry or later task ever runs
beside a stale writer; its environment carries the run's token
(``process_groups``).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from ..clock import utc_now
from . import container as containers
from . import process_groups
from .base import Attempt, Executor, Outcome, Reporter, Started
from .settings import ExecutorSettings, setting
from .setup import with_setup
from .slots import SlotPool
from .deadline import attempt_timeout, wait_with_deadline

POSIX = os.name == "posix"
#: A log file: created or truncated, write-only, never inherited by another command.
LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
#: Each command in its own process group (a new session on POSIX), so its whole tree can be stopped.
GROUP: dict[str, Any] = ({"start_new_session": True} if POSIX
                         else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)})


def default_maxsize() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class LocalSettings(ExecutorSettings):
    """``executors.local`` (``run -j N`` sets ``maxsize``)."""

    maxsize: Optional[int] = setting(None, "how many tasks run at once (0 or none: the number of CPUs)",
                                     unit="tasks", minimum=0, default_text="the number of CPUs")


class LocalExecutor(Executor):
    """Subprocesses of this machine, at most ``maxsize`` at a time."""

    name = "local"
    settings_class = LocalSettings
    #: The slot thread records its own attempt's success: one thread hand-off per task fewer.
    outcome_on_resolving_thread = True
    settings: LocalSettings
    local_commands = True

    def __init__(self, settings: Mapping[str, Any], state_dir: Path) -> None:
        super().__init__(settings, state_dir)
        self.maxsize = self.settings.maxsize or default_maxsize()
        self._pool = SlotPool(self.maxsize, "sf-local")
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._kill_now = threading.Event()
        self._host = socket.gethostname()
        self._containers = containers.RunningContainers()
        self._folders: set[str] = set()
        self._null: Optional[int] = None

    @property
    def slots(self) -> int:
        return self.maxsize

    def submit(self, attempt: Attempt, reporter: Reporter) -> "Future[Outcome]":
        return self._pool.submit(attempt.attempt_id, self._run, attempt, reporter)

    def release_slot(self, attempt_id: int) -> None:
        self._pool.lend(attempt_id)

    def reclaim_slot(self, attempt_id: int) -> None:
        self._pool.reclaim(attempt_id)

    def _run(self, attempt: Attempt, reporter: Reporter) -> Outcome:
        if self._stopping.is_set() or not reporter.may_start():
            return Outcome(exit_code=None, error="not started: the run was stopping", interrupted=True)
        try:
            limit = attempt_timeout(attempt.resources)
        except ValueError as exc:
            return Outcome(exit_code=None, error=f"cannot run {attempt.task_uid}: {exc}")
        stdout_path, stderr_path = os.fspath(attempt.stdout_path), os.fspath(attempt.stderr_path)
        self._logs_folder(os.path.dirname(stdout_path))
        env = self._environment(attempt)
        command, shell = attempt.command, attempt.shell
        if attempt.container is not None:  # setup lines run here, before the container starts
            command, shell = containers.wrap(attempt), False
        setup = attempt.resources.get("setup")
        if setup:
            command, shell = with_setup(command, shell, setup), True
        # The log files as bare descriptors: the child writes to them, this process never does
        # (except a launch error), so a buffered file object per log would only cost time.
        out = os.open(stdout_path, LOG_FLAGS, 0o666)
        try:
            err = os.open(stderr_path, LOG_FLAGS, 0o666)
        except BaseException:
            os.close(out)
            raise
        try:
            started_at = utc_now()
            try:
                proc = subprocess.Popen(
                    command,
                    shell=shell,
                    cwd=os.fspath(attempt.cwd),
                    env=env,
                    stdin=self._devnull(),
                    stdout=out,
                    stderr=err,
                    **GROUP,
                )
            except OSError as exc:
                message = f"cannot start command: {exc.strerror or exc}"
                if getattr(exc, "filename", None):
                    message += f": {exc.filename}"
                os.write(err, (message + "\n").encode())
                return Outcome(exit_code=None, started_at=started_at, ended_at=utc_now(), error=message)
        finally:  # the child holds its own copies from here on
            os.close(out)
            os.close(err)
        with self._lock:
            self._procs[attempt.attempt_id] = proc
        self._containers.add(attempt)
        if self._stopping.is_set():  # interrupted between the check above and Popen
            self._kill(proc) if self._kill_now.is_set() else self._terminate(proc)
        try:
            reporter.started(Started(started_at=started_at, host=self._host, pid=proc.pid))
        except Exception as exc:  # noqa: BLE001 - unrecorded: never leave it running
            return self._abort_started(attempt, proc, started_at, exc)
        leftover = None
        try:
            code, timed_out = wait_with_deadline(
                proc, limit, self._terminate, self._kill,
                wait=lambda: process_groups.end_attempt(proc, attempt.run_token, attempt.attempt_id))
        except process_groups.LeftoverProcesses as exc:
            code, timed_out, leftover = exc.exit_code, False, str(exc)
        ended_at = utc_now()
        if code != 0:  # a killed runtime client leaves its container running: stop it by name
            self._containers.stop(attempt.attempt_id)
        self._containers.discard(attempt.attempt_id)
        with self._lock:
            self._procs.pop(attempt.attempt_id, None)
        if self._stopping.is_set():
            return Outcome(code, started_at, ended_at, error="interrupted", interrupted=True)
        if timed_out:
            return Outcome(code, started_at, ended_at, error=f"timed out after {limit:g} s", timed_out=True)
        error = leftover
        if error is None and code != 0:
            error = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return Outcome(code, started_at, ended_at, error=error)

    def _logs_folder(self, folder: str) -> None:
        """Created once per folder and executor (a run's logs share one), not once per attempt."""
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)

    def _devnull(self) -> int:
        """The null device every command reads as stdin: opened once per executor (``subprocess``
        opens and closes it for every ``Popen`` given ``DEVNULL``)."""
        fd = self._null
        if fd is None:
            with self._lock:
                if self._null is None:
                    self._null = os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                fd = self._null
        return fd

    def _environment(self, attempt: Attempt) -> dict[Any, Any]:
        """This process's environment as it is now, the task's overrides and the attempt's two
        variables.

        On POSIX ``os.environ`` keeps its variables already encoded; copying that dict is one C
        call, where ``dict(os.environ)`` decodes every variable and ``subprocess`` encodes them
        all again, for every attempt. A flow that changes ``os.environ`` is still seen at once.
        """
        data = getattr(os.environ, "_data", None)
        if POSIX and isinstance(data, dict):
            env: dict[Any, Any] = data.copy()
            encode: Callable[[str], Any] = os.fsencode
        else:  # pragma: no cover - Windows: str keys
            env, encode = dict(os.environ), str
        for key, value in attempt.env.items():
            env[encode(key)] = encode(value)
        for key in process_groups.RUN_LINK_ENV:  # inherited from a run this one runs inside of: not ours
            env.pop(encode(key), None)
        for key, value in process_groups.attempt_environment(attempt.run_token, attempt.attempt_id).items():
            env[encode(key)] = encode(value)
        for key, value in attempt.run_link.items():
            env[encode(key)] = encode(value)
        return env

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
        self._containers.stop_all()

    def kill_now(self) -> None:
        self._stopping.set()
        self._kill_now.set()
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            self._kill(proc)
        self._containers.stop_all()

    def stop_container(self, attempt_id: int) -> None:
        """Kill and remove the container of attempt ``attempt_id``, if it runs in one: what a
        timeout calls after killing the attempt's process group (the runtime's client)."""
        self._containers.stop(attempt_id)

    def shutdown(self) -> None:
        self._pool.shutdown()
        with self._lock:
            null, self._null = self._null, None
        if null is not None:
            os.close(null)

    @staticmethod
    def _terminate(proc: subprocess.Popen) -> None:
        try:
            if POSIX:
                os.killpg(proc.pid, signal.SIGTERM)
            else:  # pragma: no cover - Windows
                proc.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
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

