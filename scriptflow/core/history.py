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

import os
import sqlite3
import struct
import threading
from typing import Any, Callable, Iterator, Optional, Protocol

from ..ledger.store import SETTLED_SQL, StatEntry

class Row(Protocol):
    """An earlier task's row, read by column name or in the order of ``PREVIOUS_COLUMNS`` (an ``sqlite3.Row``)."""

    def __getitem__(self, column: str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


#: A stat-cache entry's size, mtime_ns, ctime_ns, inode and hashed_at_ns, packed (signed: any int64),
#: followed in the same bytes object by its sha256's 32 bytes.
_NUMBERS = struct.Struct("<5q")
#: The first four of them, what the stat cache compares with a file's stat (``stat_key``).
_KEY = struct.Struct("<4q")


def vouched_sha(entry: bytes, st: os.stat_result) -> Optional[str]:
    """The sha256 a stat-cache entry (``LedgerHistory.tables``) vouches for, for the file whose
    stat is ``st``: None when the file's size, mtime, ctime or inode differ from the entry's
    (``StatEntry.matches``). The entry is not racy: racy ones are not read (``_stat_cache``),
    and a match means the same timestamps, from which racy-ness follows.

    The quick lane asks this for every input and output of a no-op, so the stat is packed as
    the entry's first 32 bytes are and compared as bytes: no tuple is made and the sha256 is
    turned into text only for a match."""
    try:
        key = _KEY.pack(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    except struct.error:  # beyond a signed 64-bit number: no entry holds it
        return None
    if not entry.startswith(key):
        return None
    return entry[_NUMBERS.size:].hex()


#: Statuses of an earlier task that a decision compares with (see ``decide``).
COMPARED_STATUSES = ("succeeded", "cached", "failed", "interrupted", "lost")
_SUCCESS = ("succeeded", "cached")
#: What deciding compares, and what ``RunRecorder`` compares to record a cached task as a reuse.
_COLUMNS = ("id, run_id, uid, status, fingerprint, command, shell, cwd, env, version, container_image, "
            "container_image_id, container_runtime, executor, resources, max_retries, inputs, outputs, "
            "parent_task_id")
#: The names of ``_COLUMNS``, in order (a ``previous`` row unpacks to these).
PREVIOUS_COLUMNS = tuple(_COLUMNS.split(", "))


#: What the quick lane compares of an earlier row besides its fingerprint: the columns
#: ``recorder.repeats_columns`` compares, as one JSON array SQLite builds while reading (one
#: string per row instead of eleven values), NULL for a row with a container or a parent task.
#: ``tasktext.repeats_key`` builds the same text from a spec. Both are valid JSON, so equal
#: texts mean equal values; a text the two spell differently only sends a task the general way.
REPEATS_KEY_SQL = ("CASE WHEN t.container_image IS NULL AND t.container_image_id IS NULL "
                   "AND t.container_runtime IS NULL AND t.parent_task_id IS NULL "
                   "THEN json_array(t.shell, t.cwd, t.version, t.executor, t.resources, t.max_retries, "
                   "t.inputs, t.outputs) END")
#: An earlier task as the quick lane reads it: (id, status, fingerprint, ``REPEATS_KEY_SQL``).
LeanRow = tuple[int, str, Optional[str], Optional[str]]
#: Task id -> its output rows (path, sha256, producer attempt id).
OutputRows = dict[int, tuple[tuple[str, str, Optional[int]], ...]]
#: What the quick lane reads (``LedgerHistory.tables``): uid -> ``LeanRow``, the output rows, the stat cache.
LeanTables = tuple[dict[str, LeanRow], OutputRows, dict[str, bytes]]


class LedgerHistory:
    """The earlier tasks and the stat cache, as read at the first question (thread-safe).

    Two readings of the same rows: ``tables`` (the quick lane's, four values a task) and
    ``previous`` (every column, for the general path's decision). A no-op whose every task
    the quick lane finds up to date never reads the second; a run that decides a task the
    general way reads it once, at that task. The stat cache and the output rows are read
    once, by whichever comes first. Both readings leave out this run's rows, and a run holds
    the project lock, so they agree; a dry run (no lock) uses only the second, in one snapshot.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], run_id: int) -> None:
        self._connect = connect
        self._run_id = run_id
        self._lock = threading.Lock()
        self._latest: Optional[dict[str, sqlite3.Row]] = None
        self._lean: Optional[dict[str, LeanRow]] = None
        self._outputs: OutputRows = {}
        self._stat: Optional[dict[str, bytes]] = None

    def _load(self, lean: bool = False) -> None:
        if (self._lean if lean else self._latest) is not None:
            return
        with self._lock:
            if (self._lean if lean else self._latest) is not None:
                return
            conn = self._connect()
            latest_ids, params = _latest_ids(self._run_id)
            conn.execute("BEGIN")  # one snapshot for both reads, even beside a live run
            try:
                if self._stat is None:
                    self._stat = _stat_cache(conn)
                first = self._lean is None and self._latest is None
                if lean:
                    self._lean, outputs = _lean_tasks(conn, latest_ids, params)
                else:
                    self._latest, outputs = _latest_tasks(conn, latest_ids, params)
                if first:  # the second reading's are the same rows; ``forget`` may have dropped some
                    self._outputs = outputs
            finally:
                conn.execute("COMMIT")

    def seed(self, tables: LeanTables, run_id: int) -> bool:
        """Take the quick lane's tables read before the run began (``prefetch.py``): what
        ``tables`` would read, when nothing was read yet and they leave out this run's rows."""
        with self._lock:
            if run_id != self._run_id or not (self._lean is None and self._latest is None and self._stat is None):
                return False
            self._lean, self._outputs, self._stat = tables
            return True

    def drop_lean(self) -> None:
        """Let go of the lean rows: this run has no quick lane (``quicklane.lane_for_run``), so
        only ``seed`` can have read them; the general path reads its own rows."""
        with self._lock:
            self._lean = None

    def previous(self, uid: str) -> Optional[Row]:
        """The latest earlier task of ``uid`` with a status in ``COMPARED_STATUSES`` (read by column name)."""
        self._load()
        assert self._latest is not None
        return self._latest.get(uid)

    def outputs(self, task_id: int) -> dict[str, dict[str, Any]]:
        """path -> output row (path, sha256, producer_attempt_id) of an earlier successful task."""
        if self._lean is None and self._latest is None:
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

    def forget(self, uid: str) -> None:
        """Let go of the earlier row of ``uid`` and its output rows: the quick lane recorded its
        task as their reuse, and nothing asks for them again in this run (another task of that
        uid is bound to that task, never decided). At 100,000 tasks each row is then held only
        until its task is decided, not beside every task of the flow (80 MB)."""
        for rows in (self._lean, self._latest):
            row = rows.pop(uid, None) if rows is not None else None
            if row is not None:
                self._outputs.pop(row[0], None)

    def tables(self) -> LeanTables:
        """What was read, for a caller asking per task (``quicklane.py``): uid -> ``LeanRow``
        of its ``previous`` row, task id -> its output rows (path, sha256, producer attempt
        id; tasks with outputs), and path -> stat-cache entry (read with ``vouched_sha``).
        Changed after loading only by ``forget``."""
        self._load(lean=True)
        assert self._lean is not None and self._stat is not None
        return self._lean, self._outputs, self._stat

    def stat_entry(self, path: str) -> Optional[StatEntry]:
        """The stat-cache entry of a path (the ledger's project-relative spelling), as it was when the run
        began; None also for a racy one (``_stat_cache``)."""
        if self._stat is None:
            self._load()
        assert self._stat is not None
        found = self._stat.get(path)
        if found is None:
            return None
        size, mtime_ns, ctime_ns, inode, hashed_at_ns = _NUMBERS.unpack_from(found)
        sha256 = found[_NUMBERS.size:].hex()
        return StatEntry(path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns)


def _latest_ids(run_id: int) -> tuple[str, tuple[Any, ...]]:
    """The query selecting the latest task per uid that a decision compares with, and its
    parameters: earlier runs' rows only."""
    marks = ",".join("?" * len(COMPARED_STATUSES))
    return (f"SELECT max(id) FROM tasks WHERE status IN ({marks}) AND run_id != ? GROUP BY uid",
            (*COMPARED_STATUSES, run_id))


def read_lean_tables(conn: sqlite3.Connection, run_id: int) -> LeanTables:
    """``LedgerHistory.tables`` as the run ``run_id`` would read them, in the caller's read
    transaction of ``conn`` (``prefetch.py``)."""
    stat = _stat_cache(conn)
    lean, outputs = _lean_tasks(conn, *_latest_ids(run_id))
    return lean, outputs, stat


def _stat_cache(conn: sqlite3.Connection) -> dict[str, bytes]:
    """The whole stat cache, path -> one bytes object per entry (105 bytes, not a tuple of five
    ints and a 64-character str: 200,000 entries at 100,000 tasks). An entry that is not five
    integers and a sha256, or that is racy (``store.is_racy``: a run reads its file again
    whatever it holds), is left out, so that nobody asks about racy entries per file."""
    stat: dict[str, bytes] = {}
    pack = _NUMBERS.pack
    for path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns in conn.execute(
            f"SELECT path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns FROM stat_cache WHERE {SETTLED_SQL}"):
        try:
            digest = bytes.fromhex(sha256)
            if len(digest) == 32:
                stat[path] = pack(size, mtime_ns, ctime_ns, inode, hashed_at_ns) + digest
        except (struct.error, TypeError, ValueError):
            pass
    return stat


def _lean_tasks(conn: sqlite3.Connection, latest_ids: str, params: tuple[Any, ...]) -> tuple[
        dict[str, LeanRow], OutputRows]:
    """uid -> the ``LeanRow`` of its latest earlier row, and the output rows (``_grouped``)."""
    same: dict[Any, Any] = {}
    one = same.setdefault  # the few statuses: one object each
    return _grouped(conn, f"t.status, t.fingerprint, {REPEATS_KEY_SQL}", 3, latest_ids, params,
                    lambda v: (v[0], one(v[2], v[2]), v[3], v[4]))


def _latest_tasks(conn: sqlite3.Connection, latest_ids: str, params: tuple[Any, ...]) -> tuple[
        dict[str, sqlite3.Row], OutputRows]:
    """uid -> the latest earlier row (``_COLUMNS``), and the output rows (``_grouped``).

    Memory, at 100,000 tasks: rows are sqlite3.Rows (read by name, a third of a dict), and the
    few values most rows share (status, cwd, env, executor, resources) are one object each;
    ``LedgerHistory.forget`` lets go of each row once its task is reused."""
    same: dict[Any, Any] = {}
    one = same.setdefault
    names = conn.cursor()
    names.execute(f"SELECT {_COLUMNS} FROM tasks LIMIT 0")  # what the Rows are read by
    width = len(PREVIOUS_COLUMNS)

    def row(v: tuple[Any, ...]) -> sqlite3.Row:  # v: id, uid, then the columns (from id again)
        return sqlite3.Row(names, (
            v[2], v[3], v[4], one(v[5], v[5]), v[6], v[7], v[8], one(v[9], v[9]), one(v[10], v[10]),
            v[11], v[12], v[13], v[14], one(v[15], v[15]), one(v[16], v[16]), *v[17:2 + width]))

    return _grouped(conn, ", ".join(f"t.{name}" for name in PREVIOUS_COLUMNS), width, latest_ids, params, row)


def _grouped(conn: sqlite3.Connection, columns: str, width: int, latest_ids: str, params: tuple[Any, ...],
             make_row: Callable[[tuple[Any, ...]], Any]) -> tuple[dict[str, Any], OutputRows]:
    """uid -> ``make_row(id, uid, *columns)`` of each task ``latest_ids`` selects, and task id
    -> its output rows, in one query: a row per output, the task's columns repeated, grouped
    back here."""
    latest: dict[str, Any] = {}
    outputs: OutputRows = {}
    last_id = None
    found: list[tuple[str, str, Optional[int]]] = []
    at = 2 + width  # where the output row's columns begin
    for v in conn.execute(
            f"SELECT t.id, t.uid, {columns}, f.path, f.sha256, f.producer_attempt_id FROM tasks AS t "
            f"LEFT JOIN files AS f ON f.task_id = t.id AND f.role = 'output' "
            f"WHERE t.id IN ({latest_ids}) ORDER BY t.id", params):
        if v[0] != last_id:
            if found:
                outputs[last_id] = tuple(found)  # type: ignore[index]
                found = []
            last_id = v[0]
            latest[v[1]] = make_row(v)
        if v[at] is not None:
            found.append((v[at], v[at + 1], v[at + 2]))
    if found:
        outputs[last_id] = tuple(found)  # type: ignore[index]
    return latest, outputs
