"""Removing the outputs the ledger recorded, and nothing a person changed.

A file is removed only when its bytes on disk are still those the ledger
last recorded for it (so hand edits survive), when it lies inside the
project (symlinked folders resolved, so a link cannot lead a removal outside)
and outside ``.scriptflow/``. The ledger itself is never written: the next
run sees the outputs missing and remakes them.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Optional

from ..errors import ScriptflowError
from ..ledger.store import open_for_reading
from ..core.paths import OutputPattern
from ..project import Project
from .disk import disk_hasher, recorded_path
from .runs import resolve_run

#: What happened to each recorded output.
REMOVED, WOULD_REMOVE, MODIFIED, MISSING, OUTSIDE, FAILED = (
    "removed", "would remove", "kept (modified since recorded)", "already gone", "kept (outside the project)",
    "kept (could not remove)",
)


class CleanUsageError(ScriptflowError):
    """FLOW and --run together, or a flow that never ran."""


@dataclass
class CleanResult:
    dry_run: bool
    items: list[tuple[str, str, Optional[str]]] = field(default_factory=list)  # (path, outcome, detail)

    def count(self, outcome: str) -> int:
        return sum(1 for _, what, _ in self.items if what == outcome)


def recorded_outputs(conn, flow: Optional[str] = None, run_id: Optional[int] = None) -> list[tuple[str, str, int]]:
    """(path, sha256, run id) of the latest output row of each path, within a flow's runs or one run.
    The rows of tasks found up to date are read through ``run_files`` (a reuse records its row again)."""
    where: list[str] = ["f.role = 'output'", "f.sha256 IS NOT NULL"]
    params: list[object] = []
    if run_id is not None:
        where.append("f.run_id = ?")
        params.append(run_id)
    if flow is not None:
        where.append("f.run_id IN (SELECT id FROM runs WHERE flow = ?)")
        params.append(flow)
    latest: dict[str, tuple[str, str, int]] = {}
    for path, sha, run in conn.execute(  # latest last: by run, then row id, as latest_producers
            f"SELECT f.path, f.sha256, f.run_id FROM run_files AS f WHERE {' AND '.join(where)} "
            "ORDER BY f.run_id, f.id", params):
        latest[path] = (path, sha, run)
    return [latest[path] for path in sorted(latest)]


def inside(project: Project, path: str) -> bool:
    """True when ``path`` (absolute) is inside the project, following symlinked folders, and not its state."""
    root = os.path.realpath(project.dir)
    state = os.path.realpath(project.state_dir)
    parent = os.path.realpath(os.path.dirname(path))
    real = os.path.join(parent, os.path.basename(path))
    if os.path.commonpath([root, real]) != root or real == root:
        return False
    return not (real == state or os.path.commonpath([state, real]) == state)


def clean(project: Project, flow: Optional[str] = None, run: Optional[str] = None,
          dry_run: bool = False) -> CleanResult:
    """Remove (or with ``dry_run`` list) the recorded outputs still holding their recorded bytes."""
    if flow is not None and run is not None:
        raise CleanUsageError("give a FLOW or --run RUN, not both")
    conn = open_for_reading(project.ledger_path)
    try:
        run_id = int(resolve_run(conn, run)["id"]) if run is not None else None
        if flow is not None and conn.execute("SELECT 1 FROM runs WHERE flow = ? LIMIT 1", (flow,)).fetchone() is None:
            raise CleanUsageError(f"flow {flow!r} never ran in this project: nothing to clean")
        outputs = recorded_outputs(conn, flow, run_id)
        hasher = disk_hasher(conn, project)
        result = CleanResult(dry_run)
        for rel, sha, recorded_in in outputs:
            path = recorded_path(project, rel, sha)
            if not inside(project, path.folder() + os.sep if isinstance(path, OutputPattern) else path):
                result.items.append((rel, OUTSIDE, None))
                continue
            now = hasher.hash(path)
            if now is None:
                result.items.append((rel, MISSING, None))
            elif now.sha256 != sha:
                result.items.append((rel, MODIFIED, f"run {recorded_in} recorded {sha[:12]}, now {now.sha256[:12]}"))
            elif dry_run:
                result.items.append((rel, WOULD_REMOVE, None))
            else:
                result.items.append(_remove(rel, path, project))
        return result
    finally:
        conn.close()


def _remove(rel: str, path: str, project: Project) -> tuple[str, str, Optional[str]]:
    try:
        if isinstance(path, OutputPattern):  # the files it matches (their tree hash was just checked)
            for match in path.matches():
                if inside(project, match):
                    os.unlink(match)
        elif os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        return rel, FAILED, str(exc)
    return rel, REMOVED, None
