"""What a scheduler subclass hands back to the cluster core: job ids, statuses, final states.

The three schedulers word everything differently (``PENDING``/``qw``/``Q``,
``sacct``/``qacct``/``exit_status``). Each subclass translates its own
command output into these few types, so the core that submits, watches and
decides never reads a scheduler's text, and a new scheduler needs parsers,
not another copy of the monitor.

``SchedulerClient`` is what ``JobWatch`` needs of the executor it watches
for (asking, cancelling, its settings and log): the watch depends on that
description, the executor in ``core`` satisfies it, and neither module
imports the other's.
"""
from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol, Sequence

from .settings import ClusterSettings


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


class SchedulerClient(Protocol):
    """What ``JobWatch`` uses of a cluster executor; ``ClusterExecutor`` provides it."""

    @property
    def settings(self) -> ClusterSettings:
        """``poll_interval``, ``poll_failure_timeout`` and ``output_latency`` pace the watch."""

    @property
    def log(self) -> logging.Logger: ...

    @property
    def STATUS_COMMAND(self) -> str:  # noqa: N802 - the executors' class constant
        """The status command's name, for messages (``squeue``, ``qstat``)."""

    @property
    def CANCEL_COMMAND(self) -> str:  # noqa: N802 - the executors' class constant
        """The cancel command's name, for messages (``scancel``, ``qdel``)."""

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Status of the given jobs in one query (PollError if the query failed)."""

    def accounting(self, job_ids: Sequence[str]) -> dict[str, Final]:
        """How ended jobs ended, for those the accounting knows (PollError if the query failed)."""

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]: ...

    def run_command(self, argv: Sequence[str], timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        """Run a scheduler command; failures to run it come back as a non-zero return code."""

    def message(self, proc: subprocess.CompletedProcess) -> str:
        """The command's complaint on one line."""
