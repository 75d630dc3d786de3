"""What a scheduler subclass hands back to the cluster core: job ids, statuses, final states.

The three schedulers word everything differently (``PENDING``/``qw``/``Q``,
``sacct``/``qacct``/``exit_status``). Each subclass translates its own
command output into these few types, so the core that submits, watches and
decides never reads a scheduler's text, and a new scheduler needs parsers,
not another copy of the monitor.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional


class PollError(Exception):
    """A status query failed (command missing, non-zero exit, timeout, unparsable answer)."""


@dataclass
class Final:
    """How a job ended according to the scheduler (accounting), when the exit file is missing."""

    state: str
    exit_code: Optional[int]
    error: Optional[str]


@dataclass
class JobStatus:
    state: str                        # the scheduler's word: PENDING, RUNNING, qw, r, Q, R, C ...
    live: bool                        # queued or running: the job has not ended
    running: bool = False
    final: Optional[Final] = None     # how it ended, when the status query already says (PBS)
    error: Optional[str] = None       # the job can never run (SGE "Eqw"): delete it and fail


def job_id_in(stdout: str, pattern: str) -> str:
    """Group 1 of the last line of a submit command's output that ``pattern`` matches in full
    (warnings may come before the id); ValueError if no line does."""
    for line in reversed(stdout.strip().splitlines()):
        m = re.fullmatch(pattern, line)
        if m:
            return m.group(1)
    raise ValueError(f"no job id in {stdout!r}")


def join_ids(ids: Iterable[str]) -> str:
    return ",".join(ids)
