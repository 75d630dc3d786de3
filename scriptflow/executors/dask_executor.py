"""Run attempts on a Dask distributed cluster: an existing scheduler, or a LocalCluster.

Each attempt becomes one Dask task (``dask_worker.run_attempt``, a pure
function of a dict) with a unique key, submitted with the task's resource
restrictions. Dask only places and runs it: the worker starts the command
as a subprocess in the task's working directory and writes the attempt's
log files (both on a filesystem the workers share); everything else (output
checks, hashing, the ledger) stays with the engine, which sees this executor
only through the contract of ``base.py``.

Dask is imported when the executor is created, never when scriptflow
starts or lists executors, so runs that do not use it pay nothing. A
LocalCluster (no ``address``) is started by the first attempt submitted to
it, so a run whose tasks are all up to date starts none.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import ConfigError
from ..version import archive_path
from .base import Attempt, Executor, Outcome, Reporter, Started
from .dask_settings import RESOURCE_NAMES, DaskSettings, dask_resources
from .dask_worker import claim_unstarted, running_attempts, run_attempt, signal_attempts

log = logging.getLogger("scriptflow.executors.dask")

#: How long the resource names the workers declare are reused before asking the scheduler again.
DECLARED_TTL_SECONDS = 5.0
#: After SIGKILL, how long ``cancel_all`` waits for the workers to see their commands end.
KILL_WAIT_SECONDS = 5.0

INSTALL_HINT = "the dask executor needs Dask distributed: pip install 'scriptflow[dask]'"
#: The single-file scriptflow (``scriptflow bundle``) holds no optional extra.
ARCHIVE_HINT = ("the dask executor needs Dask distributed, which a single-file scriptflow ({archive}) does not "
                "include: use a scriptflow installed with pip install 'scriptflow[dask]'")


@dataclass
class _InFlight:
    """One attempt this executor submitted and has not resolved yet."""

    key: str
    attempt: Attempt
    reporter: Reporter
    future: "Future[Outcome]"
    dask_future: Any = None
    started: Optional[Started] = None
    done: bool = False


def _first_line(exc: BaseException) -> str:
    """The first line of what ``exc`` says (its type's name when it says nothing): Dask's and
    distributed's errors can run to many lines, and a run's error is one."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class DaskExecutor(Executor):
    """Dask distributed workers: an existing scheduler (`address`) or a LocalCluster for the run."""

    name = "dask"
    settings_class = DaskSettings
    settings: DaskSettings

    def __init__(self, settings: Mapping[str, Any], state_dir: Path) -> None:
        super().__init__(settings, state_dir)
        try:
            import dask  # noqa: F401 - here, so that a missing extra is a one-line error before any task
            from distributed import Client
        except ImportError:
            archive = archive_path()
            raise ConfigError(ARCHIVE_HINT.format(archive=archive) if archive else INSTALL_HINT) from None
        self._token = uuid.uuid4().hex[:12]
        self._topic = f"scriptflow-{self._token}"
        self._lock = threading.Lock()
        self._inflight: dict[str, _InFlight] = {}
        self._stopping = threading.Event()
        self._kill_now = threading.Event()
        self._declared: tuple[float, frozenset[str]] = (float("-inf"), frozenset())
        self._cluster: Any = None
        self._client: Any = None
        self._start_lock = threading.Lock()  # held while the LocalCluster starts, and by shutdown
        self._start_error: Optional[str] = None
        self._shut = False
        s = self.settings
        if s.address is not None:  # at once: a wrong address is a one-line error before any task
            try:
                self._client = Client(s.address, timeout=s.connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                reason = _first_line(exc)
                raise ConfigError(f"cannot connect to the Dask scheduler at {s.address} "
                                  f"(executors.dask.address) within {s.connect_timeout:g} s: {reason}") from None
            self._client.subscribe_topic(self._topic, self._on_event)

    def _started_client(self) -> Any:
        """The client; without ``address``, the LocalCluster is started here, by the first attempt
        submitted. A run whose tasks are all up to date starts none: starting and closing two
        workers took 0.36 s, about as long as the rest of a 3,000-task no-op. A cluster that
        cannot start fails this attempt and every later one with the same one-line reason."""
        client = self._client
        if client is not None:
            return client
        with self._start_lock:
            if self._client is None:
                if self._shut:
                    raise RuntimeError("the run is over")
                if self._start_error is not None:
                    raise RuntimeError(self._start_error)
                try:
                    self._client = self._start_local_cluster()
                except Exception as exc:
                    self._start_error = f"the Dask LocalCluster cannot start: {type(exc).__name__}: {_first_line(exc)}"
                    raise RuntimeError(self._start_error) from None
            return self._client

    def _start_local_cluster(self) -> Any:
        import dask
        from distributed import Client, LocalCluster

        s = self.settings
        overrides = {} if s.work_stealing is None else {"distributed.scheduler.work-stealing": s.work_stealing}
        with dask.config.set(overrides):
            self._cluster = LocalCluster(n_workers=s.n_workers, threads_per_worker=s.threads_per_worker,
                                         processes=True, dashboard_address=None, silence_logs=logging.ERROR)
        try:
            client = Client(self._cluster, timeout=s.connect_timeout, set_as_default=False)
            client.subscribe_topic(self._topic, self._on_event)
        except BaseException:
            self._cluster.close()
            self._cluster = None
            raise
        log.info("a Dask LocalCluster started for the run's first attempt on it (%d workers)",
                 len(self._cluster.workers))
        return client

    # -- submitting ------------------------------------------------------------------

    def submit(self, attempt: Attempt, reporter: Reporter) -> "Future[Outcome]":
        future: "Future[Outcome]" = Future()
        if self._stopping.is_set() or not reporter.may_start():
            future.set_result(Outcome(exit_code=None, error="not started: the run was stopping", interrupted=True))
            return future
        client = self._started_client()  # raises if the LocalCluster cannot start: the attempt fails
        try:
            restrictions = dask_resources(attempt.resources, self.settings.resources, self._declared_names(attempt))
        except ValueError as exc:
            future.set_result(Outcome(exit_code=None, error=str(exc)))
            return future
        key = f"scriptflow-{self._token}-{attempt.attempt_id}"
        entry = _InFlight(key, attempt, reporter, future)
        job = {
            "key": key, "command": attempt.command, "shell": attempt.shell, "cwd": str(attempt.cwd),
            "env": dict(attempt.env), "stdout": str(attempt.stdout_path), "stderr": str(attempt.stderr_path),
            "max_runs": self.settings.dask_retries + 1, "topic": self._topic,
        }
        with self._lock:  # cancel_all sets _stopping under this lock: an attempt is in its list, or not sent
            if self._stopping.is_set():
                future.set_result(Outcome(exit_code=None, error="not started: the run was stopping",
                                          interrupted=True))
                return future
            self._inflight[key] = entry
        try:
            entry.dask_future = client.submit(run_attempt, job, key=key, pure=False,
                                              resources=restrictions or None,
                                              retries=self.settings.dask_retries or None)
        except Exception:
            with self._lock:
                self._inflight.pop(key, None)
            raise
        entry.dask_future.add_done_callback(lambda f: self._dask_done(entry, f))
        return future

    def _declared_names(self, attempt: Attempt) -> frozenset[str]:
        """Resource names some worker declares ('auto'), asked of the scheduler at most every few seconds."""
        if self.settings.resources != "auto" or not any(n in attempt.resources for n in RESOURCE_NAMES):
            return frozenset()
        with self._lock:
            at, names = self._declared
        if time.monotonic() - at < DECLARED_TTL_SECONDS:
            return names
        info = self._client.scheduler_info(n_workers=-1)
        names = frozenset(n for w in info.get("workers", {}).values() for n in (w.get("resources") or {}))
        with self._lock:
            self._declared = (time.monotonic(), names)
        return names

    # -- hearing back ------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        """A worker started a command (Dask event on this executor's topic): report it at once."""
        _, message = event
        with self._lock:
            entry = self._inflight.get(message.get("key"))
            if entry is None or entry.done or entry.started is not None:
                return
            entry.started = Started(started_at=message["started_at"], host=message["host"], pid=message["pid"])
            entry.reporter.started(entry.started)

    def _dask_done(self, entry: _InFlight, dask_future: Any) -> None:
        """On Dask's callback thread: turn the Dask result into the attempt's Outcome."""
        if dask_future.cancelled():
            if self._stopping.is_set():
                return  # cancel_all resolves it once the command has ended on its worker
            self._resolve(entry, Outcome(exit_code=None, started_at=self._started_at(entry), ended_at=None,
                                         error="Dask cancelled the task (scheduler restarted or unreachable?)"))
            return
        try:
            result = dask_future.result()
        except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler, a worker that cannot import us
            text = " ".join(str(exc).split()) or type(exc).__name__
            self._resolve(entry, Outcome(exit_code=None, started_at=self._started_at(entry), ended_at=None,
                                         error=f"Dask: {type(exc).__name__}: {text}"))
            return
        if result.get("pid") is not None:
            with self._lock:
                if entry.started is None and not entry.done:
                    entry.started = Started(started_at=result["started_at"], host=result["host"], pid=result["pid"])
                    entry.reporter.started(entry.started)
        started_at = result.get("started_at") or self._started_at(entry)
        outcome = Outcome(exit_code=result.get("exit_code"), started_at=started_at,
                          ended_at=result.get("ended_at"), error=result.get("error"),
                          interrupted=bool(result.get("stopped")), host=result.get("host"))
        if result.get("lost") and entry.started is not None:
            outcome.host = entry.started.host
        self._resolve(entry, outcome)

    @staticmethod
    def _started_at(entry: _InFlight) -> Optional[str]:
        return entry.started.started_at if entry.started is not None else None

    def _resolve(self, entry: _InFlight, outcome: Outcome) -> None:
        with self._lock:
            if entry.done:
                return
            entry.done = True
            self._inflight.pop(entry.key, None)
        entry.future.set_result(outcome)
        if not self._stopping.is_set() and not entry.reporter.may_start():
            self._drop_queued()

    def _drop_queued(self) -> None:
        """The run is stopping (a failure without --keep-going): attempts no worker has started must
        not start. The workers are asked first (``claim_unstarted``): those none started never will,
        and are cancelled and resolved as never started; those a worker did start run to their end."""
        with self._lock:
            queued = [e for e in self._inflight.values() if e.started is None and not e.done]
        if not queued:
            return
        started = self._claim([e.key for e in queued])
        if started is None:
            return  # cannot tell which started: they all run to their end, as attempts already running do
        with self._lock:
            never = [e for e in queued if e.key not in started and not e.done]
            for entry in never:
                entry.done = True
                self._inflight.pop(entry.key, None)
        try:
            self._client.cancel([e.dask_future for e in never if e.dask_future is not None])
        except Exception:  # noqa: BLE001 - the workers will not start them anyway
            log.exception("cancelling queued Dask tasks failed")
        for entry in never:
            entry.future.set_result(Outcome(exit_code=None, error="not started: the run was stopping",
                                            interrupted=True))

    def _claim(self, keys: list[str]) -> Optional[dict[str, str]]:
        """``claim_unstarted`` on every worker: key -> start time of those some worker started."""
        try:
            answers = self._client.run(claim_unstarted, keys, on_error="ignore")
        except Exception:  # noqa: BLE001
            log.exception("asking Dask workers failed")
            return None
        started: dict[str, str] = {}
        for answer in answers.values():
            if isinstance(answer, dict):
                started.update(answer)
        return started

    # -- stopping ----------------------------------------------------------------------

    def cancel_all(self, grace_seconds: float) -> None:
        with self._lock:
            self._stopping.set()
            entries = list(self._inflight.values())
        keys = [e.key for e in entries]
        started: dict[str, str] = {}
        if keys:
            started = self._claim(keys) or {}  # from now on, no worker starts one of these
            try:
                self._client.cancel([e.dask_future for e in entries if e.dask_future is not None])
            except Exception:  # noqa: BLE001 - still signal the workers below
                log.exception("cancelling Dask tasks failed")
            self._signal(keys, kill=False)
            deadline = time.monotonic() + grace_seconds
            while self._still_running(keys) and time.monotonic() < deadline and not self._kill_now.is_set():
                time.sleep(0.1)
            self._signal(keys, kill=True)
            deadline = time.monotonic() + KILL_WAIT_SECONDS
            while self._still_running(keys) and time.monotonic() < deadline:
                time.sleep(0.1)
        for entry in entries:
            # An attempt whose start event had not arrived may still have started: its outputs must go.
            started_at = self._started_at(entry) or started.get(entry.key)
            self._resolve(entry, Outcome(exit_code=None, started_at=started_at, ended_at=None,
                                         error="interrupted", interrupted=True,
                                         host=entry.started.host if entry.started else None))

    def kill_now(self) -> None:
        self._stopping.set()
        self._kill_now.set()

    def _signal(self, keys: list[str], kill: bool) -> None:
        try:
            self._client.run(signal_attempts, keys, kill, on_error="ignore")
        except Exception:  # noqa: BLE001 - a worker that cannot be reached has no command of ours left to stop
            log.exception("signalling Dask workers failed")

    def _still_running(self, keys: list[str]) -> bool:
        try:
            answers = self._client.run(running_attempts, keys, on_error="ignore")
        except Exception:  # noqa: BLE001
            log.exception("asking Dask workers failed")
            return False
        return any(isinstance(a, list) and a for a in answers.values())

    def shutdown(self) -> None:
        with self._start_lock:  # a LocalCluster being started is closed once it has
            self._shut = True
            try:
                if self._client is not None:
                    self._client.unsubscribe_topic(self._topic)
                    self._client.close()
            finally:
                if self._cluster is not None:
                    self._cluster.close()
