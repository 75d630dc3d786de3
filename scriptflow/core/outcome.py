"""What an attempt's outcome means for its task: trusted, or failed and why.

An attempt is trusted only if its command exited 0, every declared output
exists, and every input still has the content the task was decided on: an
output made from other content would be taken for done by a later run once
the input is put back (the ledger would lie about what it was made from).
"""
from __future__ import annotations

import os
from typing import Mapping

from ..executors.base import Outcome
from ..executors.outputs import missing_outputs
from .fingerprint import FileHash, FileHasher
from .spec import TaskSpec


def outcome_error(spec: TaskSpec, outcome: Outcome) -> str | None:
    """The executor's error, or a missing declared output after exit code 0; None if it looks fine."""
    if outcome.error is not None or outcome.exit_code != 0:
        return outcome.error or f"exit code {outcome.exit_code}"
    missing = missing_outputs([spec.output_abs[p] for p in spec.outputs])
    if missing:
        first = os.fspath(missing[0])  # missing_outputs gives Paths; output_abs holds strings
        rel = next((p for p in spec.outputs if spec.output_abs[p] == first), first)
        return f"exit code 0 but declared output {rel} was not written"
    return None


def changed_input(hasher: FileHasher, spec: TaskSpec, before: Mapping[str, FileHash | None]) -> str | None:
    """The first input whose content now differs from ``before`` (its hashes when decided), if any."""
    for path, old in before.items():
        now = hasher.hash(spec.input_abs[path], recheck=True)
        if (now.sha256 if now else None) != (old.sha256 if old else None):
            return path
    return None


def changed_input_error(path: str) -> str:
    return f"input {path} changed while the task ran: its outputs are not trusted"
