"""The engine's door for threads it does not own: the flow thread and the task socket's.

They call ``Engine.submit`` whenever they like, and a submission reads the ledger
through the engine's connections (the quick lane, the history). After a Ctrl-C the
engine may shut down while the flow thread is still running user code; closing a
SQLite connection another thread is using crashes the interpreter (a segmentation
fault, seen after a Ctrl-C right after the flow thread started). So the engine's
shutdown first closes this door and waits for the submissions in progress, which
are short; a later one is refused with one line.
"""
from __future__ import annotations

import threading

from ..errors import ScriptflowError


class RunEnded(ScriptflowError):
    """A task was started after its run had ended (a thread of the flow outliving it)."""


class Fence:
    """Counts the threads inside; ``close`` lets no more in and waits until none is left."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # a plain lock: entering costs well under a microsecond
        self._inside = 0
        self._closed = False
        self._left = threading.Event()  # set by the last one out, once closed

    def enter(self) -> None:
        """Called before the engine's work for a thread it does not own (re-entrant: a count)."""
        with self._lock:
            if self._closed:
                raise RunEnded("the run has ended: no task can be started in it any more")
            self._inside += 1

    def leave(self) -> None:
        with self._lock:
            self._inside -= 1
            if self._closed and self._inside == 0:
                self._left.set()

    def close(self) -> None:
        """Refuse new entries, then wait for those inside (a Ctrl-C still interrupts the wait)."""
        with self._lock:
            self._closed = True
            if self._inside == 0:
                return
        self._left.wait()
