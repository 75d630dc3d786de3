"""``scriptflow why``: the last decision taken for a task or file, with its evidence.

Reads the ledger only (the flow is not run): the decision and its
``reason_detail`` were recorded when the task was decided.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Optional

from ..clock import format_timestamp
from ..errors import ScriptflowError
from ..project import Project
from ..core.paths import OutputPattern
from .disk import disk_hasher, disk_state, recorded_path
from .runs import typed_path


class UnknownTarget(ScriptflowError):
    exit_code = 1


def _short(sha: Optional[str]) -> str:
    return sha[:12] if sha else "(none)"


def _command(value: Any) -> str:
    if isinstance(value, list):
        import shlex

        return shlex.join(value)
    return str(value)


def _image(name: Optional[str], image_id: Optional[str]) -> str:
    """``ghcr.io/lab/r:4.3 (sha256:1a2b3c4d5e6f)``, or ``no container``."""
    if not image_id:
        return "no container"
    short = image_id[:19] if image_id.startswith("sha256:") else image_id[:16]
    return f"{name} ({short})" if name else short


def describe_reason(reason: str, detail: dict[str, Any], compared_run: Optional[int]) -> list[str]:
    """Plain sentences for a recorded reason."""
    kind, _, path = (reason or "").partition(":")
    than = f" (compared with run {compared_run})" if compared_run else ""
    if kind == "cached":
        return [f"up to date: command, inputs and outputs match what run {compared_run} recorded"]
    if kind == "adopted":
        return [f"adopted (run --adopt): its outputs existed and were newer than its inputs, so it was "
                f"recorded as done without running; scriptflow did not make {', '.join(detail.get('outputs', []))}"]
    if kind == "no-outputs":
        return ["it declares no outputs: such a task always runs (a phony target, as in Make)"]
    if kind == "never-run":
        return ["never run before: no earlier successful run of this task"]
    if kind == "forced":
        return ["forced (-f/--force, --force-all, or the config key force)"]
    if kind == "previous-failed":
        return [f"its previous run (run {detail.get('run_id', compared_run)}) ended {detail.get('status', 'failed')}"]
    if kind == "command-changed":
        lines = [f"the command changed{than}:", f"  old: {_command(detail.get('old'))}",
                 f"  new: {_command(detail.get('new'))}"]
        if detail.get("old_shell") != detail.get("new_shell"):
            lines.append(f"  shell: {detail.get('old_shell')} -> {detail.get('new_shell')}")
        return lines
    if kind == "definition-changed":
        return [f"its {detail.get('what', 'definition')} changed{than}: {detail.get('old')!r} -> {detail.get('new')!r}"]
    if kind == "container-changed":
        return [f"its container image changed{than}:", f"  old: {_image(detail.get('old_image'), detail.get('old'))}",
                f"  new: {_image(detail.get('new_image'), detail.get('new'))}"]
    if kind == "container-unavailable":
        return ["not run: its container image could not be found or run (error below)"]
    if kind == "input-changed":
        old, new = detail.get("old"), detail.get("new")
        if old is None:
            return [f"input {path} is new (it was not an input before){than}"]
        if new is None:
            return [f"input {path} is no longer an input{than}"]
        return [f"input {path} changed{than}: sha256 {_short(old)} -> {_short(new)}"]
    if kind == "output-missing":
        return [f"output {path} was missing (run {compared_run} had made sha256 {_short(detail.get('old'))})"]
    if kind == "output-modified":
        return [f"output {path} was modified since run {compared_run} made it: "
                f"sha256 {_short(detail.get('old'))} -> {_short(detail.get('new'))}"]
    if kind == "input-missing":
        return [f"input {path} did not exist and no task of the run produced it"]
    if kind == "upstream-failed":
        return [f"not run: the task it depends on, {path}, did not succeed"]
    if kind == "run-lost":
        return ["not started: the scriptflow process running it died (killed?)"]
    if kind == "run-stopping":
        return ["not started: the run was stopping (after a failure without --keep-going, or an interrupt)"]
    return [reason or "no decision recorded (the task was never decided)"]


def _latest_task_by_uid(conn: sqlite3.Connection, uid: str) -> Optional[sqlite3.Row]:
    """The task of ``uid`` in the latest run that had it, a reuse (a cached task) included."""
    return conn.execute("SELECT * FROM run_tasks WHERE uid = ? ORDER BY run_id DESC LIMIT 1", (uid,)).fetchone()


def _latest_task_by_output(conn: sqlite3.Connection, rel: str) -> Optional[sqlite3.Row]:
    """The latest task declaring ``rel`` as an output; a reuse shares its row's id and outputs."""
    return conn.execute(
        "SELECT * FROM run_tasks WHERE id IN (SELECT t.id FROM tasks t "
        "WHERE EXISTS (SELECT 1 FROM json_each(t.outputs) j WHERE j.value = ?)) "
        "ORDER BY run_id DESC LIMIT 1", (rel,)).fetchone()


def compared_run(conn: sqlite3.Connection, compared_task_id: Optional[int], before_run: int) -> Optional[int]:
    """The run a decision of run ``before_run`` compared with: the run of the task row it names,
    or the latest earlier run that reused that row (a cached task is a reuse, not a row)."""
    if not compared_task_id:
        return None
    row = conn.execute(
        "SELECT coalesce((SELECT max(u.run_id) FROM reuses u WHERE u.task_id = t.id AND u.run_id < ?), t.run_id) "
        "FROM tasks t WHERE t.id = ?", (before_run, compared_task_id)).fetchone()
    return row[0] if row else None


def explain(conn: sqlite3.Connection, project: Project, target: str, directory: Optional[str] = None) -> list[str]:
    """Lines answering "why did this run (or not)?" for a task uid or a file path
    (relative to ``directory``, the ``-C`` folder, if given)."""
    task = _latest_task_by_uid(conn, target)
    rel = None
    if task is None:
        rel = typed_path(project, target, directory)
        task = _latest_task_by_output(conn, rel)
        if task is None:
            users = [r[0] for r in conn.execute(
                "SELECT DISTINCT t.uid FROM files f JOIN tasks t ON t.id = f.task_id "
                "WHERE f.path = ? AND f.role = 'input' LIMIT 10", (rel,))]
            if users:
                raise UnknownTarget(f"{rel} is a source file: no task produces it; it is an input of "
                                    f"{', '.join(users)} (try `scriptflow why {users[0]}`)")
            raise UnknownTarget(f"{target}: no task of this project is named so or declares it as an output")
    run = conn.execute("SELECT id, name FROM runs WHERE id = ?", (task["run_id"],)).fetchone()
    compared = compared_run(conn, task["compared_task_id"], task["run_id"])
    detail = json.loads(task["reason_detail"] or "{}")
    name = f" '{run['name']}'" if run and run["name"] else ""
    lines = []
    if rel is not None:
        lines.append(f"{rel} is an output of task {task['uid']}")
    decided = format_timestamp(task["decided_at"])
    lines.append(f"task {task['uid']}, run {task['run_id']}{name} (decided {decided} UTC):")
    verdict = {"cached": "skipped", "succeeded": "ran", "failed": "ran and failed"}.get(task["status"], task["status"])
    lines.append(f"  {verdict}: {task['reason'] or 'no decision recorded'}")
    lines.extend("  " + line for line in describe_reason(task["reason"], detail, compared))
    if detail.get("error"):
        lines.append(f"  error: {detail['error']}")
    if task["parent_task_id"]:
        parent = conn.execute("SELECT uid FROM tasks WHERE id = ?", (task["parent_task_id"],)).fetchone()
        lines.append(f"  created by task {parent['uid'] if parent else '?'} (its command started this task)")
    if task["container_image_id"]:
        lines.append(f"  container: {task['container_image']}, image {task['container_image_id']} "
                     f"({task['container_runtime']})")
    if rel is not None:
        lines.extend("  " + line for line in _file_now(conn, project, rel))
    return lines


def _file_now(conn: sqlite3.Connection, project: Project, rel: str) -> list[str]:
    row = conn.execute("SELECT sha256, recorded_in_run_id AS run_id FROM latest_producers WHERE path = ?",
                       (rel,)).fetchone()
    if row is None:
        return ["no run has recorded this file's content yet"]
    if isinstance(recorded_path(project, rel, row["sha256"]), OutputPattern):  # files matching an output pattern
        state = disk_state(project, disk_hasher(conn, project), rel, row["sha256"])[0]
        if state == "deleted":
            return [f"on disk now: no file matches it (run {row['run_id']} recorded some)"]
        if state == "unchanged":
            return [f"on disk now: the files matching it are unchanged since run {row['run_id']} recorded them"]
        return [f"on disk now: the files matching it changed since run {row['run_id']} recorded them; "
                "the next run will rerun the task"]
    path = Path(project.path_of(rel))
    if not path.exists():
        return [f"on disk now: deleted since run {row['run_id']} recorded it"]
    if path.is_dir():
        return [f"on disk now: a directory (recorded by run {row['run_id']})"]
    if disk_state(project, disk_hasher(conn, project), rel, row["sha256"])[0] == "unchanged":
        return [f"on disk now: unchanged since run {row['run_id']} recorded it (sha256 {_short(row['sha256'])})"]
    return [f"on disk now: modified since run {row['run_id']} recorded it; the next run will rerun the task"]
