"""Provenance: how a file was made, read from the ledger and never written.

Lineage follows content, not names. An output row points to the attempt that
wrote those very bytes (later runs that found the task cached keep pointing
to it), and each input a task read is traced to the latest earlier output row
with the same path *and the same sha256*. So a report never names a command
that did not make the file as it was used; an input whose bytes no task wrote
is a source (or was edited by hand after a task wrote it).

Every lookup is an index seek (``files_path_run``, ``files_task`` and primary
keys), so the cost grows with the size of the lineage, not of the ledger.
"""
from __future__ import annotations

import glob
import json
import os
import sqlite3
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from . import runs
from .disk import disk_hasher, disk_state
from ..errors import ScriptflowError
from ..clock import elapsed_seconds
from ..core.paths import OutputPattern
from ..ledger.store import open_for_reading
from ..project import Project, ledger_text

#: Identifies the ``--json`` structure; bumped only when a field changes meaning or goes away.
FORMAT = "scriptflow-report/1"


class UnknownPath(ScriptflowError):
    """The path was never produced by a task (it may still be a source input of some)."""

    exit_code = 1


# -- the model: what --json prints, and what the renderers draw ----------------------


@dataclass
class Producer:
    attempt_id: int
    uid: str
    run_id: int


@dataclass
class FileNode:
    """A file as recorded (path, sha256, size) and as it is on disk today."""

    path: str
    sha256: Optional[str]
    size: Optional[int]
    state: str                      # unchanged | modified | deleted
    current_sha256: Optional[str]
    origin: str                     # task | source | edited (bytes no recorded task wrote) | adopted
    producer: Optional[Producer] = None
    note: Optional[str] = None


@dataclass
class TaskNode:
    """One attempt in the lineage: the command exactly as run, where, when, and what it read."""

    attempt_id: int
    task_id: int
    uid: str
    run_id: int
    run_name: Optional[str]
    attempt: int
    depth: int
    command: Any                    # argv list, or the shell string when shell is true
    shell: bool
    cwd: str
    env: dict[str, Any]
    executor: str
    job_id: Optional[str]
    host: Optional[str]
    pid: Optional[int]
    started_at: Optional[str]
    ended_at: Optional[str]
    duration_seconds: Optional[float]
    exit_code: Optional[int]
    stdout_path: Optional[str]
    stderr_path: Optional[str]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[FileNode] = field(default_factory=list)
    #: True when the shell was chosen because the string command holds shell syntax (tasks.shell = 2).
    shell_auto: bool = False
    #: The container image the command ran in (as written, its id, the runtime); None without one.
    container_image: Optional[str] = None
    container_image_id: Optional[str] = None
    container_runtime: Optional[str] = None
    #: The uid of the task whose command created this one (tasks.parent_task_id); None for a flow's task.
    created_by: Optional[str] = None


@dataclass
class Lineage:
    project_dir: str
    path: str
    as_of_run: Optional[int]
    depth: Optional[int]
    file: FileNode
    recorded_in_run: int
    recorded_at: str
    tasks: list[TaskNode]
    _by_attempt: dict[int, TaskNode] = field(default_factory=dict, repr=False, compare=False)

    def task(self, attempt_id: Optional[int]) -> Optional[TaskNode]:
        """The task of the lineage that ran as ``attempt_id`` (None when beyond --depth)."""
        if len(self._by_attempt) != len(self.tasks):
            self._by_attempt.clear()
            self._by_attempt.update((t.attempt_id, t) for t in self.tasks)
        return self._by_attempt.get(attempt_id)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """The documented ``--json`` structure (docs/ledger.md, "scriptflow report --json")."""
        root = asdict(self.file)
        root.update(recorded_in_run=self.recorded_in_run, recorded_at=self.recorded_at)
        return {"format": FORMAT, "project_dir": self.project_dir, "path": self.path,
                "as_of_run": self.as_of_run, "depth": self.depth, "file": root,
                "tasks": [asdict(t) for t in self.tasks]}


# -- lineage ----------------------------------------------------------------------------------

# The latest recording of PATH as of run R: an output row, or a later run that reused its task
# (a cached task is a `reuses` row, schema 5): that run recorded the same row again.
_LATEST_OUTPUT = (
    "SELECT f.id, f.sha256, f.size, coalesce(u.run_id, f.run_id) AS run_id, f.task_id, f.producer_attempt_id, "
    "coalesce(u.at, f.recorded_at) AS recorded_at FROM files AS f "
    "LEFT JOIN reuses AS u ON u.task_id = f.task_id AND u.run_id = "
    "(SELECT max(v.run_id) FROM reuses AS v WHERE v.task_id = f.task_id AND v.run_id <= ?) "
    "WHERE f.path = ? AND f.role = 'output' AND f.sha256 IS NOT NULL AND f.run_id <= ? "
    "ORDER BY 4 DESC, f.id DESC LIMIT 1"
)
# Reuses (schema 5) need not be looked at here: a reuse records its row's producer again, and
# only after that row, so the producer of the latest earlier row with these bytes is the same.
# `+f.sha256` keeps the planner on files_path_run: the sha256 index can hold
# thousands of rows for one common content (an empty file).
_PRODUCER_OF_INPUT = (
    "SELECT f.producer_attempt_id, f.task_id FROM files AS f "
    "WHERE f.path = ? AND f.role = 'output' AND +f.sha256 = ? AND f.id < ? "
    "ORDER BY f.run_id DESC, f.id DESC LIMIT 1"
)
_ATTEMPT = (
    "SELECT a.id, a.task_id, a.run_id, a.number, a.executor, a.job_id, a.host, a.pid, a.started_at, "
    "a.ended_at, a.exit_code, a.stdout_path, a.stderr_path, t.uid, t.command, t.shell, t.cwd, t.env, "
    "t.container_image, t.container_image_id, t.container_runtime, r.name AS run_name, "
    "(SELECT p.uid FROM tasks AS p WHERE p.id = t.parent_task_id) AS parent_uid "
    "FROM attempts AS a JOIN tasks AS t ON t.id = a.task_id JOIN runs AS r ON r.id = a.run_id "
    "WHERE a.id = ?"
)

_MAX_RUN = 1 << 62


class _Walker:
    """One lineage query: a read connection, the disk hasher, and memos for shared subtrees."""

    def __init__(self, conn: sqlite3.Connection, project: Project, as_of_run: Optional[int]) -> None:
        self.conn = conn
        self.project = project
        self.as_of = as_of_run if as_of_run is not None else _MAX_RUN
        self.hasher = disk_hasher(conn, project)
        self._disk: dict[tuple[str, Optional[str]], tuple[str, Optional[str]]] = {}
        self._producers: dict[int, Producer] = {}

    def state(self, path: str, sha: Optional[str]) -> tuple[str, Optional[str]]:
        key = (path, sha)
        if key not in self._disk:
            self._disk[key] = disk_state(self.project, self.hasher, path, sha)
        return self._disk[key]

    def attempt_of(self, attempt_id: Optional[int], task_id: int) -> Optional[int]:
        """The attempt that wrote an output row; rows without one fall back to the task's success."""
        if attempt_id is not None:
            return attempt_id
        row = self.conn.execute("SELECT id FROM attempts WHERE task_id = ? AND status = 'succeeded' "
                                "ORDER BY number DESC LIMIT 1", (task_id,)).fetchone()
        return row[0] if row else None

    def producer(self, attempt_id: Optional[int]) -> Optional[Producer]:
        if attempt_id is None:
            return None
        if attempt_id not in self._producers:
            row = self.conn.execute("SELECT a.run_id, t.uid FROM attempts AS a JOIN tasks AS t ON t.id = a.task_id "
                                    "WHERE a.id = ?", (attempt_id,)).fetchone()
            if row is None:
                return None
            self._producers[attempt_id] = Producer(attempt_id, row[1], row[0])
        return self._producers[attempt_id]

    def adopted(self, path: str, sha: Optional[str]) -> Optional[str]:
        """How ``run --adopt`` took these bytes of ``path`` as done, or None."""
        row = self.conn.execute(
            "SELECT t.uid, t.run_id FROM files AS f JOIN tasks AS t ON t.id = f.task_id WHERE f.path = ? "
            "AND f.role = 'output' AND f.sha256 = ? AND t.reason = 'adopted' ORDER BY f.id DESC LIMIT 1",
            (path, sha)).fetchone() if sha is not None else None
        if row is None:
            return None
        return f"adopted by run {row[1]} as output of {row[0]} (made outside scriptflow, not run by it)"

    def input_node(self, path: str, sha: Optional[str], size: Optional[int], before_id: int) -> FileNode:
        state, now = self.state(path, sha)
        row = None
        if sha is not None:
            row = self.conn.execute(_PRODUCER_OF_INPUT, (path, sha, before_id)).fetchone()
        if row is not None:
            producer = self.producer(self.attempt_of(row[0], row[1]))
            if producer is not None:
                return FileNode(path, sha, size, state, now, "task", producer)
        adopted = self.adopted(path, sha)
        if adopted is not None:
            return FileNode(path, sha, size, state, now, "adopted", None, adopted)
        earlier = self.conn.execute("SELECT 1 FROM files WHERE path = ? AND role = 'output' AND id < ? LIMIT 1",
                                    (path, before_id)).fetchone()
        if earlier is not None:
            return FileNode(path, sha, size, state, now, "edited", None,
                            "a task wrote this file earlier, but not these bytes: edited outside scriptflow")
        return FileNode(path, sha, size, state, now, "source")

    def task_node(self, attempt_id: int, depth: int) -> TaskNode:
        a = self.conn.execute(_ATTEMPT, (attempt_id,)).fetchone()
        command = json.loads(a["command"])
        node = TaskNode(
            attempt_id=a["id"], task_id=a["task_id"], uid=a["uid"], run_id=a["run_id"], run_name=a["run_name"],
            attempt=a["number"], depth=depth, command=command, shell=bool(a["shell"]), cwd=a["cwd"],
            env=json.loads(a["env"] or "{}"), executor=a["executor"], job_id=a["job_id"], host=a["host"],
            pid=a["pid"], started_at=a["started_at"], ended_at=a["ended_at"],
            duration_seconds=elapsed_seconds(a["started_at"], a["ended_at"]), exit_code=a["exit_code"],
            stdout_path=a["stdout_path"], stderr_path=a["stderr_path"], shell_auto=a["shell"] == 2,
            container_image=a["container_image"], container_image_id=a["container_image_id"],
            container_runtime=a["container_runtime"], created_by=a["parent_uid"],
        )
        for row in self.conn.execute("SELECT path, sha256, size FROM files WHERE task_id = ? AND role = 'output' "
                                     "ORDER BY path", (a["task_id"],)):
            node.outputs.append({"path": row[0], "sha256": row[1], "size": row[2]})
        for row in self.conn.execute("SELECT id, path, sha256, size FROM files WHERE task_id = ? AND role = 'input' "
                                     "ORDER BY path", (a["task_id"],)).fetchall():
            node.inputs.append(self.input_node(row[1], row[2], row[3], row[0]))
        return node


def lineage(conn: sqlite3.Connection, project: Project, path: str, as_of_run: Optional[int] = None,
            depth: Optional[int] = None) -> Lineage:
    """The lineage of ``path`` (ledger spelling), breadth first, each attempt once."""
    walker = _Walker(conn, project, as_of_run)
    root = conn.execute(_LATEST_OUTPUT, (walker.as_of, path, walker.as_of)).fetchone()
    if root is None:
        raise UnknownPath(_unknown_message(conn, walker, path))
    state, now = walker.state(path, root["sha256"])
    producer = walker.producer(walker.attempt_of(root["producer_attempt_id"], root["task_id"]))
    adopted = walker.adopted(path, root["sha256"]) if producer is None else None
    target = FileNode(path, root["sha256"], root["size"], state, now,
                      "task" if producer else ("adopted" if adopted else "edited"), producer, adopted)
    tasks: list[TaskNode] = []
    seen: set[int] = set()
    queue = deque([(producer.attempt_id, 1)] if producer else [])
    while queue:
        attempt_id, level = queue.popleft()
        if attempt_id in seen or (depth is not None and level > depth):
            continue
        seen.add(attempt_id)
        node = walker.task_node(attempt_id, level)
        tasks.append(node)
        for item in node.inputs:
            if item.producer is not None and item.producer.attempt_id not in seen:
                queue.append((item.producer.attempt_id, level + 1))
    return Lineage(ledger_text(str(project.dir)), path, as_of_run, depth, target, root["run_id"],
                   root["recorded_at"], tasks)


def _matching_pattern(conn: sqlite3.Connection, path: str, as_of: int) -> Optional[tuple[str, str]]:
    """(pattern, task uid) of the latest output pattern whose manifest lists ``path``, if any."""
    for detail, uid in conn.execute(
            "SELECT e.detail, e.task_uid FROM events AS e WHERE e.kind = 'manifest' AND e.run_id <= ? "
            "AND json_extract(e.detail, '$.role') = 'output' ORDER BY e.id DESC LIMIT 5000", (as_of,)):
        manifest = json.loads(detail)
        pattern = manifest.get("path", "")
        if not glob.has_magic(pattern):
            continue
        folder = "/".join(OutputPattern("/" + pattern).folder().split(os.sep)[1:])
        inner = path[len(folder) + 1:] if folder and path.startswith(folder + "/") else (None if folder else path)
        if inner is not None and inner in manifest.get("files", {}):
            return pattern, uid
    return None


def _unknown_message(conn: sqlite3.Connection, walker: _Walker, path: str) -> str:
    matched = _matching_pattern(conn, path, walker.as_of)
    if matched is not None:
        return (f"{path} is one of the files matching output pattern {matched[0]} of task {matched[1]}: "
                f"see scriptflow report '{matched[0]}'")
    rows = conn.execute(
        "SELECT t.uid, f.sha256, f.run_id FROM run_files AS f JOIN tasks AS t ON t.id = f.task_id "
        "WHERE f.path = ? AND f.role = 'input' AND f.run_id <= ? ORDER BY f.run_id DESC, f.id DESC LIMIT 500",
        (path, walker.as_of),
    ).fetchall()
    when = "" if walker.as_of == _MAX_RUN else f" as of run {walker.as_of}"
    if not rows:
        return f"{path} is unknown to the ledger{when}: no task produced it or read it as an input"
    uids: list[str] = []
    for row in rows:
        if row[0] not in uids:
            uids.append(row[0])
    shown = ", ".join(uids[:5]) + (f" and {len(uids) - 5} more" if len(uids) > 5 else "")
    state, _ = walker.state(path, rows[0][1])
    since = {"unchanged": "unchanged since", "modified": "modified since",
             "deleted": "deleted since"}[state] if rows[0][1] else "missing when"
    return (f"{path} was not produced by any task{when}: it is a source input of {shown} "
            f"({since} run {rows[0][2]} read it)")


def report(path_text: str, file: Optional[str] = None, directory: Optional[str] = None,
           run: Optional[str] = None, depth: Optional[int] = None) -> Lineage:
    """Open the project's ledger read-only and return the lineage of the path the user typed."""
    project = runs.find_project(file, directory)  # never imports sflow.py: report runs no user code
    conn = open_for_reading(project.ledger_path)
    try:
        as_of = int(runs.resolve_run(conn, run)["id"]) if run is not None else None
        return lineage(conn, project, runs.typed_path(project, path_text, directory), as_of, depth)
    finally:
        conn.close()
