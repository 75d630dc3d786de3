"""``scriptflow run FLOW --adopt``: take a project built without scriptflow's ledger as done.

A project built by the original scriptflow (or by hand) already holds days
of results, but the ledger knows none of them, so every task would run
again. Adopting applies the rule the original (and Make) used, once: a task
the ledger has never run, whose declared outputs all exist and are each at
least as new as every input, is recorded as done (status ``cached``, reason
``adopted``) with the hashes its files have now. From then on the usual
content rules apply: an edit reruns it, ``touch`` does not.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

from .decide import Decision
from .fingerprint import FileHash
from .spec import TaskSpec


def adopt(spec: TaskSpec, output_hash: Callable[[str], Optional[FileHash]]) -> Optional[Decision]:
    """The ``adopted`` decision for a task whose outputs exist and are newer than its inputs, else None."""
    if not spec.outputs:
        return None
    try:
        newest_input = max((os.stat(spec.input_abs[p]).st_mtime for p in spec.inputs), default=None)
        oldest_output = min(os.stat(spec.output_abs[p]).st_mtime for p in spec.outputs)
    except OSError:  # an output is missing (or unreadable): it has to be made
        return None
    if newest_input is not None and oldest_output < newest_input:
        return None
    cached: list[tuple[str, str, int, Optional[int]]] = []
    for path in spec.outputs:
        now = output_hash(path)
        if now is None:
            return None
        cached.append((path, now.sha256, now.size, None))
    return Decision(False, "adopted", {"outputs": [c[0] for c in cached]}, cached_outputs=cached)
