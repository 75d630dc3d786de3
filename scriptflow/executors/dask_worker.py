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

import errno
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

from ..clock import utc_now

POSIX = os.name == "posix"
#: How often the waiting loop looks whether the worker cancelled the task.
CANCEL_POLL_SECONDS = 0.25
#: After a cancellation seen by the worker itself, SIGTERM, then SIGKILL after this long.
WORKER_GRACE_SECONDS = 10.0

_lock = threading.Lock()
_running: dict[str, subprocess.Popen] = {}
_workers: dict[str, Any] = {}
_term_sent: dict[str, float] = {}
_stopped: set[str] = set()
#: key -> (when its command started, monotonic time it ended or None): what ``claim_unstarted`` answers.
_started: dict[str, tuple[str, Optional[float]]] = {}
#: How long an ended command is remembered for ``claim_unstarted``.
REMEMBER_SECONDS = 600.0
_watcher: Optional[threading.Thread] = None


@functools.lru_cache(maxsize=None)
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


@functools.lru_cache(maxsize=None)
def _setpriv() -> Optional[str]:
    """``setpriv`` (util-linux), which sets the parent-death signal and then execs the command."""
    return shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _spawn_args(command: Any, shell: bool, cwd: str, env: dict[str, str]) -> tuple[Any, bool, dict[str, Any]]:
    """How to start ``command`` in a process group of its own that dies with its worker (Linux).

    ``setpriv --pdeathsig KILL`` keeps Popen on its fast path (vfork); a ``preexec_fn`` doing the
    same forces a full fork of the worker process, several milliseconds per task. setpriv would
    turn a missing program into exit code 127, so the program is looked up first, and a missing
    one fails as it does without setpriv (``cannot start command``).
    """
    if not POSIX:  # pragma: no cover - Windows
        return command, shell, {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    setpriv = _setpriv()
    if setpriv is None:
        preexec = _parent_death_signal()
        return command, shell, ({"preexec_fn": preexec} if preexec is not None else {"start_new_session": True})
    prefix = [setpriv, "--pdeathsig", "KILL", "--"]
    if shell:
        return prefix + ["/bin/sh", "-c", command], False, {"start_new_session": True}
    program = command[0]
    if os.sep in program:
        found = os.access(os.path.join(cwd, program), os.X_OK)
    else:
        found = shutil.which(program, path=env.get("PATH", os.defpath)) is not None
    if not found:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    return prefix + list(command), False, {"start_new_session": True}


def _this_worker() -> Any:
    """The Dask worker running the current task (None when called outside one)."""
    try:
        from distributed import get_worker

        return get_worker()
    except Exception:  # noqa: BLE001 - not on a worker (a direct call)
        return None


def _task_cancelled(worker: Any, key: str) -> bool:
    """True once ``worker`` no longer wants this task (cancelled, released, its client gone)."""
    if worker is None:
        return False
    try:
        state = worker.state.tasks.get(key)
    except Exception:  # noqa: BLE001 - a worker shutting down: let its own teardown decide
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
    worker = _this_worker()
    with open(job["stdout"], "wb") as out, open(job["stderr"], "wb") as err:
        with _lock:
            if key in _stopped or _task_cancelled(worker, key):
                result["stopped"] = True
                result["error"] = "not started: the run was stopping"
                return result
            result["started_at"] = utc_now()
            try:
                argv, shell, group = _spawn_args(job["command"], job["shell"], job["cwd"], env)
                proc = subprocess.Popen(argv, shell=shell, cwd=job["cwd"], env=env,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=err, **group)
            except OSError as exc:
                message = f"cannot start command on {host}: {exc.strerror or exc}"
                if getattr(exc, "filename", None):
                    message += f": {exc.filename}"
                err.write((message + "\n").encode())
                result.update(ended_at=utc_now(), error=message)
                return result
            _running[key] = proc
            _started[key] = (result["started_at"], None)
            _workers[key] = worker
            _start_watcher()
        result["pid"] = proc.pid
        _event(topic, {"key": key, "started_at": result["started_at"], "host": host, "pid": proc.pid})
        code = proc.wait()
        with _lock:
            _running.pop(key, None)
            _workers.pop(key, None)
            _term_sent.pop(key, None)
            _remember_end(key)
            result["stopped"] = key in _stopped
    result["exit_code"] = code
    result["ended_at"] = utc_now()
    if code != 0:
        result["error"] = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    return result


def _start_watcher() -> None:
    """One thread per worker process (called with ``_lock`` held) watching every running command."""
    global _watcher
    if _watcher is None or not _watcher.is_alive():
        _watcher = threading.Thread(target=_watch, name="scriptflow-watch", daemon=True)
        _watcher.start()


def _watch() -> None:
    """Stop the command of a task its worker no longer wants: SIGTERM, then SIGKILL after a grace.

    A thread apart from the ones waiting on the commands, so that those wait without polling
    (no latency added to short commands) and one look every quarter second covers them all.
    """
    while True:
        time.sleep(CANCEL_POLL_SECONDS)
        with _lock:
            running = [(k, p, _workers.get(k), _term_sent.get(k)) for k, p in _running.items()]
        now = time.monotonic()
        for key, proc, worker, term_sent in running:
            if term_sent is None and _task_cancelled(worker, key):
                with _lock:
                    _stopped.add(key)
                    _term_sent[key] = now
                _killpg(proc, signal.SIGTERM)
            elif term_sent is not None and now - term_sent >= WORKER_GRACE_SECONDS:
                _killpg(proc, signal.SIGKILL)


def _remember_end(key: str) -> None:
    """Keep an ended command's start for ``claim_unstarted`` a while (called with ``_lock`` held)."""
    now = time.monotonic()
    _started[key] = (_started[key][0], now)
    if len(_started) > 1000:
        for old in [k for k, (_, end) in _started.items() if end is not None and now - end > REMEMBER_SECONDS]:
            del _started[old]


def claim_unstarted(keys: list[str]) -> dict[str, str]:
    """Run by ``Client.run`` on every worker when the run stops: each of ``keys`` whose command has
    not started here never will; returns the others (running or ended) with their start time.

    The worker decides under the same lock as ``run_attempt`` before starting a command, so
    a key is either reported started by some worker or will never start: the run can then
    record attempts as never started without guessing.
    """
    with _lock:
        started = {k: _started[k][0] for k in keys if k in _started}
        _stopped.update(k for k in keys if k not in started)
    return started


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
