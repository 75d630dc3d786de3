"""``scriptflow runs``, ``show`` and ``logs``: the ledger's history, read-only.

None of these take the project lock; they work while a run is live.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..clock import format_duration, format_timestamp
from .options import directory_option, file_option


@click.command("runs", short_help="List the latest runs.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Show the N latest runs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (one object per run) for scripts.")
@file_option
@directory_option
def runs_command(limit: int, as_json: bool, file: str | None, directory: str | None) -> int:
    """List the latest runs: id, name, flow, status, start (UTC), duration, and tasks ran/cached/failed.

    Status is running, succeeded, failed, interrupted, or lost (the process
    died without closing the run; the next run or resume records it).
    """
    from tabulate import tabulate

    from ..readers.runs import connect, find_project, list_runs

    project = find_project(file, directory)
    if not project.ledger_path.exists():
        click.echo(f"no runs yet in {project.dir}")
        return 0
    runs = list_runs(connect(project), limit)
    if as_json:
        click.echo(json.dumps(runs, indent=2))
        return 0
    if not runs:
        click.echo("no runs yet")
        return 0
    rows = [(r["id"], r["name"] or "", r["flow"], r["status"], format_timestamp(r["started_at"], missing=""),
             format_duration(r["duration_seconds"], missing=""), r["ran"], r["cached"], r["failed"] + r["not_run"])
            for r in runs]
    click.echo(tabulate(rows, headers=["id", "name", "flow", "status", "started (UTC)", "duration",
                                       "ran", "cached", "failed"]))
    return 0


@click.command("show", short_help="Show the tasks of a run.")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its tasks (with their commands) as JSON.")
@file_option
@directory_option
def show_command(run: str, as_json: bool, file: str | None, directory: str | None) -> int:
    """Show the tasks of RUN (an id or a name): status, attempts, exit code, duration,
    executor and job ids, the task that created it (when a task's script did), and why
    each ran or was skipped. Failures come first.
    Tasks whose string command ran through /bin/sh because it has shell syntax
    (redirections, pipes, `;`, `$`...) are named below the table, as are the
    tasks with t.watch matches (how many, and the last line that matched)."""
    from tabulate import tabulate

    from ..readers.runs import connect, find_project, live_status, resolve_run, run_tasks

    conn = connect(find_project(file, directory))
    row = resolve_run(conn, run)
    tasks = run_tasks(conn, row["id"])
    status = live_status(row)
    if as_json:
        click.echo(json.dumps({"id": row["id"], "name": row["name"], "flow": row["flow"], "status": status,
                               "started_at": row["started_at"], "ended_at": row["ended_at"],
                               "parent_run_id": row["parent_run_id"], "error": row["error"],
                               "tasks": tasks}, indent=2))
        return 0
    name = f" '{row['name']}'" if row["name"] else ""
    started = format_timestamp(row["started_at"], missing="")
    click.echo(f"run {row['id']}{name}: flow {row['flow']}, {status}, started {started} UTC"
               + (f", resumes run {row['parent_run_id']}" if row["parent_run_id"] else ""))
    if row["error"]:
        click.echo(f"error: {row['error']}")
    with_jobs = any(t["job_ids"] for t in tasks)
    nested = any(t["created_by"] for t in tasks)  # tasks created by a task's script
    rows = []
    for t in tasks:
        line = [t["uid"], t["status"], t["attempts"], "" if t["exit_code"] is None else t["exit_code"],
                format_duration(t["duration_seconds"], missing=""), t["executor"]]
        if with_jobs:
            line.append(",".join(t["job_ids"]))
        if nested:
            line.append(t["created_by"] or "")
        line.append(t["reason"] or "")
        rows.append(line)
    headers = ["task", "status", "attempts", "exit", "duration", "executor"] + (["job ids"] if with_jobs else []) \
        + (["created by"] if nested else [])
    click.echo(tabulate(rows, headers=headers + ["reason"]) if rows else "no tasks")
    for t in tasks:
        if t["watch"]:
            w = t["watch"]
            click.echo(f"watch {t['uid']}: {w['matches']} match{'es' if w['matches'] != 1 else ''}, "
                       f"last (attempt {w['last_attempt']}): {w['last_line']}")
    through_shell = [t["uid"] for t in tasks if t["shell"] == 2]
    if through_shell:
        click.echo(f"ran through /bin/sh because their command has shell syntax: {', '.join(through_shell)}")
    return 0


@click.command("logs", short_help="Print a task's captured output.")
@click.argument("run")
@click.argument("task")
@click.option("--attempt", "number", type=click.IntRange(min=1), help="Attempt number (default: the last).")
@click.option("--stderr", is_flag=True, help="Print stderr instead of stdout.")
@file_option
@directory_option
def logs_command(run: str, task: str, number: int | None, stderr: bool, file: str | None,
                 directory: str | None) -> int:
    """Print what TASK wrote to stdout (or --stderr) in RUN (an id or a name)."""
    from ..errors import ScriptflowError
    from ..readers.runs import connect, find_attempt, find_project, resolve_run

    project = find_project(file, directory)
    conn = connect(project)
    row = resolve_run(conn, run)
    attempt = find_attempt(conn, row["id"], task, number)
    rel = attempt["stderr_path"] if stderr else attempt["stdout_path"]
    if not rel:
        raise ScriptflowError(f"attempt {attempt['number']} of {task} recorded no log file")
    path = Path(project.path_of(rel))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScriptflowError(f"cannot read {rel}: {exc.strerror}") from None
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0
