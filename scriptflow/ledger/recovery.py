"""Closing what a dead run left open (``kill -9``, a crash, a lost machine).

Runs only while holding the project lock, so every run still marked
``running`` is certainly dead. The local processes it left behind have
already been stopped (``orphans.stop_dead_runs``, before this); its
unfinished tasks and attempts become ``lost`` (their outputs are never
trusted: a lost task reruns), and its cluster jobs are handed to the new run
to re-attach to instead of submitting them again.

Only a run recorded in this very folder is a run of this project: in a copy
(or a project moved while a run was live) the ledger holds runs of the
original folder, whose processes and jobs belong to it and are left alone.
"""
from __future__ import annotations

import json
import os
import logging
import sqlite3
from pathlib import Path

from ..executors.base import RecordedJob
from ..clock import utc_now
from ..project import Project, path_from_ledger

log = logging.getLogger("scriptflow.recovery")
LOST_MESSAGE = "the scriptflow process that ran it ended without recording an outcome (killed?)"
RUN_LOST_MESSAGE = "the scriptflow process ended without closing the run (killed?)"


def recover_dead_runs(conn: sqlite3.Connection, project: Project) -> dict[str, RecordedJob]:
    """Mark dead runs lost; return their cluster jobs by task uid, for re-attaching."""
    conn.row_factory = sqlite3.Row
    dead = conn.execute("SELECT * FROM runs WHERE status = 'running'").fetchall()
    jobs: dict[str, RecordedJob] = {}
    for run in dead:
        here = recorded_here(run["project_dir"], project)
        if not here:
            log.warning("run %d was recorded in %s, not here: marked lost, its processes and jobs left alone",
                        run["id"], run["project_dir"])
        attempts = [] if not here else conn.execute(
            "SELECT a.*, t.uid, t.fingerprint FROM attempts a JOIN tasks t ON t.id = a.task_id "
            "WHERE a.run_id = ? AND a.status IN ('queued', 'running')", (run["id"],)).fetchall()
        for attempt in attempts:
            if attempt["job_id"]:
                if attempt["fingerprint"]:
                    jobs[attempt["uid"]] = RecordedJob(
                        task_uid=attempt["uid"], fingerprint=attempt["fingerprint"], executor=attempt["executor"],
                        job_id=attempt["job_id"],
                        job_script=project.path_of(attempt["job_script"]) if attempt["job_script"] else None,
                        queue=attempt["queue"],
                        stdout_path=Path(project.path_of(attempt["stdout_path"])),
                        stderr_path=Path(project.path_of(attempt["stderr_path"])), started_at=attempt["started_at"])
        now = utc_now()
        conn.execute("UPDATE attempts SET status = 'lost', ended_at = ?, error = ? "
                     "WHERE run_id = ? AND status IN ('queued', 'running')", (now, LOST_MESSAGE, run["id"]))
        conn.execute("UPDATE tasks SET status = 'lost', ended_at = ? WHERE run_id = ? AND status = 'running'",
                     (now, run["id"]))
        conn.execute("UPDATE tasks SET status = 'not-started', reason = coalesce(reason, 'run-lost'), ended_at = ? "
                     "WHERE run_id = ? AND status IN ('waiting', 'deciding')", (now, run["id"]))
        conn.execute("UPDATE runs SET status = 'lost', ended_at = coalesce(heartbeat_at, started_at), error = ? "
                     "WHERE id = ?", (RUN_LOST_MESSAGE, run["id"]))
        conn.execute("INSERT INTO events (run_id, at, kind, detail) VALUES (?, ?, 'lost', ?)",
                     (run["id"], now, json.dumps({"pid": run["pid"], "host": run["host"],
                                                   "jobs": [j.job_id for j in jobs.values()]})))
        log.warning("run %d (pid %s on %s) was left running: marked lost", run["id"], run["pid"], run["host"])
    return jobs


def recorded_here(project_dir: str, project: Project) -> bool:
    """Whether a run recorded in ``project_dir`` ran in this project's folder (not in the original of a copy)."""
    try:
        return os.path.samefile(path_from_ledger(project_dir), project.dir)
    except (OSError, ValueError):
        return False

