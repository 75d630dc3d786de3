"""What runs on a Dask worker: one attempt's command as a subprocess, and how it is stopped.

Dask ships ``run_attempt`` to a worker by reference, so this module must be
importable there (scriptflow installed on the workers) and needs nothing of
the engine or the ledger: it gets a plain dict and returns one. The command
writes straight to the attempt's log files, which (like its working
directory) must be on a filesystem the workers share with the run. Output
checks, hashing and recording stay with the engine.

Three things a plain ``subprocess.run`` on a worker would get wrong:

- **Stopping.** Cancelling a Dask future does not interrupt a function that
  runs. The command runs in its own process group, registered here by its
  Dask key; ``signal_attempts`` (sent to every worker with ``Client.run``)
  signals those groups at once, and the waiting loop also stops the group
  when the worker marks the task cancelled (the run cancelled it, or its
  client, a killed ``scriptflow``, disconnected).
- **A dead worker.** When a worker dies, Dask runs the same task again on
  another worker, which would run the command twice inside one attempt. Each
  execution appends a line to ``<stderr log>.runs`` (shared filesystem);
  beyond ``max_runs`` an execution does not start the command and reports
  the attempt lost, so scriptflow's own ``retry`` decides. On Linux the
  command also gets SIGKILL when its worker dies (parent-death signal).
- **Reporting the start.** The worker logs a Dask event on the run's topic
  with the host and pid as soon as the command started.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from typing import Any, Callable, Optional

from ..clock import utc_now

POSIX = os.name == "posix"
#: How often the waiting loop looks whether the worker cancelled the task.
CANCEL_POLL_SECONDS = 0.25
#: After a cancellation seen by the worker itself, SIGTERM, then SIGKILL after this long.
WORKER_GRACE_SECONDS = 10.0

_lock = threading.Lock()
_running: dict[str, subprocess.Popen] = {}
_stopped: set[str] = set()


def _parent_death_signal() -> Optional[Callable[[], None]]:
    """A ``preexec_fn`` making the child get SIGKILL when its worker dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no libc to call
        return None

    def preexec() -> None:
        os.setsid()
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return preexec


def _task_cancelled(key: str) -> bool:
    """True once the worker no longer wants this task (cancelled, released, client gone)."""
    try:
        from distributed import get_worker

        state = get_worker().state.tasks.get(key)
    except Exception:  # noqa: BLE001 - not on a worker (direct call): never cancelled
        return False
    return state is None or state.state in ("cancelled", "released", "forgotten")


def _event(topic: Optional[str], message: dict[str, Any]) -> None:
    if not topic:
        return
    try:
        from distributed import get_worker

        get_worker().log_event(topic, message)
    except Exception:  # noqa: BLE001 - reporting is best effort; the result carries the same facts
        pass


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        if POSIX:
            os.killpg(proc.pid, sig)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _count_run(runs_path: str, host: str) -> int:
    """Append this execution to the attempt's runs file; return how many executions it holds."""
    with open(runs_path, "a+", encoding="utf-8") as f:
        f.write(f"{utc_now()} {host} {os.getpid()}\n")
        f.flush()
        f.seek(0)
        return sum(1 for line in f if line.strip())


def run_attempt(job: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt on this worker; never raises for a command that fails.

    ``job`` holds ``key``, ``command``, ``shell``, ``cwd``, ``env`` (overrides), ``stdout``,
    ``stderr`` (log paths), ``max_runs`` and ``topic``. Returns ``exit_code`` (None when the
    command did not run), ``started_at``, ``ended_at``, ``host``, ``pid``, ``error``, ``lost``
    (an earlier execution died with its worker) and ``stopped`` (signalled by the run).
    """
    key, topic = job["key"], job.get("topic")
    host = socket.gethostname()
    result: dict[str, Any] = {"exit_code": None, "started_at": None, "ended_at": None, "host": host,
                              "pid": None, "error": None, "lost": False, "stopped": False}
    try:
        os.makedirs(os.path.dirname(job["stderr"]), exist_ok=True)
        runs = _count_run(job["stderr"] + ".runs", host)
    except OSError as exc:
        result["error"] = f"cannot write the log files on worker {host}: {exc}"
        return result
    if runs > job.get("max_runs", 1):
        result["lost"] = True
        result["error"] = (f"lost: the Dask worker running it died, and dask_retries "
                           f"({job.get('max_runs', 1) - 1}) allows no further run")
        return result
    env = dict(os.environ)
    env.update(job.get("env") or {})
    preexec = _parent_death_signal() if POSIX else None
    group: dict[str, Any]
    if preexec is not None:
        group = {"preexec_fn": preexec}
    elif POSIX:
        group = {"start_new_session": True}
    else:  # pragma: no cover - Windows
        group = {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
        with _lock:
            if key in _stopped or _task_cancelled(key):
                result["stopped"] = True
                result["error"] = "not started: the run was stopping"
                return result
            result["started_at"] = utc_now()
            try:
                proc = subprocess.Popen(job["command"], shell=job["shell"], cwd=job["cwd"], env=env,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=err, **group)
            except OSError as exc:
                message = f"cannot start command on {host}: {exc.strerror or exc}"
                if getattr(exc, "filename", None):
                    message += f": {exc.filename}"
                err.write((message + "\n").encode())
                result.update(ended_at=utc_now(), error=message)
                return result
            _running[key] = proc
        result["pid"] = proc.pid
        _event(topic, {"key": key, "started_at": result["started_at"], "host": host, "pid": proc.pid})
        code = _wait(key, proc)
        with _lock:
            _running.pop(key, None)
            result["stopped"] = key in _stopped or result["stopped"]
    result["exit_code"] = code
    result["ended_at"] = utc_now()
    if code != 0:
        result["error"] = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    return result


def _wait(key: str, proc: subprocess.Popen) -> int:
    """Wait for the command; if the worker cancels the task meanwhile, TERM then KILL its group."""
    term_sent: Optional[float] = None
    waited = 0.0
    while True:
        try:
            return proc.wait(timeout=CANCEL_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            waited += CANCEL_POLL_SECONDS
        if term_sent is None and _task_cancelled(key):
            with _lock:
                _stopped.add(key)
            _killpg(proc, signal.SIGTERM)
            term_sent = waited
        elif term_sent is not None and waited - term_sent >= WORKER_GRACE_SECONDS:
            _killpg(proc, signal.SIGKILL)


def signal_attempts(keys: list[str], kill: bool) -> list[str]:
    """Run by ``Client.run`` on every worker: SIGTERM (or SIGKILL) the commands of ``keys``, and
    never start them here afterwards. Returns the keys whose command this worker still runs."""
    with _lock:
        _stopped.update(keys)
        procs = {k: _running[k] for k in keys if k in _running}
    for proc in procs.values():
        _killpg(proc, signal.SIGKILL if kill else signal.SIGTERM)
    return [k for k, p in procs.items() if p.poll() is None]


def running_attempts(keys: list[str]) -> list[str]:
    """Run by ``Client.run`` on every worker: which of ``keys`` still have a live command here."""
    with _lock:
        procs = {k: _running[k] for k in keys if k in _running}
    return [k for k, p in procs.items() if p.poll() is None]
