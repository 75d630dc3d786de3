"""Stopping every process a dead run left on this machine, before the next run decides anything.

A run's token (``SCRIPTFLOW_RUN`` in the environment of its local attempts)
is committed to the ledger, in its ``started`` event, before the flow
starts, so it is durable before any command can write a byte. A run that
dies (``kill -9``, a crash, a dropped ssh session) leaves its row
``running``; the next run, holding the project lock, finds those runs
(``dead_runs``), kills every process on this host that carries one of their
tokens, and waits until they are gone (``stop_dead_runs``), and only then
marks them lost (``recovery``). Where /proc is missing, the recorded pid and
start time of each unfinished attempt are the fallback.

Containers (podman, docker) of those runs are killed and removed by their
``scriptflow.run`` label (``executors/container.py``): their processes carry
the token too, but the container itself outlives them.

Cluster jobs are not touched here: they carry no token (only local attempts
get one), and recovery hands them to the new run to re-attach to.
"""
from __future__ import annotations

import json
import socket
import sqlite3
from dataclasses import dataclass, field
from typing import Optional

from ..clock import parse_time, utc_now
from ..errors import ScriptflowError
from ..executors import process_groups
from ..project import Project
from .recovery import recorded_here

#: The ``events.kind`` holding a run's token (its ``detail``: {"token": ...}).
STARTED_EVENT = "started"


@dataclass
class DeadRun:
    """A run left ``running`` by a process that is gone: what identifies its processes."""

    run_id: int
    token: Optional[str]
    #: (pid, started_at) of its unfinished local attempts on this host.
    recorded: list[tuple[int, Optional[str]]] = field(default_factory=list)


def record_run_token(conn: sqlite3.Connection, run_id: int, token: str) -> None:
    """Write the run's token (called through the writer, then flushed before the flow starts)."""
    conn.execute("INSERT INTO events (run_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                 (run_id, utc_now(), STARTED_EVENT, json.dumps({"token": token})))


def dead_runs(conn: sqlite3.Connection, project: Project) -> list[DeadRun]:
    """Every run still marked ``running`` in this folder (the caller holds the project lock, so they
    are dead). A run recorded in another folder (this project is a copy) is the original's business."""
    host = socket.gethostname()
    found = []
    for run_id, project_dir in conn.execute(
            "SELECT id, project_dir FROM runs WHERE status = 'running' ORDER BY id").fetchall():
        if not recorded_here(project_dir, project):
            continue
        token = None
        for (detail,) in conn.execute("SELECT detail FROM events WHERE run_id = ? AND kind = ?",
                                      (run_id, STARTED_EVENT)):
            try:
                token = json.loads(detail).get("token") or token
            except (TypeError, ValueError, AttributeError):
                continue
        recorded = [(pid, started) for pid, started in conn.execute(
            "SELECT pid, started_at FROM attempts WHERE run_id = ? AND status IN ('queued', 'running') "
            "AND pid IS NOT NULL AND job_id IS NULL AND host = ?", (run_id, host))]
        found.append(DeadRun(run_id, token, recorded))
    return found


def stop_dead_runs(runs: list[DeadRun], timeout: float = process_groups.GONE_TIMEOUT) -> None:
    """Kill what the dead runs left running here and wait until it is gone.

    Raises ``OrphansSurvive`` when a process cannot be stopped: starting
    tasks beside it could let it overwrite their outputs.
    """
    tokens = [run.token for run in runs if run.token]
    left = process_groups.stop_token_processes(tokens, timeout) if tokens else []
    if tokens:  # podman/docker containers outlive their client: stop them by the run's label
        from ..executors import container  # only then: a run with no dead run never needs it

        container.stop_run_containers(tokens)
    for run in runs:
        for pid, started_at in run.recorded:
            started = parse_time(started_at)
            process_groups.stop_recorded_group(pid, started.timestamp() if started else None, timeout)
    if left:
        ids = ", ".join(str(run.run_id) for run in runs)
        raise OrphansSurvive(
            f"process {left[0]} of a dead run ({ids}) survives SIGKILL; stop it, then run again")


class OrphansSurvive(ScriptflowError):
    """A process a dead run left behind cannot be stopped: the project is not free to run in."""

    exit_code = 3
