"""Per-task time limits for executors that run commands themselves (``local``).

``timeout=`` is the limit; without it ``time=`` (the walltime a cluster job
asks for) is enforced too, so a flow behaves the same on a laptop and on a
cluster, where the scheduler kills a job at its walltime. Cluster executors
turn the same limit into the job's walltime instead (``cluster/resources.py``).
"""
from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .cluster.resources import parse_time_seconds

#: After a timeout's SIGTERM, how long the command gets to exit before its process group is killed.
TIMEOUT_GRACE_SECONDS = 3.0


def attempt_timeout(resources: Mapping[str, Any]) -> float | None:
    """Seconds an attempt may run (None: no limit): ``timeout``, else ``time``.

    ``timeout`` arrives in seconds (checked by ``Task``); ValueError for an unreadable ``time``.
    """
    if resources.get("timeout") is not None:
        return float(resources["timeout"])
    if resources.get("time") is not None:
        return float(parse_time_seconds(resources["time"]))
    return None


def wait_with_deadline(proc: subprocess.Popen, limit: float | None,
                       terminate: Callable[[subprocess.Popen], None],
                       kill: Callable[[subprocess.Popen], None],
                       wait: Callable[[], int] | None = None) -> tuple[int, bool]:
    """Wait for ``proc`` with ``wait`` (default ``proc.wait``); once ``limit`` seconds have passed,
    ``terminate`` its process group and ``kill`` it ``TIMEOUT_GRACE_SECONDS`` later. Returns
    (exit code, timed out).

    The deadline runs on timer threads while ``wait`` blocks, so ``wait`` may be one that keeps
    the process unreaped until its group is cleaned up (``process_groups.end_attempt``).
    """
    wait = wait or proc.wait
    if limit is None:
        return wait(), False
    fired = threading.Event()
    killer = threading.Timer(TIMEOUT_GRACE_SECONDS, kill, args=(proc,))
    killer.daemon = True

    def expire() -> None:
        fired.set()
        terminate(proc)
        killer.start()

    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    try:
        code = wait()
    finally:
        timer.cancel()
        killer.cancel()
    return code, fired.is_set()
