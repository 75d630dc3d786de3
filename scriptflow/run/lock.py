"""One run at a time per project, with a lock the operating system releases.

``filelock`` holds an OS file lock, so a lock left by a process that died
(even by ``kill -9``) is free again at once; nobody ever deletes a lock file
by hand. Beside it, a small JSON note says which run holds the project, so a
second run can tell the user whom it is waiting for.
"""
from __future__ import annotations

import json
import os
import socket
from typing import Callable, Optional

from filelock import FileLock, Timeout

from ..errors import ScriptflowError
from ..project import Project


class ProjectBusy(ScriptflowError):
    exit_code = 3


class ProjectLock:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = FileLock(str(project.lock_path))
        self._note = project.state_dir / "run.lock.json"

    def holder(self) -> str:
        try:
            info = json.loads(self._note.read_text())
            return f"run {info['run_id']} (pid {info['pid']} on {info['host']})"
        except (OSError, ValueError, KeyError):
            return "another scriptflow process"

    def acquire(self, wait: bool = True, on_wait: Optional[Callable[[str], None]] = None) -> None:
        try:
            self._lock.acquire(timeout=0)
            return
        except Timeout:
            pass
        holder = self.holder()
        if not wait:
            raise ProjectBusy(f"{self.project.dir} is busy: {holder} is running (run again without --no-wait to wait)")
        if on_wait is not None:
            on_wait(holder)
        self._lock.acquire()

    def describe(self, run_id: int) -> None:
        """Best effort: the note only helps a waiting run name its holder (a full disk must not stop the run here)."""
        try:
            self._note.write_text(json.dumps({"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}))
        except OSError:
            pass

    def release(self) -> None:
        try:
            self._note.unlink()
        except OSError:
            pass
        self._lock.release()
