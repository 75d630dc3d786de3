"""Skip or run: compare a ready task with what the ledger remembers.

Kept apart from the engine (as doit keeps its up-to-date checks apart from
its runner) so that a run, ``--dry-run`` and ``scriptflow why`` share one
set of rules. Reads only; the engine records the decision.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .fingerprint import FileHash, FileHasher
from .history import COMPARED_STATUSES, LedgerHistory, Row
from .spec import TaskSpec

#: Stands for an existing input a dry run did not read (``input_hashes``).
UNREAD = FileHash("", 0)

SUCCESS = ("succeeded", "cached")
#: Task statuses after which the task's outputs were removed or are untrusted.
ATTEMPTED_FAILURE = ("failed", "interrupted", "lost")
assert set(SUCCESS + ATTEMPTED_FAILURE) == set(COMPARED_STATUSES)


@dataclass
class Decision:
    run: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)
    compared_task_id: Optional[int] = None
    #: For a cached task: (path, sha256, size, producer attempt id) of each output.
    cached_outputs: list[tuple[str, str, int, Optional[int]]] = field(default_factory=list)


def _definition_change(spec: TaskSpec, old: Row, old_outputs: list[str]) -> Optional[Decision]:
    old_command = json.loads(old["command"])
    if old_command != spec.command or bool(old["shell"]) != spec.shell:
        return Decision(True, "command-changed", {"old": old_command, "new": spec.command,
                                                  "old_shell": bool(old["shell"]), "new_shell": spec.shell})
    changes = {
        "cwd": (old["cwd"], spec.cwd_rel),
        "env": (json.loads(old["env"]), spec.env),
        "version": (old["version"], spec.version),
        "outputs": (sorted(old_outputs), sorted(spec.outputs)),
    }
    for what, (before, after) in changes.items():
        if before != after:
            return Decision(True, "definition-changed", {"what": what, "old": before, "new": after})
    new_id = spec.container.image_id if spec.container else None
    if old["container_image_id"] != new_id:  # a rebuilt image under the same tag, or another image
        return Decision(True, "container-changed", {
            "old": old["container_image_id"], "new": new_id, "old_image": old["container_image"],
            "new_image": spec.container.image if spec.container else None})
    return None


def decide(
    history: LedgerHistory,
    spec: TaskSpec,
    fingerprint: str,
    inputs: dict[str, Optional[FileHash]],
    output_hash: Callable[[str], Optional[FileHash]],
    forced: bool,
) -> Decision:
    """The decision for one task whose inputs are ready, with the evidence for it."""
    if forced:
        return Decision(True, "forced")
    if not spec.outputs:  # a phony target (Make), as in the original and doit: nothing to be up to date
        return Decision(True, "no-outputs")
    latest = history.previous(spec.uid)  # of SUCCESS + ATTEMPTED_FAILURE, from an earlier run
    if latest is None:
        return Decision(True, "never-run")
    if latest["status"] in ATTEMPTED_FAILURE:
        return Decision(True, "previous-failed", {"status": latest["status"], "run_id": latest["run_id"]},
                        compared_task_id=latest["id"])
    ok = latest
    old_outputs = history.outputs(ok["id"])
    if ok["fingerprint"] != fingerprint:
        change = _definition_change(spec, ok, list(old_outputs))
        if change is None:
            old_inputs = {p: row["sha256"] for p, row in history.inputs(ok["id"]).items()}
            new_inputs = {p: (h.sha256 if h else None) for p, h in inputs.items()}
            for path in sorted(set(old_inputs) | set(new_inputs)):
                if old_inputs.get(path) != new_inputs.get(path):
                    change = Decision(True, f"input-changed:{path}",
                                      {"path": path, "old": old_inputs.get(path), "new": new_inputs.get(path)})
                    break
        if change is None:
            change = Decision(True, "definition-changed", {"what": "fingerprint"})
        change.compared_task_id = ok["id"]
        return change
    cached: list[tuple[str, str, int, Optional[int]]] = []
    for path in spec.outputs:
        old = old_outputs.get(path)
        now = output_hash(path)
        if now is None:
            return Decision(True, f"output-missing:{path}", {"path": path, "old": old["sha256"] if old else None},
                            compared_task_id=ok["id"])
        if old is None or old["sha256"] != now.sha256:
            return Decision(True, f"output-modified:{path}",
                            {"path": path, "old": old["sha256"] if old else None, "new": now.sha256},
                            compared_task_id=ok["id"])
        cached.append((path, now.sha256, now.size, old["producer_attempt_id"]))
    return Decision(False, "cached", compared_task_id=ok["id"], cached_outputs=cached)


def input_hashes(hasher: FileHasher, spec: TaskSpec, unread: bool) -> dict[str, Optional[FileHash]]:
    """Each input's hash (None: missing). ``unread``: a dry run's task never run before, whose
    input hashes decide nothing and are not recorded, so only whether each input exists is
    looked at (``UNREAD``): a fresh project's dry run reads no file."""
    if unread:
        return {p: (UNREAD if os.path.exists(spec.input_abs[p]) else None) for p in spec.inputs}
    return {p: hasher.hash(spec.input_abs[p]) for p in spec.inputs}
