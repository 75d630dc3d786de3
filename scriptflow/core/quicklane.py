"""The quick lane: a started task found up to date from its previous row and the stat cache alone.

A no-op run is almost all tasks whose definition equals their previous
row's, whose files the stat cache vouches for, and which are recorded as a
``reuses`` row. The general path gets there through the protected-output
check (two ``lstat`` per path), the decision rules, a ``Decision``, the
recorder's comparison and the engine's finishing, about 200 µs of Python per
task. This module asks only what can make such a task anything but a reuse,
in one pass (a few tens of µs), and answers "not sure" (None) for everything
else, which then takes the general path unchanged. It never decides to run
a task, so it can only be wrong by calling a task up to date that is not:
the conditions below are the ones ``decide`` and ``RunRecorder._reusable``
apply, restricted to the plain case.

A task qualifies when it has no container, watch or parent task, is not
forced, none of its inputs is produced by a task of this run, and its
previous row (``LedgerHistory.previous``) succeeded or was cached and holds
exactly the columns this task would write. Each input and output must be a
regular file whose stat-cache entry (as the run began) matches its stat now
and was not hashed within the timestamp granularity of its last change; the
recomputed fingerprint (definition and input hashes) must equal the row's;
each output's hash must equal the row's output row.

Protected outputs (``protected.py``) are checked on the project-relative
spelling only: no output may be under ``.scriptflow/``, be a flow or
configuration file, leave the project, or be or hold an input. The symlink
spellings ``protected.py`` also resolves are not needed here: every output
matches, by device inode, size and both timestamps, a stat-cache entry made
when a run that passed the full check hashed it, so it is the same file it
was then, reached the same way or an equivalent one; and a cached task
removes nothing.
"""
from __future__ import annotations

import fnmatch
import os
import stat as stat_module
from typing import Any, Callable, Collection, Optional

from ..project import Project
from .history import LeanRow, LedgerHistory, vouched_sha
from .images import container_request
from .protected import PROJECT_FILES
from .runstate import RunOptions
from .spec import TaskSpec
from .tasktext import repeats_key, spec_fingerprint

#: Outputs the lane leaves to the general path's check: in the state folder, or outside the project.
_OUTSIDE = (".scriptflow/", "/", "../")
_NOT_FILES = frozenset(("..", ".", ".scriptflow"))


def _vouched_sha(entry: Optional[bytes], path: str) -> Optional[str]:
    """The sha256 of the regular file at ``path`` if its stat-cache ``entry`` (as the run began)
    still describes it and is not racy (``history.vouched_sha``)."""
    if entry is None or type(path) is not str:  # an output pattern is a str subclass: the general path
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat_module.S_ISREG(st.st_mode):
        return None
    return vouched_sha(entry, st)


def lane_for_run(history: LedgerHistory, options: RunOptions, project: Project,
                 default_settings: Any) -> Optional["QuickLane"]:
    """The quick lane when this run can use it: not for a dry run (it lists every task's
    decision) nor when the default executor runs tasks in a container (whose lean rows, if read
    before the run began, are then let go of)."""
    if options.dry_run or container_request(None, default_settings, options.config) is not None:
        history.drop_lean()
        return None
    flow = options.flow_file
    return QuickLane(history, project.relative(flow) if flow else None, options.force_all, options.force_globs)


class QuickLane:
    """Answers, for a started task, "a reuse of row N" or None (see the module docstring)."""

    def __init__(self, history: LedgerHistory, flow_rel: Optional[str], force_all: bool,
                 force_globs: Collection[str]) -> None:
        self._history = history
        self._tables: Optional[tuple[Any, Any, Any]] = None  # LedgerHistory.tables(), at the first task
        self._own = {*PROJECT_FILES, *([flow_rel] if flow_rel else [])}
        self._force_all = force_all
        self._force_globs = tuple(force_globs)

    def reused_row(self, spec: TaskSpec, produced: Callable[[str], bool]) -> Optional[LeanRow]:
        """The previous tasks row (``LedgerHistory.previous``, as a ``LeanRow``: its id first)
        that ``spec`` repeats exactly and whose files are unchanged, or None when the general
        path must decide. ``produced(rel)``: whether a task of this run (started, or created
        and waiting for Make's rule) outputs ``rel``."""
        if (spec.container_request is not None or spec.watches or not spec.outputs or self._force_all
                or (self._force_globs and any(fnmatch.fnmatchcase(spec.uid, g) for g in self._force_globs))):
            return None
        if self._tables is None:
            self._tables = self._history.tables()
        latest, outputs_of, stat_cache = self._tables
        entry_of = stat_cache.get
        old = latest.get(spec.uid)
        if old is None:
            return None
        if old[1] not in ("succeeded", "cached") or old[3] != repeats_key(spec):
            return None
        inputs, outputs = spec.inputs, spec.outputs
        own = self._own
        for rel in outputs:
            if rel in own or rel.startswith(_OUTSIDE) or rel in _NOT_FILES or rel in inputs:
                return None
            if inputs:  # an output that is a folder holding an input
                under = rel + "/"
                for inp in inputs:
                    if inp.startswith(under):
                        return None
        input_shas: list[tuple[str, Optional[str]]] = []
        for rel in inputs:
            if produced(rel):
                return None
            sha = _vouched_sha(entry_of(rel), spec.input_abs[rel])
            if sha is None:
                return None
            input_shas.append((rel, sha))
        if spec_fingerprint(spec, input_shas) != old[2]:
            return None
        recorded = outputs_of.get(old[0], ())
        if len(recorded) != len(outputs):
            return None
        for rel, sha, _ in recorded:
            if rel not in spec.output_abs or _vouched_sha(entry_of(rel), spec.output_abs[rel]) != sha:
                return None
        return old
