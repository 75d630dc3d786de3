"""What earlier runs left in the ledger, read once per run for deciding every task.

Deciding a task compares it with the latest earlier task of the same uid and
that task's output rows, and hashing a file consults the stat cache. Asking
SQLite for each of those per task costs four indexed SELECTs (and as many
Python round-trips) per task, most of a no-op run's time. ``LedgerHistory``
reads them in bulk instead, in one read transaction, on first use:

* the latest task per uid whose status ``decide`` looks at (succeeded,
  cached, failed, interrupted, lost), from earlier runs only;
* the output rows of those of them that succeeded or were cached;
* the whole stat cache.

A task found up to date is recorded as a ``reuses`` row pointing to the
tasks row it repeats (schema 5), never as a row of its own, so the latest
tasks row of a uid is still the one that holds the definition, the input
rows and the output rows the next decision compares with: the same
definition and hashes as the reuse would have had as a full row. These
reads therefore need no reuse; only readers that say *which run* last saw a
task (``why``, ``report``, ``show``) look at ``reuses``.

This is exact because a run holds the project lock: no other run writes
those rows meanwhile, and the rows this run writes are excluded from the
comparison anyway (``run_id != ?``; a stat-cache entry made by this run is
found first in ``FileHasher``'s memory). A dry run holds no lock: it reads
one consistent snapshot, as its per-task queries would have, within one
read transaction. Input rows are needed only when a fingerprint changed
(the evidence for ``input-changed:PATH``), so they are read per task then.
"""
from __future__ import annotations

import sqlite3
import struct
import threading
from typing import Any, Callable, Iterator, Optional, Protocol

from ..ledger.store import StatEntry

class Row(Protocol):
    """An earlier task's row, read by column name or in the order of ``PREVIOUS_COLUMNS`` (an ``sqlite3.Row``)."""

    def __getitem__(self, column: str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


#: A stat-cache entry's size, mtime_ns, ctime_ns, inode and hashed_at_ns, packed (signed: any int64).
_NUMBERS = struct.Struct("<5q")
#: (size, mtime_ns, ctime_ns, inode, hashed_at_ns, sha256)
StatRow = tuple[int, int, int, int, int, str]

#: Statuses of an earlier task that a decision compares with (see ``decide``).
COMPARED_STATUSES = ("succeeded", "cached", "failed", "interrupted", "lost")
_SUCCESS = ("succeeded", "cached")
#: What deciding compares, and what ``RunRecorder`` compares to record a cached task as a reuse.
_COLUMNS = ("id, run_id, uid, status, fingerprint, command, shell, cwd, env, version, container_image, "
            "container_image_id, container_runtime, executor, resources, max_retries, inputs, outputs, "
            "parent_task_id")
#: The names of ``_COLUMNS``, in order (a ``previous`` row unpacks to these).
PREVIOUS_COLUMNS = tuple(_COLUMNS.split(", "))


class LedgerHistory:
    """The earlier tasks and the stat cache, as read at the first question (thread-safe)."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], run_id: int) -> None:
        self._connect = connect
        self._run_id = run_id
        self._lock = threading.Lock()
        self._loaded = False
        self._latest: dict[str, sqlite3.Row] = {}
        self._outputs: dict[int, tuple[tuple[str, str, Optional[int]], ...]] = {}
        self._stat: dict[str, tuple[bytes, str]] = {}

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            conn = self._connect()
            marks = ",".join("?" * len(COMPARED_STATUSES))
            latest_ids = (f"SELECT max(id) FROM tasks WHERE status IN ({marks}) AND run_id != ? GROUP BY uid")
            params = (*COMPARED_STATUSES, self._run_id)
            conn.execute("BEGIN")  # one snapshot for the three reads, even beside a live run
            try:
                # Memory, at 100,000 tasks: rows are sqlite3.Rows (read by name, a third of a dict);
                # the few values most rows share (status, cwd, env, executor, resources) and a
                # file's sha256 (in its output row and its stat-cache entry) are one object each.
                same: dict[Any, Any] = {}
                one = same.setdefault
                # A stat-cache entry's five numbers in one bytes object (73 bytes, not five ints of 28-36).
                stat = {}
                for row in conn.execute(
                        "SELECT path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns FROM stat_cache"):
                    try:
                        stat[row[0]] = (_NUMBERS.pack(*row[1:5], row[6]), one(row[5], row[5]))
                    except (struct.error, TypeError):  # not five integers: no entry, the file is read again
                        pass
                cursor = conn.cursor()
                latest = {}
                for v in cursor.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id IN ({latest_ids})", params):
                    latest[v[2]] = sqlite3.Row(cursor, (
                        v[0], v[1], v[2], one(v[3], v[3]), v[4], v[5], v[6], one(v[7], v[7]), one(v[8], v[8]),
                        v[9], v[10], v[11], v[12], one(v[13], v[13]), one(v[14], v[14]), *v[15:]))
                rows: dict[int, list[tuple[str, str, Optional[int]]]] = {}
                cursor = conn.execute(
                    "SELECT f.task_id, f.path, f.sha256, f.producer_attempt_id FROM files AS f "
                    f"WHERE f.role = 'output' AND f.task_id IN ({latest_ids})", params)
                for task_id, path, sha256, producer in cursor:
                    rows.setdefault(task_id, []).append((path, one(sha256, sha256), producer))
                outputs = {task_id: tuple(found) for task_id, found in rows.items()}
                del rows
            finally:
                conn.execute("COMMIT")
            self._latest, self._outputs, self._stat = latest, outputs, stat
            self._loaded = True

    def previous(self, uid: str) -> Optional[Row]:
        """The latest earlier task of ``uid`` with a status in ``COMPARED_STATUSES`` (read by column name)."""
        self._load()
        return self._latest.get(uid)

    def outputs(self, task_id: int) -> dict[str, dict[str, Any]]:
        """path -> output row (path, sha256, producer_attempt_id) of an earlier successful task."""
        self._load()
        found = self._outputs.get(task_id)
        if found is not None:
            return {path: {"path": path, "sha256": sha256, "producer_attempt_id": producer}
                    for path, sha256, producer in found}
        return self._files(task_id, "output")

    def inputs(self, task_id: int) -> dict[str, dict[str, Any]]:
        """path -> input row of an earlier task (read on demand: needed only to explain a change)."""
        return self._files(task_id, "input")

    def _files(self, task_id: int, role: str) -> dict[str, dict[str, Any]]:
        cursor = self._connect().execute(  # a connection of this thread's own
            "SELECT path, sha256, producer_attempt_id FROM files WHERE task_id = ? AND role = ?", (task_id, role))
        return {path: {"path": path, "sha256": sha256, "producer_attempt_id": producer}
                for path, sha256, producer in cursor}

    def tables(self) -> tuple[dict[str, sqlite3.Row], dict[int, tuple[tuple[str, str, Optional[int]], ...]],
                              Callable[[str], Optional[StatRow]]]:
        """What was read, for a caller asking per task (``quicklane.py``): uid -> ``previous``
        row, task id -> its output rows (path, sha256, producer attempt id; tasks with outputs),
        and ``stat_row``. Never changed after loading."""
        self._load()
        return self._latest, self._outputs, self.stat_row

    def stat_row(self, path: str) -> Optional[StatRow]:
        """The stat-cache entry of ``path`` as (size, mtime_ns, ctime_ns, inode, hashed_at_ns, sha256)."""
        found = self._stat.get(path)
        return (*_NUMBERS.unpack(found[0]), found[1]) if found is not None else None

    def stat_entry(self, path: str) -> Optional[StatEntry]:
        """The stat-cache entry of a path (the ledger's project-relative spelling), as it was when the run began."""
        self._load()
        row = self.stat_row(path)
        if row is None:
            return None
        size, mtime_ns, ctime_ns, inode, hashed_at_ns, sha256 = row
        return StatEntry(path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns)
