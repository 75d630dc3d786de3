"""Job arrays: many attempts in one submission, each still its own job, script, logs and exit file.

A fan-out of 2,000 tasks as 2,000 ``sbatch`` calls costs the scheduler (and
the submitting machine) far more than the jobs themselves. A job array is
one submission whose elements are separate jobs to the scheduler: each has
its own id (``ARRAY_INDEX``), state, accounting and ``scancel``. So the
per-attempt job script stays exactly as it is (it records its own exit
code, start, end and host), and the array's script only dispatches: element
``I`` ``exec``s the I-th attempt's script. The attempt's log paths reach the
scheduler through links named by element index (``--output=DIR/STEM.%a.out``
where ``DIR/STEM.3.out`` links to the attempt's stdout log; Grid Engine's
``$TASK_ID`` the same), so what the
scheduler itself writes (a time limit's message) lands in that attempt's log,
as for a plain job.

The options in an array's header apply to every element, so only attempts
whose options are the same (partition, account, resources, time limit,
export, extra directives: everything but the job name) share an array; the
``group_key`` is those options. This module knows no threads and no
scheduler commands: it groups, names and writes; ``core`` decides when.
"""
from __future__ import annotations

import os
import shlex
from collections import deque
from pathlib import Path
from typing import Callable, Hashable, Optional, Sequence, TypeVar

T = TypeVar("T")

#: The option that names a job: left out of the group key (each attempt has its own name).
_NAME_PREFIXES = ("--job-name=", "-N ")


def group_key(directives: Sequence[str], queue: Optional[str]) -> tuple[str, ...]:
    """What attempts must share to go in one array: their header options, without the job name."""
    return (queue or "", *[d for d in directives if not d.startswith(_NAME_PREFIXES)])


def take_group(waiting: "deque[T]", key_of: Callable[[T], Optional[Hashable]], cap: int) -> list[T]:
    """Remove from ``waiting`` and return its first item and up to ``cap - 1`` later items with the
    same key, in queue order; an item whose key is None goes alone."""
    head = waiting.popleft()
    batch = [head]
    key = key_of(head)
    if key is None or cap <= 1:
        return batch
    kept: list[T] = []
    while waiting and len(batch) < cap:
        item = waiting.popleft()
        (batch if key_of(item) == key else kept).append(item)
    waiting.extendleft(reversed(kept))
    return batch


def array_name(names: Sequence[str]) -> str:
    """The array's job name: what its elements' names share (``sf-solve-``), else ``sf-array``."""
    prefix = os.path.commonprefix(list(names))
    return prefix if len(prefix) > 3 else "sf-array"


def array_paths(head_script: Path) -> tuple[Path, Path]:
    """The array's script and the stem of its element logs (``STEM.I.out``: the scheduler's
    pattern fills in the index), named after its first attempt's script so that two arrays
    never share a file."""
    folder = head_script.parent / "arrays"
    return folder / f"{head_script.stem}.sh", folder / head_script.stem


def link_logs(log_stem: Path, index: int, stdout: Path, stderr: Path) -> None:
    """``STEM.I.out``/``.err`` next to the array script, pointing at the attempt's own logs."""
    for suffix, target in ((".out", stdout), (".err", stderr)):
        link = Path(f"{log_stem}.{index}{suffix}")
        link.unlink(missing_ok=True)
        link.symlink_to(target.resolve())


def render_array_script(*, shell: str, directive_prefix: str, directives: Sequence[str],
                        index_variable: str, scripts: Sequence[Path], first: int = 0) -> str:
    """The dispatching script: header options for all, then element ``first + I`` execs
    ``scripts[I]`` (SLURM numbers elements from 0, Grid Engine from 1)."""
    q = shlex.quote
    lines = [f"#!{shell}"]
    lines += [d if d.startswith("#") else f"{directive_prefix} {d}" for d in directives]
    lines += [
        "#",
        f"# scriptflow job array of {len(scripts)} attempts. Element I runs the I-th job script below,",
        "# which records that attempt's exit code in its own .exit file; the element's logs are the",
        "# attempt's logs (linked as arrays/STEM.I.out/.err).",
        f'case "${{{index_variable}:-}}" in',
    ]
    lines += [f"  {i}) exec {q(str(s))} ;;" for i, s in enumerate(scripts, start=first)]
    lines += [
        "esac",
        f'echo "scriptflow: this array has no element ${{{index_variable}:-(none)}}" >&2',
        "exit 1",
    ]
    return "\n".join(lines) + "\n"
