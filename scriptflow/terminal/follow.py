"""Show the output of ``quiet=False`` tasks in the terminal as they run.

The original printed such a task's output straight to the terminal. Here
every command writes to its log files (so the ledger can point at them and
nothing is lost), and this follower reads the new complete lines of those
files, like ``tail -f``, printing them prefixed with the task's uid. It works
the same for local processes and cluster jobs (whose logs are on the shared
filesystem), and it only reads: a slow terminal never slows a task.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from ..core.lines import LineTail

_INTERVAL = 0.2


class _Followed:
    def __init__(self, uid: str, paths: list[Path]) -> None:
        self.uid = uid
        self.tails = [LineTail(path) for path in paths]


class LogFollower:
    """Prints the new lines of followed log files through ``emit`` until each task finishes."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self._followed: dict[str, _Followed] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, uid: str, stdout: Path, stderr: Path) -> None:
        with self._lock:
            self._followed[uid] = _Followed(uid, [stdout, stderr])
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="sf-follow", daemon=True)
                self._thread.start()

    def finish(self, uid: str) -> None:
        """Print what is left of a finished task's output (a last line without newline too)."""
        with self._lock:
            followed = self._followed.pop(uid, None)
        if followed is not None:
            self._read(followed, final=True)

    def _loop(self) -> None:
        while True:
            self._wake.wait(_INTERVAL)
            with self._lock:
                current = list(self._followed.values())
            for followed in current:
                self._read(followed, final=False)

    def _read(self, followed: _Followed, final: bool) -> None:
        for tail in followed.tails:
            for line in tail.read(final):
                self.emit(f"[{followed.uid}] {line}")
