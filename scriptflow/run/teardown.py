"""What a flow left open is flushed and closed as the process ends, as in any Python program.

``entry.main`` freezes every object the command leaves (``gc.freeze``), so
that Python's last collection does not walk a run's hundreds of thousands
of objects on exit (1.5 s at 100,000 tasks). Frozen objects are never
collected, though, and a flow's module and its functions form reference
cycles: the teardown never freed them. A file the flow left open (``LOG =
open("notes.txt", "w")`` at module level, written, never closed) lost the
text still in its buffer, and an SQLite connection it left open was never
closed, its write-ahead log never merged into the database file. A Python
script that does the same loses nothing.

An open file object or connection holds a file descriptor. ``install``
notes the descriptors the process starts with; ``_end``, the last
``atexit`` callback, compares them with those still open (``/proc/self/fd``,
or ``/dev/fd``; about 14 µs). If one opened since is open, it unfreezes
everything, and Python's teardown frees the flow's objects as usual, their
files flushed and connections closed, at the cost of the collection the
freeze avoided, which is right only then. Where descriptors cannot be
listed, it always unfreezes.

``_end`` must come after every other callback: ``logging``'s closes the run
log, a flow's own may close its files, and the threads that are not
daemons have ended before any callback runs. ``entry.main`` therefore calls
``install`` before anything else registers one (callbacks run last
registered first).
"""
from __future__ import annotations

import atexit
import gc
import os
import sys

TYPE_CHECKING = False  # typing is not imported: this module loads before the command's first import
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

_inherited: Optional[frozenset[int]] = None


def install() -> None:
    """Note the descriptors the process started with and register ``_end`` (``entry.main``,
    before anything else registers an atexit callback, so that it runs last)."""
    global _inherited
    _inherited = open_descriptors()
    atexit.register(_end)


def _end() -> None:
    if left_open():
        gc.unfreeze()


def left_open() -> bool:
    """Whether a descriptor opened since ``install`` is still open, or the descriptors cannot
    be listed: something may be flushed or closed as it is freed."""
    now = open_descriptors()
    if now is None or _inherited is None:
        return True
    return bool(now - _inherited - _kept_until_exit())


def _kept_until_exit() -> frozenset[int]:
    """Descriptors that stay open until the process ends whatever is freed, so that unfreezing
    would only cost the collection: the pipe to ``multiprocessing``'s resource tracker, which
    a process opens once (a Dask LocalCluster does, for its workers' queues) and keeps in a
    module global, so that the tracker cleans up after the process once it is gone."""
    tracker_module = sys.modules.get("multiprocessing.resource_tracker")
    tracker = getattr(tracker_module, "_resource_tracker", None)
    fd = getattr(tracker, "_fd", None)
    return frozenset((fd,)) if isinstance(fd, int) else frozenset()


def open_descriptors() -> Optional[frozenset[int]]:
    """The process's open file descriptors above 2, or None where they cannot be listed."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            listed = os.listdir(folder)
        except OSError:
            continue
        return frozenset(fd for fd in map(int, listed) if fd > 2 and _is_open(fd))
    return None


def _is_open(fd: int) -> bool:
    """The listing's own descriptor is in the listing, and closed once it is read."""
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
