"""What the pages show, as plain dicts read from the ledger (read-only): also the JSON endpoints.

Each request opens its own read-only connection (``readers.runs.connect``), so
the app never holds the ledger open between requests and never blocks a live run.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Optional

from ..clock import elapsed_seconds
from ..project import Project
from ..readers import report, runs

#: How many runs the list reads before filtering.
RUNS_LIMIT = 500
#: Lines of a running task's log shown live.
TAIL_LINES = 30
TAIL_BYTES = 32768


def runs_list(conn: sqlite3.Connection, flow: str = "", status: str = "", name: str = "") -> dict[str, Any]:
    """Runs, newest first, filtered by flow, status (as shown: a dead 'running' run is 'lost') and name."""
    every = runs.list_runs(conn, RUNS_LIMIT)
    shown = [r for r in every if (not flow or r["flow"] == flow) and (not status or r["status"] == status)
             and (not name or name.lower() in (r["name"] or "").lower())]
    return {"runs": shown, "flows": sorted({r["flow"] for r in every}),
            "statuses": sorted({r["status"] for r in every}), "live": any(r["status"] == "running" for r in shown),
            "filters": {"flow": flow, "status": status, "name": name}}


def run_detail(conn: sqlite3.Connection, project: Project, run_text: str) -> dict[str, Any]:
    """One run: its row, tasks, attempts (for the timeline), outputs and the log tails of running tasks."""
    row = runs.resolve_run(conn, run_text)
    run_id = int(row["id"])
    status = runs.live_status(row)
    run = {"id": run_id, "name": row["name"], "flow": row["flow"], "status": status,
           "args": json.loads(row["flow_args"]), "started_at": row["started_at"], "ended_at": row["ended_at"],
           "duration_seconds": elapsed_seconds(row["started_at"], row["ended_at"], until_now=status == "running"),
           "exit_code": row["exit_code"], "error": row["error"], "parent_run_id": row["parent_run_id"],
           "host": row["host"], "flow_file": row["flow_file"]}
    attempts = [dict(r) for r in conn.execute(
        "SELECT a.id, t.uid, a.number, a.status, a.executor, a.job_id, a.host, a.queued_at, a.started_at, "
        "a.ended_at, a.exit_code, a.error, a.stdout_path, a.stderr_path FROM attempts AS a "
        "JOIN tasks AS t ON t.id = a.task_id WHERE a.run_id = ? ORDER BY a.id", (run_id,))]
    for a in attempts:
        a["duration_seconds"] = elapsed_seconds(a["started_at"], a["ended_at"], until_now=a["status"] == "running")
    tasks = runs.run_tasks(conn, run_id)
    last = {a["uid"]: a for a in attempts}
    for task in tasks:
        attempt = last.get(task["uid"])
        task["attempt_id"] = attempt["id"] if attempt else None
        task["live_tail"] = (log_tail(project, attempt) if attempt and status == "running"
                             and attempt["status"] in ("queued", "running") else None)
    outputs = [dict(r) for r in conn.execute(
        "SELECT f.path, f.sha256, f.size, t.uid FROM run_files AS f JOIN tasks AS t ON t.id = f.task_id "
        "WHERE f.run_id = ? AND f.role = 'output' AND f.sha256 IS NOT NULL ORDER BY f.path", (run_id,))]
    return {"run": run, "tasks": tasks, "attempts": attempts, "outputs": outputs, "live": status == "running"}


def log_tail(project: Project, attempt: dict[str, Any]) -> dict[str, list[str]]:
    """The last lines of an attempt's stdout and stderr."""
    return {stream: _tail(project, attempt.get(f"{stream}_path")) for stream in ("stdout", "stderr")}


def _tail(project: Project, path: Optional[str]) -> list[str]:
    if not path:
        return []
    try:
        with open(project.absolute(path), "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - TAIL_BYTES))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-TAIL_LINES:]


def attempt_log(conn: sqlite3.Connection, project: Project, attempt_id: int, stream: str) -> Optional[str]:
    """An attempt's whole stdout or stderr (only files the ledger names: never a path from the request)."""
    row = conn.execute("SELECT stdout_path, stderr_path FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
    if row is None or stream not in ("stdout", "stderr") or not row[f"{stream}_path"]:
        return None
    try:
        return Path(project.absolute(row[f"{stream}_path"])).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def file_lineage(conn: sqlite3.Connection, project: Project, path: str,
                 as_of: Optional[str] = None) -> dict[str, Any]:
    """``scriptflow report --json`` of ``path`` (ledger spelling), optionally as of a run."""
    as_of_run = int(runs.resolve_run(conn, as_of)["id"]) if as_of else None
    return report.lineage(conn, project, path, as_of_run).to_json()
