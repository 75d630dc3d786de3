"""Run history, read-only: which runs exist, how they went, what their tasks did.

Used by ``runs``, ``show``, ``logs``, ``resume`` and ``report``; never takes
the project lock and never writes, so it works while a run is live. A run
still marked ``running`` whose process is gone is shown as ``lost`` (the next
``run`` or ``resume`` records it so).
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from ..errors import ScriptflowError
from ..clock import elapsed_seconds, parse_time
from ..ledger.store import HEARTBEAT_SECONDS, open_for_reading
from ..project import Project

#: A live run refreshes its heartbeat every few seconds; this much silence means it is gone.
STALE_AFTER_SECONDS = 12 * HEARTBEAT_SECONDS
#: Order of `show`: what needs attention first.
STATUS_ORDER = ["failed", "lost", "interrupted", "upstream-failed", "not-started", "running", "waiting",
                "succeeded", "cached"]


class UnknownRun(ScriptflowError):
    exit_code = 1


def find_project(file: Optional[str] = None, directory: Optional[str] = None) -> Project:
    """The project of a read-only command: -C DIR, the folder of --file, or the nearest
    folder upwards from the current one that holds ``.scriptflow/ledger.db``."""
    start = Path(directory) if directory else Path.cwd()
    if file:
        return Project((start / file).parent)
    if directory:
        return Project(start)
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".scriptflow" / "ledger.db").exists():
            return Project(folder)
    return Project(here)


def typed_path(project: Project, text: str, directory: Optional[str] = None) -> str:
    """The ledger's spelling of a path the user typed: relative to ``-C DIR`` ("as if started
    in DIR") if given, else to the current directory; absolute paths as they are."""
    return project.relative(project.absolute(text, os.path.abspath(directory) if directory else os.getcwd()))


def connect(project: Project) -> sqlite3.Connection:
    return open_for_reading(project.ledger_path)


def pid_alive(pid: int) -> bool:
    """Whether a process exists. Only POSIX can ask without harm (on Windows ``os.kill``
    terminates the process), so elsewhere a run counts as alive and its heartbeat decides."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_status(row: sqlite3.Row, now: Optional[datetime] = None) -> str:
    """The run's status, with a 'running' run whose process is gone shown as 'lost'."""
    if row["status"] != "running":
        return row["status"]
    now = now or datetime.now(timezone.utc)
    beat = parse_time(row["heartbeat_at"]) or parse_time(row["started_at"])
    if beat is not None and (now - beat).total_seconds() > STALE_AFTER_SECONDS:
        return "lost"
    if row["host"] == socket.gethostname() and not pid_alive(row["pid"]):
        return "lost"
    return "running"


def resolve_run(conn: sqlite3.Connection, text: str) -> sqlite3.Row:
    """A run by id, or by name (the most recent run of that name)."""
    text = str(text).strip()
    row = None
    if text.isdigit():
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (int(text),)).fetchone()
    if row is None:
        row = conn.execute("SELECT * FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1", (text,)).fetchone()
    if row is None:
        raise UnknownRun(f"no run {text!r} in this project (see `scriptflow runs`)")
    return row


def latest_unfinished_run(conn: sqlite3.Connection) -> sqlite3.Row:
    """The latest run that did not succeed and that no later run has resumed already."""
    row = conn.execute(
        "SELECT * FROM runs r WHERE r.status != 'succeeded' "
        "AND NOT EXISTS (SELECT 1 FROM runs later WHERE later.parent_run_id = r.id) "
        "ORDER BY r.id DESC LIMIT 1").fetchone()
    if row is None:
        raise UnknownRun("nothing to resume: every run succeeded or was resumed already "
                         "(name a run to resume it again)")
    return row


def list_runs(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT r.*, count(t.id) AS tasks, "
        "       coalesce(sum(t.status = 'succeeded'), 0) AS ran, "
        "       coalesce(sum(t.status = 'cached'), 0) AS cached, "
        "       coalesce(sum(t.status IN ('failed', 'lost', 'interrupted')), 0) AS failed, "
        "       coalesce(sum(t.status IN ('upstream-failed', 'not-started')), 0) AS not_run "
        "FROM (SELECT * FROM runs ORDER BY id DESC LIMIT ?) r LEFT JOIN tasks t ON t.run_id = r.id "
        "GROUP BY r.id ORDER BY r.id DESC",
        (limit,),
    ).fetchall()
    # Tasks found up to date are `reuses` rows (schema 5): cached tasks of the run too.
    reused = dict(conn.execute(
        "SELECT run_id, count(*) FROM reuses WHERE run_id IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?) "
        "GROUP BY run_id", (limit,)).fetchall())
    out = []
    for row in rows:
        out.append({
            "id": row["id"], "name": row["name"], "flow": row["flow"], "status": live_status(row),
            "started_at": row["started_at"], "ended_at": row["ended_at"],
            "duration_seconds": elapsed_seconds(row["started_at"], row["ended_at"], until_now=True),
            "tasks": row["tasks"] + reused.get(row["id"], 0), "ran": row["ran"],
            "cached": row["cached"] + reused.get(row["id"], 0), "failed": row["failed"],
            "not_run": row["not_run"], "parent_run_id": row["parent_run_id"], "exit_code": row["exit_code"],
            "args": json.loads(row["flow_args"]), "error": row["error"],
        })
    return out


def run_tasks(conn: sqlite3.Connection, run_id: int) -> list[dict[str, Any]]:
    """Each task of a run with its attempts summarised; failures first. Its cached tasks
    include those recorded as reuses (the ``run_tasks`` view); they have no attempt in the run
    (``a.run_id = t.run_id``: the reused row's attempts belong to an earlier run)."""
    rows = conn.execute(
        "SELECT t.*, "
        "  (SELECT count(*) FROM attempts a WHERE a.task_id = t.id AND a.run_id = t.run_id) AS attempts, "
        "  (SELECT min(a.started_at) FROM attempts a WHERE a.task_id = t.id AND a.run_id = t.run_id) AS first_start, "
        "  (SELECT max(a.ended_at) FROM attempts a WHERE a.task_id = t.id AND a.run_id = t.run_id) AS last_end, "
        "  (SELECT p.uid FROM tasks p WHERE p.id = t.parent_task_id) AS parent_uid "
        "FROM run_tasks t WHERE t.run_id = ? ORDER BY t.id",
        (run_id,),
    ).fetchall()
    last = {r["task_id"]: r for r in conn.execute(
        "SELECT a.* FROM attempts a JOIN (SELECT task_id, max(number) AS n FROM attempts WHERE run_id = ? "
        "GROUP BY task_id) m ON a.task_id = m.task_id AND a.number = m.n", (run_id,)).fetchall()}
    job_ids: dict[int, list[str]] = {}
    for r in conn.execute("SELECT task_id, job_id FROM attempts WHERE run_id = ? AND job_id IS NOT NULL "
                          "ORDER BY number", (run_id,)):
        job_ids.setdefault(r["task_id"], []).append(r["job_id"])
    watched = watch_summary(conn, run_id)
    out = []
    for row in rows:
        attempt = last.get(row["id"])
        out.append({
            "uid": row["uid"], "status": row["status"], "reason": row["reason"], "attempts": row["attempts"],
            "exit_code": attempt["exit_code"] if attempt else None,
            "error": attempt["error"] if attempt else None,
            "duration_seconds": elapsed_seconds(row["first_start"], row["last_end"], until_now=True),
            "executor": row["executor"], "job_ids": job_ids.get(row["id"], []),
            "stderr_path": attempt["stderr_path"] if attempt else None,
            "shell": row["shell"], "command": json.loads(row["command"]), "created_by": row["parent_uid"],
            "watch": watched.get(row["uid"]),
        })
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    out.sort(key=lambda t: rank.get(t["status"], len(rank)))
    return out


def watch_summary(conn: sqlite3.Connection, run_id: int) -> dict[str, dict[str, Any]]:
    """uid -> its ``t.watch`` matches in a run: how many (those past the ledger's limit too), and
    the last recorded one (line and attempt)."""
    out: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        "SELECT s.task_uid, s.matches, e.detail FROM ("
        "  SELECT task_uid, max(CASE WHEN json_extract(detail, '$.truncated') IS NULL THEN id END) AS last_id, "
        "    sum(CASE WHEN json_extract(detail, '$.truncated') IS NULL THEN 1 "
        "        ELSE json_extract(detail, '$.matches') - json_extract(detail, '$.recorded') END) AS matches "
        "  FROM events WHERE run_id = ? AND kind = 'watch' GROUP BY task_uid"
        ") AS s LEFT JOIN events AS e ON e.id = s.last_id", (run_id,)).fetchall()
    for row in rows:
        detail = json.loads(row["detail"]) if row["detail"] is not None else {}
        out[row["task_uid"]] = {"matches": row["matches"], "last_line": detail.get("line"),
                                "last_attempt": detail.get("attempt")}
    return out


def find_attempt(conn: sqlite3.Connection, run_id: int, uid: str, number: Optional[int]) -> sqlite3.Row:
    task = conn.execute("SELECT id, reused FROM run_tasks WHERE run_id = ? AND uid = ?", (run_id, uid)).fetchone()
    if task is None:
        raise UnknownRun(f"run {run_id} has no task {uid!r} (see `scriptflow show {run_id}`)")
    if task["reused"]:  # cached: the attempts of the row it reused are an earlier run's
        raise UnknownRun(f"task {uid} of run {run_id} never ran (no attempt, so no logs)")
    if number is None:
        row = conn.execute("SELECT * FROM attempts WHERE task_id = ? ORDER BY number DESC LIMIT 1",
                           (task["id"],)).fetchone()
        if row is None:
            raise UnknownRun(f"task {uid} of run {run_id} never ran (no attempt, so no logs)")
        return row
    row = conn.execute("SELECT * FROM attempts WHERE task_id = ? AND number = ?", (task["id"], number)).fetchone()
    if row is None:
        raise UnknownRun(f"task {uid} of run {run_id} has no attempt {number}")
    return row
