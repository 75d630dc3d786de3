"""One run at a time per project, with a lock the operating system releases.

The lock is an OS file lock, so a lock left by a process that died (even by
``kill -9``) is free again at once; nobody ever deletes a lock file by hand.
On POSIX it is ``flock`` on ``.scriptflow/run.lock`` taken directly (the
same lock ``filelock`` takes there, so both see each other); ``filelock``
itself, which costs a run's start more than everything else here, is
imported only on Windows or where ``flock`` is refused (some network file
systems). Beside it, a small JSON note says which run holds the project, so
a second run can tell the user whom it is waiting for.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import time
from typing import Any, Callable, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ..errors import ScriptflowError
from ..project import Project


class ProjectBusy(ScriptflowError):
    exit_code = 3


#: How often a waiting run tries the lock again (``filelock``'s own default).
POLL_SECONDS = 0.05
#: What ``flock`` says when another process holds the lock (some file systems say EACCES).
_HELD = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES}


class _OsLock:
    """An exclusive OS lock on one file, never blocking: ``flock`` where it works, else ``filelock``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: Optional[int] = None
        self._fallback: Any = None  # a filelock.FileLock, once flock is not to be had

    def try_acquire(self) -> bool:
        if self._fallback is None and fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in _HELD:
                    return False
                self._fallback = _filelock(self.path)  # flock refused by the file system
            else:
                self._fd = fd
                return True
        if self._fallback is None:  # pragma: no cover - Windows
            self._fallback = _filelock(self.path)
        from filelock import Timeout

        try:
            self._fallback.acquire(timeout=0)
        except Timeout:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        elif self._fallback is not None:
            self._fallback.release()


def _filelock(path: str) -> Any:
    from filelock import FileLock

    return FileLock(path)


class ProjectLock:
    def __init__(self, project: Project) -> None:
        self.project = project
        self._lock = _OsLock(str(project.lock_path))
        self._note = project.state_dir / "run.lock.json"

    def holder(self) -> str:
        try:
            info = json.loads(self._note.read_text())
            return f"run {info['run_id']} (pid {info['pid']} on {info['host']})"
        except (OSError, ValueError, KeyError):
            return "another scriptflow process"

    def acquire(self, wait: bool = True, on_wait: Optional[Callable[[str], None]] = None) -> None:
        if self._lock.try_acquire():
            return
        holder = self.holder()
        if not wait:
            raise ProjectBusy(f"{self.project.dir} is busy: {holder} is running (run again without --no-wait to wait)")
        if on_wait is not None:
            on_wait(holder)
        while not self._lock.try_acquire():
            time.sleep(POLL_SECONDS)

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
