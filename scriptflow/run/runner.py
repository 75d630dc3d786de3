"""One run from start to end: load the flow, lock the project, open the ledger,
run the flow in its own thread, handle Ctrl-C/SIGTERM/SIGHUP, record the outcome.

The flow runs in a separate thread so that the main thread stays free to
receive signals and to wait for the engine.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import socket
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Optional, Sequence

from .. import config as config_module
from ..version import __version__
from . import childlink, flowfile
from ..terminal.console import RunConsole, make_console
from ..core import hooks
from ..core.refresh import refresh_racy
from ..core.engine import Engine
from ..core.history import LeanTables
from ..core import snapshot
from ..core.prefetch import HistoryPrefetch
from ..core.runstate import RunOptions, TaskRecord
from ..errors import ScriptflowError, TaskError
from ..clock import utc_now
from ..ledger.writer import LedgerWriter
from ..notifications import setup as notify_setup
from ..executors import process_groups
from ..executors.base import RecordedJob
from .closing import RunEnd, close_run
from .driving import Driven, drive, exit_code_of
from .dryruntable import dry_run_table
from .lock import ProjectLock
from ..ledger.orphans import dead_runs, record_run_token, stop_dead_runs
from .preflight import StartedCheck, ensure_writable, recover
from .logsetup import setup_logging
from . import signals
from .signals import Terminated as _Terminated
from ..project import Project, ledger_free_text, ledger_text

log = logging.getLogger("scriptflow.run")

EXIT_OK, EXIT_FAILED = 0, 1  # a signal's: driving.exit_code_of


@dataclass
class RunRequest:
    """Everything ``scriptflow run`` was asked; stored with the run so it can be resumed."""

    flow: str
    args: Sequence[str] = ()
    file: Optional[str] = None
    directory: Optional[str] = None
    jobs: Optional[int] = None
    force: Sequence[str] = ()
    force_all: bool = False
    keep_going: bool = False
    name: Optional[str] = None
    classic: Optional[bool] = None
    wait_for_lock: bool = True
    parent_run_id: Optional[int] = None
    dry_run: bool = False
    #: Configuration that wins over everything else (``resume`` replays the recorded one).
    config_override: Optional[dict[str, Any]] = None
    #: ``--adopt``: record tasks whose outputs exist and are newer than their inputs as done.
    adopt: bool = False
    #: ``--set KEY=VALUE`` settings (``executors.slurm.partition=debug``).
    settings: Sequence[str] = ()
    #: ``--notify URL``: extra notification targets receiving every event.
    notify: Sequence[str] = ()


@dataclass
class RunResult:
    run_id: int
    status: str
    exit_code: int
    records: list[TaskRecord] = field(default_factory=list)
    error: Optional[str] = None


def command_line_config(request: RunRequest) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    if request.jobs is not None:
        cfg["executors"] = {"local": {"maxsize": request.jobs}}
    if request.classic is not None:
        cfg["classic_terminal"] = request.classic
    for text in request.settings:
        cfg = config_module.merge(cfg, config_module.parse_setting(text))
    return cfg


def force_patterns(cfg: dict[str, Any], request: RunRequest) -> tuple[bool, list[str]]:
    force = cfg.get("force")
    globs = list(request.force)
    if isinstance(force, str):
        globs.append(force)
    elif isinstance(force, (list, tuple)):
        globs.extend(str(g) for g in force)
    return bool(request.force_all or force is True), globs


def execute(request: RunRequest, stream: Optional[IO[str]] = None,
            check: Optional[StartedCheck] = None) -> RunResult:
    """Run one flow; returns how it went (the CLI turns it into an exit code). ``check``: the
    ledger's check, begun before this module was imported (``earlycheck.py``)."""
    began = time.monotonic()
    try:
        path = flowfile.locate(request.file, request.directory)
    except BaseException:
        if check is not None:
            check.close()
        raise
    project = Project(path.parent)
    os.chdir(project.dir)
    if check is None or check.path != project.ledger_path:  # begun for no ledger, or for another
        if check is not None:
            check.close()
        check = StartedCheck(project.ledger_path)
    # The quick lane's tables, read while the flow loads and the ledger is checked (core/prefetch.py).
    prefetch = None if request.dry_run else HistoryPrefetch.start(project.ledger_path)
    try:
        return _execute(request, stream, path, project, _Started(began, check, prefetch))
    finally:
        if prefetch is not None:
            prefetch.close()
        check.close()


@dataclass(frozen=True)
class _Started:
    """What a run begins before it loads its flow, and when it began."""

    began: float
    check: StartedCheck
    prefetch: Optional[HistoryPrefetch]


def _execute(request: RunRequest, stream: Optional[IO[str]], path: Path, project: Project,
             started: _Started) -> RunResult:
    config_module.reset_flow_config()
    hooks.reset()
    flow = flowfile.find_flow(flowfile.load_flows(path), request.flow, path)
    flowfile.bind_args(flow, request.args)  # a bad parameter: one line, before anything is recorded
    cfg, executor_note = config_module.resolve(project.dir, command_line_config(request))
    if request.config_override:
        cfg = config_module.merge(cfg, request.config_override)
    force_all, globs = force_patterns(cfg, request)
    notify_setup.check(cfg, request.notify)

    ensure_writable(project)
    setup_logging(project.log_path, debug=bool(cfg.get("debug")))
    classic = bool(cfg.get("classic_terminal")) or request.dry_run
    console = make_console(project.dir, classic, stream, quiet=request.dry_run)
    for note in compat_notes(project, cfg, executor_note):
        console.print(note)
    with tuned_gc():  # until the run is recorded and reported: its closing walks every task too
        if request.dry_run:  # reads the ledger, writes nothing, needs no lock
            started.check.verdict()
            writer = LedgerWriter(project.ledger_path, discard=True)
            try:
                return _run(request, project, path, flow, cfg, force_all, globs, writer, None, console, {})
            finally:
                writer.close()
        lock = ProjectLock(project)
        waited: list[str] = []

        def on_wait(holder: str) -> None:
            waited.append(holder)
            console.print(f"waiting: {holder} holds {project.dir} (Ctrl-C to give up, --no-wait to fail at once)")

        lock.acquire(request.wait_for_lock, on_wait=on_wait)
        try:
            started.check.verdict(again=bool(waited))
            writer = LedgerWriter(project.ledger_path)
            try:
                # Before any task is decided: nothing a dead run started may still run beside this one.
                stop_dead_runs(writer.call(lambda conn: dead_runs(conn, project)).result())
                jobs = recover(writer, project)
                read = started.prefetch.take() if started.prefetch is not None else None
                result = _run(request, project, path, flow, cfg, force_all, globs, writer, lock, console, jobs, read)
                if result.status != "interrupted":  # Ctrl-C: out at once, the next run reads instead
                    # While the writer is open: its close, the last, then empties and removes the WAL.
                    keep_tables_for_next_run(project.ledger_path, time.monotonic() - started.began)
                return result
            finally:
                writer.close()
        finally:
            lock.release()


def keep_tables_for_next_run(ledger: Path, run_seconds: float) -> None:
    """Once the run is recorded and before its lock goes: the quick lane's tables as the next run
    will read them, kept in the snapshot if this run changed them and reading them is small
    beside the run (``snapshot.keep_for_next_run``), so that the next run's first task loads
    them instead of waiting for the ledger. A Ctrl-C here stops only that: the run is recorded
    and has said how it went."""
    try:
        if snapshot.keep_for_next_run(ledger, run_seconds):
            log.debug("the quick lane's tables kept for the next run")
    except KeyboardInterrupt:
        log.debug("keeping the quick lane's tables for the next run stopped by Ctrl-C")


def _run(request: RunRequest, project: Project, path: Path, flow: flowfile.Flow, cfg: dict[str, Any],
         force_all: bool, globs: list[str], writer: LedgerWriter, lock: Optional[ProjectLock],
         console: RunConsole, jobs: dict[str, RecordedJob],
         prefetched: Optional[tuple[int, LeanTables]] = None) -> RunResult:
    run_id = writer.new_id("runs")
    if lock is not None:
        lock.describe(run_id)
    recorded_cfg, notify_urls = notify_setup.recorded_options(cfg, request.notify)
    options = {"config": recorded_cfg, "notify": notify_urls, "force": globs, "force_all": force_all,
               "keep_going": request.keep_going,
               "jobs": request.jobs, "adopt": request.adopt}
    token = "" if request.dry_run else f"{run_id}-{os.urandom(8).hex()}"
    engine_options = RunOptions(run_id=run_id, config=cfg, force_globs=globs, force_all=force_all,
                                grace_seconds=float(cfg.get("interrupt_grace", 10)),
                                keep_going=request.keep_going or request.dry_run, dry_run=request.dry_run,
                                reattach=jobs, run_token=token,
                                adopt=request.adopt, flow_file=str(path), warn=console.print)
    notifier = None if request.dry_run else notify_setup.start(cfg, request.notify, project)
    observers = notify_setup.observers(console, notifier)
    engine = Engine(project, writer, engine_options, hooks.HookListener(observers, run_id, console.print))
    if prefetched is not None and engine.history.seed(prefetched[1], prefetched[0]):
        log.debug("run %d: earlier tasks and stat cache read while the run started", run_id)
    # A ledger that cannot be written stops the run at once, like Ctrl-C: nothing it does could be recorded.
    writer.set_on_failure(lambda failure: engine.interrupt())
    driven = Driven()
    restore_signals = signals.install()
    # From the run's row to its closing, a signal anywhere ends in a run recorded interrupted.
    try:
        writer.execute(
            "INSERT INTO runs (id, name, flow, flow_file, flow_args, options, project_dir, parent_run_id, status, "
            "started_at, heartbeat_at, host, pid, scriptflow_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (run_id, request.name, flow.name, project.relative(path), json.dumps(list(request.args)),
             json.dumps(options, default=str), ledger_text(str(project.dir)), request.parent_run_id, utc_now(),
             utc_now(), socket.gethostname(), os.getpid(), __version__),
        )
        console.begin(run_id, flow.name)
        if token:
            # Committed before the flow starts, so before any command can run: if this process dies,
            # the next run finds this run's processes by the token even when no pid reached the ledger.
            writer.call(lambda conn: record_run_token(conn, run_id, token)).result()

        def heartbeat(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (utc_now(), run_id))

        writer.set_heartbeat(heartbeat)
        log.info("run %d: flow %s of %s started", run_id, flow.name, path)
        link: list[Any] = []

        def started() -> None:
            link.append(None if request.dry_run else childlink.open_link(engine, project, run_id))
            if notifier is not None:
                notifier.run_started(run_id, request.name, flow.name, utc_now())

        driven = drive(engine, console, lambda: flowfile.call_flow(flow, request.args, path), started,
                       lambda: childlink.close_link(link[0] if link else None))
    except (KeyboardInterrupt, _Terminated) as exc:  # before the engine was entered
        driven.exit_code = exit_code_of(exc)
    except Exception as exc:  # e.g. an executor that cannot be set up: the run failed, it did not die
        with signals.deferred():
            writer.set_heartbeat(None)
            if not request.dry_run:
                code = exc.exit_code if isinstance(exc, ScriptflowError) else EXIT_FAILED
                close_run(writer, run_id, RunEnd("failed", code, error_text(exc)), 0, 0)
        notify_setup.stop(notifier)
        raise
    finally:
        try:
            console.end()
        finally:
            restore_signals()
    exit_code, flow_error = driven.exit_code, driven.flow_errors
    if token:  # what a task left outside its process group (setsid, a daemon) goes with the run
        process_groups.stop_token_processes([token])
    if token and exit_code is None:  # the next no-op then reads no file this run just hashed
        refresh_racy(engine.hasher.entries(), engine.record.stat_entry)

    error = None
    if flow_error and not isinstance(flow_error[0], TaskError) and exit_code is None:
        error = error_text(flow_error[0])
    if exit_code is not None:
        status = "interrupted"
    elif request.dry_run:
        status, exit_code = "dry-run", EXIT_FAILED if error else EXIT_OK
    elif engine.failed or error or flow_error:
        status, exit_code = "failed", EXIT_FAILED
    else:
        status, exit_code = "succeeded", EXIT_OK
    stats = (f"{engine.hasher.files_hashed} files read, "
             f"{engine.hasher.files_from_stat_cache} from the stat cache")
    with signals.deferred():  # the run is never left half-recorded by a signal landing here
        writer.set_heartbeat(None)
        if not request.dry_run:  # a run whose record is incomplete never passes for a good one
            end = close_run(writer, run_id, RunEnd(status, exit_code, error), engine.hasher.files_hashed,
                            engine.hasher.files_from_stat_cache)
            status, exit_code, error = end.status, end.exit_code, end.error
    log.info("run %d %s (exit %d)", run_id, status, exit_code)
    if notifier is not None:
        notifier.run_finished(status, exit_code, error)
    notify_setup.stop(notifier)
    hooks.run_finished(run_id, status, exit_code, error, console.print)
    if request.dry_run:
        console.print(dry_run_table(engine.records))
    else:
        console.summary(status, exit_code, stats)
    if error:
        sys.stderr.write(f"scriptflow: error: {error}\n")
    return RunResult(run_id, status, exit_code, engine.records, error)


def error_text(exc: BaseException) -> str:
    """The run's ``error`` for what the flow or the engine's start raised: a user's error as its
    one line, anything else with its type."""
    return ledger_free_text(str(exc) if isinstance(exc, ScriptflowError) else f"{type(exc).__name__}: {exc}")


def compat_notes(project: Project, cfg: dict[str, Any], executor_note: Optional[str]) -> list[str]:
    """Lines printed before the run starts: where tasks go when the configuration chose it, and
    (once per project) that ``notify`` contacts nothing."""
    notes = [executor_note] if executor_note else []
    notify = config_module.notify_note(cfg)
    marker = project.state_dir / "notify-noted"
    if notify and not marker.exists():
        notes.append(notify)
        try:
            marker.touch()
        except OSError:
            pass
    return notes


#: Allocations between two young-generation collections during a run (Python's default: 700).
GC_THRESHOLD = 50_000


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """Fewer garbage collections during a run, its closing and its report (undone after).

    A run keeps a few objects per task alive until it ends (task, record, spec), and each
    full collection walks all of them: with the default thresholds a dry run of 100,000
    tasks spent 7 of its 24 s there. What was imported and built before the run, and what
    survives each full collection, is frozen (never scanned again; unfrozen when the run
    ends), and young collections happen every 50,000 allocations.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *before[1:])

    def freeze_survivors(phase: str, info: dict[str, int]) -> None:
        # What survived a full collection is the run's live state: the next one skips it.
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    gc.callbacks.append(freeze_survivors)
    try:
        yield
    finally:
        gc.callbacks.remove(freeze_survivors)
        gc.set_threshold(*before)
        gc.unfreeze()
