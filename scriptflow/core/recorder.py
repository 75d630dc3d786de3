"""What a run writes to the ledger, as named operations.

The engine decides; this module holds every SQL statement it sends to the
single ``LedgerWriter`` (fire-and-forget, batched), so the engine reads as
logic and the ledger's write side can be reviewed against ``schema/`` in one
place. Reading the ledger stays elsewhere (``decide``, ``runs``, ``report``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

from .decide import Decision
from ..executors.base import Attempt, Container, Outcome, Started
from .fingerprint import FileHash, canonical_json, json_str_list
from .history import PREVIOUS_COLUMNS, Row
from ..ledger.store import StatEntry
from ..clock import utc_now
from ..ledger.writer import LedgerWriter, Statement
from ..project import Project, ledger_free_text
from .reuserows import INSERT as _INSERT_REUSE, ReuseRows
from .spec import TaskSpec
from .tasktext import shell_column


_INSERT_FILE = ("INSERT INTO files (task_id, run_id, role, path, sha256, size, producer_attempt_id, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
#: A ``files`` row as the recorder takes it: (path, sha256, size, producer attempt id).
FileRow = tuple[str, Optional[str], Optional[int], Optional[int]]


def repeats_columns(old: Row, spec: TaskSpec) -> bool:
    """Whether the earlier row ``old`` (``LedgerHistory.previous``) holds what ``spec`` would write
    in every column its fingerprint does not cover (executor, retries, shell 1 or 2, cwd, version,
    resources, the order of inputs and outputs), with no container and no parent task: the
    condition for recording ``spec``, up to date, as a reuse of ``old``. Read by position (see
    ``PREVIOUS_COLUMNS``): the quick lane asks this once per task of a no-op."""
    (_, _, _, _, _, _, shell, cwd, _, version, image, image_id, runtime, executor, resources, max_retries,
     inputs, outputs, parent) = old
    return (image is None and image_id is None and runtime is None and parent is None
            and executor == spec.executor and max_retries == spec.retry and shell == shell_column(spec)
            and cwd == spec.cwd_rel and version == spec.version and inputs == json_str_list(spec.inputs)
            and outputs == json_str_list(spec.outputs) and resources == canonical_json(spec.resources))


#: The columns ``repeats_columns`` unpacks, in order.
assert PREVIOUS_COLUMNS == ("id", "run_id", "uid", "status", "fingerprint", "command", "shell", "cwd", "env",
                            "version", "container_image", "container_image_id", "container_runtime", "executor",
                            "resources", "max_retries", "inputs", "outputs", "parent_task_id")


class RunRecorder:
    """The ledger statements of one run (``run_id``), all through one writer."""

    def __init__(self, writer: LedgerWriter, project: Project, run_id: int) -> None:
        self.writer = writer
        self.project = project
        self.run_id = run_id
        #: absolute directory path -> {relative file: sha256} as last hashed (the engine sets it to the hasher's)
        self.manifest_of: Callable[[str], Optional[dict[str, str]]] = lambda path: None
        #: uid -> the earlier task a decision compares with (the engine sets it to ``LedgerHistory.previous``)
        self.previous: Callable[[str], Optional[Row]] = lambda uid: None
        self._uids: dict[int, str] = {}
        self._reuses = ReuseRows(writer, run_id)

    def new_task_id(self) -> int:
        return self.writer.new_id("tasks")

    def new_attempt_id(self) -> int:
        return self.writer.new_id("attempts")

    def event(self, kind: str, task_uid: Optional[str] = None, detail: Optional[dict[str, Any]] = None) -> None:
        self.writer.execute(
            "INSERT INTO events (run_id, at, kind, task_uid, detail) VALUES (?, ?, ?, ?, ?)",
            (self.run_id, utc_now(), kind, task_uid, canonical_json(detail) if detail is not None else None))

    # -- tasks ------------------------------------------------------------------------------

    def task_created(self, task_id: int, spec: TaskSpec, parent_task_id: Optional[int] = None) -> None:
        """``parent_task_id``: the task whose command created this one (README, "Tasks that create tasks")."""
        self._uids[task_id] = spec.uid
        self.writer.execute(
            "INSERT INTO tasks (id, run_id, uid, command, shell, cwd, env, version, executor, resources, "
            "max_retries, inputs, outputs, parent_task_id, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting')",
            (task_id, self.run_id, spec.uid, canonical_json(spec.command), shell_column(spec), spec.cwd_rel,
             canonical_json(spec.env), spec.version, spec.executor, canonical_json(spec.resources), spec.retry,
             json_str_list(spec.inputs), json_str_list(spec.outputs), parent_task_id),
        )

    def task_decided(self, task_id: int, fingerprint: str, decision: Decision) -> None:
        self.writer.execute(
            "UPDATE tasks SET fingerprint = ?, reason = ?, reason_detail = ?, compared_task_id = ?, decided_at = ? "
            "WHERE id = ?",
            (fingerprint, decision.reason, canonical_json(decision.detail), decision.compared_task_id,
             utc_now(), task_id),
        )

    def task_container(self, task_id: int, container: Optional[Container]) -> None:
        """The image a task runs in, resolved to its id before the task was decided."""
        if container is not None:
            self.writer.execute(
                "UPDATE tasks SET container_image = ?, container_image_id = ?, container_runtime = ? WHERE id = ?",
                (container.image, container.image_id, container.runtime, task_id))

    def task_cached(self, task_id: int, spec: TaskSpec, fingerprint: str, decision: Decision,
                    inputs: Iterable[tuple[str, Optional[FileHash]]], replace: bool = False,
                    parent_task_id: Optional[int] = None) -> None:
        """A task found up to date. When it repeats the task row it was compared with in every
        column (the common no-op), one ``reuses`` row pointing to that row; otherwise its complete
        row (decision and status) with its input and output rows, as one unit. ``replace``: the
        task's ``waiting`` row was written already (it waited for dependencies); it is replaced.
        A task created by a task (``parent_task_id``) always gets its own row, which holds the link."""
        now = utc_now()
        drop = [("DELETE FROM tasks WHERE id = ?", (task_id,))] if replace else []
        reused = None if parent_task_id is not None else self._reusable(spec, fingerprint, decision)
        if reused is not None:
            self.writer.execute_unit([*drop, (_INSERT_REUSE, (self.run_id, reused, now))])
            return
        self.writer.execute_unit([
            *drop,
            ("INSERT INTO tasks (id, run_id, uid, command, shell, cwd, env, version, executor, resources, "
             "max_retries, inputs, outputs, parent_task_id, fingerprint, status, reason, reason_detail, "
             "compared_task_id, decided_at, ended_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'cached', ?, ?, ?, ?, ?)",
             (task_id, self.run_id, spec.uid, canonical_json(spec.command), shell_column(spec), spec.cwd_rel,
              canonical_json(spec.env), spec.version, spec.executor, canonical_json(spec.resources), spec.retry,
              json_str_list(spec.inputs), json_str_list(spec.outputs), parent_task_id, fingerprint,
              decision.reason, canonical_json(decision.detail), decision.compared_task_id, now, now)),
            *self._file_rows(task_id, "input", ((path, h.sha256 if h else None, h.size if h else None, None)
                                                for path, h in inputs), now),
            *self._file_rows(task_id, "output", decision.cached_outputs, now),
        ])

    def task_reused(self, reused_task_id: int) -> None:
        """A task the quick lane found repeating the tasks row ``reused_task_id`` (``quicklane.py``);
        its row reaches the writer with a few thousand others (``reuserows.py``)."""
        self._reuses.add(reused_task_id)

    def flush_reuses(self) -> None:
        """Hand the held ``reuses`` rows to the writer (the engine, as it closes)."""
        self._reuses.flush()

    def _reusable(self, spec: TaskSpec, fingerprint: str, decision: Decision) -> Optional[int]:
        """The id of the tasks row this cached task repeats exactly, if it does.

        An equal fingerprint (``canonical_json`` of the definition and the input hashes, as the
        columns are written) means an equal command, env, cwd, version, image id and equal input
        hashes (so equal input rows); ``decide`` found every output with the hash that row
        recorded and kept its producing attempt (so equal output rows). What the fingerprint does
        not cover is compared here (the order of inputs and outputs, shell 1 or 2, executor,
        resources, retries): if one differs, the task gets a row of its own, so that the ledger
        shows what this run really asked for. ``previous`` is the row ``decide`` compared with,
        which always holds its definition (a reuse is never a row), so reuses never chain.
        """
        if decision.reason != "cached" or decision.compared_task_id is None or spec.container is not None:
            return None
        old = self.previous(spec.uid)
        if old is None or old["id"] != decision.compared_task_id or old["fingerprint"] != fingerprint:
            return None
        return int(old["id"]) if repeats_columns(old, spec) else None

    def task_reason(self, task_id: int, reason: str, error: Optional[str]) -> None:
        """A reason found without a decision (upstream failed, run stopping, input missing)."""
        self.writer.execute("UPDATE tasks SET reason = ?, reason_detail = coalesce(reason_detail, ?) WHERE id = ?",
                            (reason, canonical_json({"error": error} if error else {}), task_id))

    def task_status(self, task_id: int, status: str, ended: bool = True) -> None:
        if ended:
            self.writer.execute("UPDATE tasks SET status = ?, ended_at = ? WHERE id = ?", (status, utc_now(), task_id))
        else:
            self.writer.execute("UPDATE tasks SET status = ? WHERE id = ?", (status, task_id))

    # -- files ------------------------------------------------------------------------------

    def files(self, task_id: int, role: str, hashes: Iterable[tuple[str, Optional[FileHash]]],
              producer_attempt_id: Optional[int] = None) -> None:
        """Files hashed for a task: its inputs when decided, its outputs when an attempt succeeded."""
        hashes = list(hashes)
        self._insert_files(task_id, role, ((path, h.sha256 if h else None, h.size if h else None,
                                            producer_attempt_id) for path, h in hashes))
        self._manifests(task_id, role, [(path, h.sha256) for path, h in hashes if h is not None])

    def forget_inputs(self, task_id: int) -> None:
        """Before a task is decided again (an input changed while it ran): the input rows it
        gets next describe the content its next attempt reads, not what the last one saw."""
        self.writer.execute("DELETE FROM files WHERE task_id = ? AND role = 'input'", (task_id,))

    def cached_outputs(self, task_id: int, decision: Decision) -> None:
        """A cached task's outputs point to the attempt that really wrote them."""
        self._insert_files(task_id, "output", decision.cached_outputs)
        self._manifests(task_id, "output", [(path, sha) for path, sha, _, _ in decision.cached_outputs])

    def _manifests(self, task_id: int, role: str, hashes: list[tuple[str, Optional[str]]]) -> None:
        """For each directory among them (a ``dir:`` hash): a ``manifest`` event listing its files."""
        for path, sha in hashes:
            if not sha or not sha.startswith("dir:"):
                continue
            files = self.manifest_of(self.project.absolute_str(path))
            if files is not None:
                self.event("manifest", self._uids.get(task_id),
                           {"task_id": task_id, "role": role, "path": path, "sha256": sha, "files": files})

    def _insert_files(self, task_id: int, role: str, rows: Iterable[FileRow]) -> None:
        self.writer.execute_unit(self._file_rows(task_id, role, rows, utc_now()))

    def _file_rows(self, task_id: int, role: str, rows: Iterable[FileRow], now: str) -> list[Statement]:
        """The one ``files`` INSERT: (path, sha256, size, producer attempt id) rows, one timestamp."""
        return [(_INSERT_FILE, (task_id, self.run_id, role, path, sha, size, producer, now))
                for path, sha, size, producer in rows]

    def stat_entry(self, entry: StatEntry) -> None:
        self.writer.execute(
            "INSERT OR REPLACE INTO stat_cache (path, size, mtime_ns, ctime_ns, inode, sha256, hashed_at_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.project.relative(entry.path), entry.size, entry.mtime_ns, entry.ctime_ns, entry.inode,
             entry.sha256, entry.hashed_at_ns),
        )

    # -- attempts ---------------------------------------------------------------------------

    def attempt_queued(self, task_id: int, spec: TaskSpec, attempt: Attempt, logs: tuple[str, str]) -> None:
        """The attempt's row and its task turning ``running``: one unit, both or neither.
        ``logs``: the attempt's stdout and stderr files as the ledger spells them."""
        self.writer.execute_unit([
            ("INSERT INTO attempts (id, task_id, run_id, number, status, executor, resources, queued_at, "
             "stdout_path, stderr_path) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
             (attempt.attempt_id, task_id, self.run_id, attempt.number, spec.executor,
              canonical_json(spec.resources), utc_now(), logs[0], logs[1])),
            ("UPDATE tasks SET status = 'running' WHERE id = ?", (task_id,)),
        ])

    def attempt_logs(self, attempt: Attempt) -> None:
        self.writer.execute("UPDATE attempts SET stdout_path = ?, stderr_path = ? WHERE id = ?",
                            (self.project.relative(attempt.stdout_path), self.project.relative(attempt.stderr_path),
                             attempt.attempt_id))

    def attempt_started(self, attempt: Attempt, started: Started) -> None:
        self.writer.execute(
            "UPDATE attempts SET status = 'running', started_at = ?, host = ?, pid = ?, job_id = ?, "
            "job_script = ?, queue = ? WHERE id = ?",
            (started.started_at, started.host, started.pid, started.job_id,
             self.project.relative(started.job_script) if started.job_script else None, started.queue,
             attempt.attempt_id),
        )

    def attempts_abandoned(self, task_id: int) -> None:
        """Attempts the run stopped waiting for (see ``Engine.abandon``)."""
        self.writer.execute(
            "UPDATE attempts SET status = 'interrupted', ended_at = ?, error = ? "
            "WHERE task_id = ? AND status IN ('queued', 'running')",
            (utc_now(), "interrupted: the executor did not report back", task_id))

    def attempt_ended(self, attempt: Attempt, status: str, outcome: Outcome, error: Optional[str]) -> None:
        """The outcome's start time and host win: for a cluster job they say when and where it really ran."""
        self.writer.execute(*self._attempt_end(attempt, status, outcome, error))

    def attempt_succeeded(self, task_id: int, attempt: Attempt, outcome: Outcome,
                          outputs: list[tuple[str, Optional[FileHash]]]) -> None:
        """The attempt's success and the output rows it produced, as one unit: a reader never sees
        a succeeded attempt without its outputs (and the writer handles one operation, not two)."""
        now = utc_now()
        self.writer.execute_unit([
            self._attempt_end(attempt, "succeeded", outcome, None),
            *self._file_rows(task_id, "output", ((path, h.sha256 if h else None, h.size if h else None,
                                                 attempt.attempt_id) for path, h in outputs), now),
        ])
        self._manifests(task_id, "output", [(path, h.sha256) for path, h in outputs if h is not None])

    @staticmethod
    def _attempt_end(attempt: Attempt, status: str, outcome: Outcome, error: Optional[str]) -> Statement:
        return ("UPDATE attempts SET status = ?, started_at = coalesce(?, started_at), host = coalesce(?, host), "
                "ended_at = ?, exit_code = ?, error = ? WHERE id = ?",
                (status, outcome.started_at, outcome.host, outcome.ended_at or utc_now(), outcome.exit_code,
                 ledger_free_text(error) if error is not None else None, attempt.attempt_id))

