"""One run from start to end: load the flow, lock the project, open the ledger,
run the flow in its own thread, handle Ctrl-C/SIGTERM, record the outcome.

The flow runs in a separate thread so that the main thread stays free to
receive signals and to wait for the engine.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Optional, Sequence

from .. import __version__, config as config_module
from . import flowfile
from ..terminal.console import RunConsole, make_console
from ..core.engine import Engine
from ..core.runstate import RunOptions, TaskRecord
from ..errors import ScriptflowError, TaskError
from ..clock import utc_now
from ..ledger.writer import LedgerWriter
from ..executors.base import RecordedJob
from .lock import ProjectLock
from ..ledger.recovery import recover_dead_runs
from .logsetup import setup_logging
from ..project import Project, ledger_free_text, ledger_text

log = logging.getLogger("scriptflow.run")

EXIT_OK, EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 130, 143


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


@dataclass
class RunResult:
    run_id: int
    status: str
    exit_code: int
    records: list[TaskRecord] = field(default_factory=list)
    error: Optional[str] = None


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated()


def command_line_config(request: RunRequest) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    if request.jobs is not None:
        cfg["executors"] = {"local": {"maxsize": request.jobs}}
    if request.classic is not None:
        cfg["classic_terminal"] = request.classic
    return cfg


def force_patterns(cfg: dict[str, Any], request: RunRequest) -> tuple[bool, list[str]]:
    force = cfg.get("force")
    globs = list(request.force)
    if isinstance(force, str):
        globs.append(force)
    elif isinstance(force, (list, tuple)):
        globs.extend(str(g) for g in force)
    return bool(request.force_all or force is True), globs


def execute(request: RunRequest, stream: Optional[IO[str]] = None) -> RunResult:
    """Run one flow; returns how it went (the CLI turns it into an exit code)."""
    path = flowfile.locate(request.file, request.directory)
    project = Project(path.parent)
    os.chdir(project.dir)
    config_module.reset_flow_config()
    module = flowfile.load(path)
    flow = flowfile.find_flow(module, request.flow, path)
    cfg = config_module.effective_config(project.dir, command_line_config(request))
    if request.config_override:
        cfg = config_module.merge(cfg, request.config_override)
    force_all, globs = force_patterns(cfg, request)

    project.ensure_state_dir()
    setup_logging(project.log_path, debug=bool(cfg.get("debug")))
    classic = bool(cfg.get("classic_terminal")) or request.dry_run
    console = make_console(project.dir, classic, stream, quiet=request.dry_run)
    if request.dry_run:  # reads the ledger, writes nothing, needs no lock
        writer = LedgerWriter(project.ledger_path, discard=True)
        try:
            return _run(request, project, path, flow, cfg, force_all, globs, writer, None, console, {})
        finally:
            writer.close()
    lock = ProjectLock(project)
    lock.acquire(request.wait_for_lock, on_wait=lambda holder: console.print(
        f"waiting: {holder} holds {project.dir} (Ctrl-C to give up, --no-wait to fail at once)"))
    try:
        writer = LedgerWriter(project.ledger_path)
        try:
            jobs = writer.call(lambda conn: recover_dead_runs(conn, project)).result()
            return _run(request, project, path, flow, cfg, force_all, globs, writer, lock, console, jobs)
        finally:
            writer.close()
    finally:
        lock.release()


def _run(request: RunRequest, project: Project, path: Path, flow: flowfile.Flow, cfg: dict[str, Any],
         force_all: bool, globs: list[str], writer: LedgerWriter, lock: Optional[ProjectLock],
         console: RunConsole, jobs: dict[str, RecordedJob]) -> RunResult:
    run_id = writer.new_id("runs")
    if lock is not None:
        lock.describe(run_id)
    options = {"config": cfg, "force": globs, "force_all": force_all, "keep_going": request.keep_going,
               "jobs": request.jobs}
    writer.execute(
        "INSERT INTO runs (id, name, flow, flow_file, flow_args, options, project_dir, parent_run_id, status, "
        "started_at, heartbeat_at, host, pid, scriptflow_version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
        (run_id, request.name, flow.name, project.relative(path), json.dumps(list(request.args)),
         json.dumps(options, default=str), ledger_text(str(project.dir)), request.parent_run_id, utc_now(), utc_now(),
         socket.gethostname(), os.getpid(), __version__),
    )
    writer.set_heartbeat(lambda conn: conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?",
                                                   (utc_now(), run_id)))
    log.info("run %d: flow %s of %s started", run_id, flow.name, path)
    engine_options = RunOptions(run_id=run_id, config=cfg, force_globs=globs, force_all=force_all,
                                grace_seconds=float(cfg.get("interrupt_grace", 10)),
                                keep_going=request.keep_going or request.dry_run, dry_run=request.dry_run,
                                reattach=jobs, flow_file=str(path))
    flow_error: list[BaseException] = []
    flow_done = threading.Event()
    exit_code: Optional[int] = None
    previous_term = signal.signal(signal.SIGTERM, _raise_terminated) if _main_thread() else None
    engine = Engine(project, writer, engine_options, console)
    try:
        with engine:
            console.begin(run_id, flow.name)

            def run_flow() -> None:
                try:
                    flowfile.call_flow(flow, request.args, path)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    flow_error.append(exc)
                    if not isinstance(exc, TaskError):
                        engine.stopping = True
                finally:
                    flow_done.set()

            threading.Thread(target=run_flow, name="sf-flow", daemon=True).start()
            try:
                flow_done.wait()
                engine.wait_idle()
            except (KeyboardInterrupt, _Terminated) as exc:
                exit_code = EXIT_SIGTERM if isinstance(exc, _Terminated) else EXIT_SIGINT
                _stop(engine, console)
    finally:
        console.end()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)

    error = None
    if flow_error and not isinstance(flow_error[0], TaskError) and exit_code is None:
        exc = flow_error[0]
        error = ledger_free_text(str(exc) if isinstance(exc, ScriptflowError) else f"{type(exc).__name__}: {exc}")
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
    writer.set_heartbeat(None)
    writer.execute(
        "UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, error = ?, files_hashed = ?, "
        "files_from_stat_cache = ? WHERE id = ?",
        (status, utc_now(), exit_code, error, engine.hasher.files_hashed, engine.hasher.files_from_stat_cache,
         run_id),
    )
    writer.flush()
    log.info("run %d %s (exit %d)", run_id, status, exit_code)
    if request.dry_run:
        console.print(dry_run_table(engine.records))
    else:
        console.summary(status, exit_code, stats)
    if error:
        sys.stderr.write(f"scriptflow: error: {error}\n")
    return RunResult(run_id, status, exit_code, engine.records, error)


def _stop(engine: Engine, console: RunConsole) -> None:
    """First signal: terminate running tasks and wait; another Ctrl-C kills them at once.

    A second signal may land anywhere in here, even inside ``interrupt()``:
    it is always caught, and kills what runs, so the run is always closed.
    """
    first = True
    while True:
        try:
            if first:
                first = False
                engine.interrupt()
                console.print("interrupted: stopping running tasks (press Ctrl-C again to kill them now)")
            engine.wait_idle()
            engine.wait_cancelled()
            return
        except (KeyboardInterrupt, _Terminated):
            engine.interrupt()
            engine.kill_now()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


DRY_RUN_WORDS = {
    "would-run": "would run",
    "cached": "up to date",
    "failed": "would fail",
    "upstream-failed": "would not run",
    "not-started": "would not start",
}


def dry_run_table(records: list[TaskRecord]) -> str:
    """What ``run --dry-run`` prints: each task, what would happen, and why."""
    from tabulate import tabulate

    rows = [(r.spec.uid, DRY_RUN_WORDS.get(r.status, r.status), r.reason or "") for r in records]
    would = sum(1 for r in records if r.status == "would-run")
    text = tabulate(rows, headers=["task", "decision", "reason"], tablefmt="simple") if rows else "no tasks"
    text += f"\ndry run: {would} of {len(records)} tasks would run; nothing was executed or recorded"
    return text
