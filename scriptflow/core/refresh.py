"""Refreshing racy stat-cache entries when a run ends, so the first no-op after it reads no file.

A file hashed within the filesystem's timestamp granularity of its last
change is "racy": a write in the same tick would keep its size and mtime, so
the next run must read it again (``StatEntry.racy``). The outputs of a run
are hashed the moment their task ends, so nearly all of them are racy, and
the first no-op after a run used to re-read every one of them. As git
refreshes racily clean index entries, the run instead waits once until the
granularity has passed for the youngest of them, re-stats each, and reads
again those still unchanged (size, mtime, ctime, inode): the entry it stores was
read after the window closed, so it is no longer racy. The ``files`` rows
keep the hash taken when the attempt ended; only the cache is refreshed,
with exactly what the next run would have read. A file changed since the
run hashed it gets the entry of its new content, as the next run would.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterable

from ..ledger.store import FINE_GRANULARITY_NS, StatEntry, stat_key
from .fingerprint import sha256_of

#: Entries whose window closes later than this (whole-second filesystems) are left to the next run.
MAX_WAIT_NS = 2 * FINE_GRANULARITY_NS


def refresh_racy(entries: Iterable[StatEntry], store: Callable[[StatEntry], None]) -> int:
    """Re-read the racy ``entries`` once their window has closed and ``store`` the fresh ones;
    returns how many were refreshed."""
    now = time.time_ns()
    waiting = [e for e in entries if e.racy and _changed(e) + FINE_GRANULARITY_NS - now <= MAX_WAIT_NS]
    if not waiting:
        return 0
    close = max(_changed(e) for e in waiting) + FINE_GRANULARITY_NS
    delay = close - time.time_ns()
    if delay > 0:
        time.sleep(delay / 1e9)
    refreshed = 0
    for entry in waiting:
        try:
            st = os.stat(entry.path)
            if not entry.matches(st):
                continue  # changed since: the next run hashes it, as it would have
            hashed_at = time.time_ns()
            digest = sha256_of(entry.path)
            after = os.stat(entry.path)
        except OSError:
            continue
        if stat_key(after) != stat_key(st):
            continue
        fresh = StatEntry(entry.path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest, hashed_at)
        if not fresh.racy:
            store(fresh)
            refreshed += 1
    return refreshed


def _changed(entry: StatEntry) -> int:
    """When the file last changed, as the racy rule sees it (the later of mtime and ctime)."""
    return max(entry.mtime_ns, entry.ctime_ns)
