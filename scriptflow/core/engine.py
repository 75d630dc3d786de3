"""The engine: dependencies, skip or run, retries, outcomes.

Everything is driven by events, never by polling: ``submit`` (flow thread)
registers a task; when its last dependency finishes the task is decided in a
small "prepare" pool (hashing inputs can take time); an attempt goes to its
executor, whose future's callback records the outcome, retries or resolves
the task, and releases dependants. The engine is the only writer of the
ledger, through ``LedgerWriter``.
"""
from __future__ import annotations

import fnmatch
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

from ..errors import TaskDefinitionError
from ..executors.base import Executor
from ..executors.registry import create_executor
from ..ledger.sqlerrors import is_damage
from .images import UNAVAILABLE_REASON, ImageResolver, ImageUnavailable, resolve_spec, with_request
from ..ledger.store import ThreadLocalReader
from ..ledger.writer import LedgerWriter
from .protected import ProtectedOutputs
from ..project import Project
from .adopt import adopt
from .attempts import AttemptHandling
from .current import clear_current_engine, set_current_engine
from .decide import decide, input_hashes
from .dryrecord import DryRunRecorder
from .dedupe import bind_duplicate
from .fence import Fence
from .fingerprint import FileHasher
from .history import LedgerHistory
from .observers import ContainedListener
from .placement import RunHere, cheap_to_decide
from .pending import CreatedTasks
from .recorder import RunRecorder
from .runstate import OK, OPEN, Listener, RunOptions, TaskRecord, resolve_future
from .spec import build_spec, TaskSpec
from .stopping import Stopping
from .quicklane import QuickLane, lane_for_run
from .task import Task
from .tasktext import spec_fingerprint

log = logging.getLogger("scriptflow.engine")

class Engine(AttemptHandling, Stopping):
    """Runs the tasks of one run; see the module docstring for the flow of events."""

    def __init__(self, project: Project, writer: LedgerWriter, options: RunOptions,
                 listener: Optional[Listener] = None) -> None:
        self.project = project
        self.writer = writer
        self.options = options
        self.run_id = options.run_id
        self.listener = ContainedListener(listener or Listener())
        self.reader = ThreadLocalReader(project.ledger_path)
        # A dry run's writer drops every statement: its recorder does not build them.
        recorder = DryRunRecorder if getattr(writer, "discard", False) else RunRecorder
        self.record = recorder(writer, project, options.run_id)
        self.history = LedgerHistory(self.reader.conn, options.run_id)
        self.record.previous = self.history.previous  # a cached task repeating it becomes a reuse row
        self.hasher = FileHasher(lambda path: self.history.stat_entry(project.relative(path)),
                                 self.record.stat_entry)
        self.images = ImageResolver(project, self.hasher.hash, pull=not options.dry_run)
        self.record.manifest_of = self.hasher.manifests.get  # a directory's files, for its manifest event
        self.default_executor = options.config.get("executor") or "local"
        self._executors: dict[str, Executor] = {}
        self._prepare = ThreadPoolExecutor(4, thread_name_prefix="sf-prepare")
        self._pool_lock, self._pool_shut = threading.Lock(), False  # ``in_pool``
        self._fence = Fence()
        self._decide_here: RunHere = RunHere(lambda record: self._guard(self._decide, record))
        self._lock = threading.RLock()
        self._by_uid: dict[str, TaskRecord] = {}
        self._producer: dict[str, TaskRecord] = {}
        self._open = 0
        self._idle = threading.Condition(self._lock)
        self.stopping = False
        self.interrupted = False
        self._cancellers: list[threading.Thread] = []
        self.failed = False
        self.created_tasks = CreatedTasks(project)
        self._produced = lambda rel: rel in self._producer or self.created_tasks.producer_of(rel) is not None
        #: attempt id -> its task, while the attempt's command may run (a script creating tasks).
        self.running_attempts: dict[int, TaskRecord] = {}
        #: attempt id -> the variables that let its command create tasks (set by the runner).
        self.run_link: Optional[Callable[[int], dict[str, str]]] = None
        self._watch = None  # core/watching.py, created by the first watched attempt
        self.protected = ProtectedOutputs(project, options.flow_file)
        self._quick: Optional[QuickLane] = None  # set on entry, once the default executor exists

    # -- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> "Engine":
        set_current_engine(self)
        try:
            default = self.executor(self.default_executor)  # configuration errors show before any task starts
            self._quick = lane_for_run(self.history, self.options, self.project, default.settings)
        except BaseException:  # a bad setting, or Ctrl-C while a Dask cluster starts: nothing left open
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fence.close()  # no submission in progress reads a connection closed below
        clear_current_engine(self)
        self.record.flush_reuses()  # before the run is recorded as ended (``reuserows.py``)
        with self._pool_lock:
            self._pool_shut = True
        self._prepare.shutdown(wait=True)
        if self._watch is not None:
            self._watch.close()
        for executor in self._executors.values():
            executor.shutdown()
        self.reader.close()

    def executor(self, name: str) -> Executor:
        found = self._executors.get(name)  # a dict read: atomic; created once, under the lock
        if found is not None:
            return found
        with self._lock:
            if name not in self._executors:
                settings = (self.options.config.get("executors") or {}).get(name) or {}
                self._executors[name] = create_executor(name, settings, self.project.state_dir)
            return self._executors[name]

    @property
    def records(self) -> list[TaskRecord]:
        with self._lock:
            return list(self._by_uid.values())

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until every started task has finished."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open == 0, timeout)

    # -- submission (flow thread) --------------------------------------------------

    def created(self, task: Task) -> None:
        """Task.__init__ during a run: remembered so that its output's consumers can start it."""
        self.created_tasks.add(task)

    def record_of(self, uid: str) -> Optional[TaskRecord]:
        """The started task of this run named ``uid``."""
        with self._lock:
            return self._by_uid.get(uid)

    def submit(self, task: Task, parent: Optional[TaskRecord] = None) -> None:
        """Start ``task``; ``parent``: the task whose command created it (``run/children.py``).
        Through the fence (``fence.py``): the engine never shuts down under a submission."""
        self._fence.enter()
        try:
            self._submit(task, parent)
        finally:
            self._fence.leave()

    def _submit(self, task: Task, parent: Optional[TaskRecord]) -> None:
        spec = build_spec(task, self.project, self.default_executor)
        if parent is None and self._quick is not None and self._reused(task, spec, self._quick):
            return
        self.protected.check(spec)
        spec = with_request(spec, task.container, self.executor(spec.executor).settings, self.options.config)
        self.created_tasks.start_producers(task, spec.inputs, self._producer)  # Make's rule
        with self._lock:
            if spec.uid in self._by_uid:  # the same task again runs once; another task of that uid is an error
                bind_duplicate(self._by_uid[spec.uid], task, spec)
                return
            for path in spec.outputs:
                other = self._producer.get(path)
                if other is not None:
                    raise TaskDefinitionError(f"tasks {other.spec.uid!r} and {spec.uid!r} both declare output {path}")
            record = TaskRecord(task=task, spec=spec, id=self.record.new_task_id(), parent=parent)
            task._record = record
            # An insertion-ordered set (records hash by identity): a fan-in of k inputs costs O(k).
            found: dict[TaskRecord, None] = {}
            for item in task.get_inputs():
                if isinstance(item, Task) and item._record is not None:
                    found[item._record] = None
            for path in spec.inputs:
                dep = self._producer.get(path)
                if dep is not None:
                    found[dep] = None
            deps = list(found)
            record.deps = deps
            self._by_uid[spec.uid] = record
            for path in spec.outputs:
                self._producer[path] = record
            self._open += 1
            blocked: TaskRecord | None = None
            for dep in deps:
                status = dep.status
                if status in OPEN:  # not done yet: wait for it
                    record.waiting_on += 1
                    dep.dependants.append(record)
                elif blocked is None and status not in OK:
                    blocked = dep
            # Read under the lock: once it is released, a dependency finishing on another thread
            # takes waiting_on to 0 and readies the task itself (read after, it ran twice at once).
            ready = blocked is None and record.waiting_on == 0
            if not ready:
                self._write_row(record)  # a ready task's row is written complete once decided
        self.listener.task_submitted(record)
        if blocked is not None:
            self._block(record, blocked)
        elif ready:
            self._ready(record)

    def _reused(self, task: Task, spec: TaskSpec, lane: QuickLane) -> bool:
        """Record ``task`` as a reuse of its previous row if the quick lane finds it up to date."""
        if task.container or spec.executor != self.default_executor or spec.uid in self._by_uid or self.stopping:
            return False  # (a stopping run finishes new tasks as not-started: the general path does)
        try:
            old = lane.reused_row(spec, self._produced)
        except Exception:  # noqa: BLE001 - e.g. a damaged ledger: the general path meets it where it is reported
            log.debug("the quick lane stepped aside for %s", spec.uid, exc_info=True)
            return False
        if old is None:
            return False
        with self._lock:  # as in submit: a uid or output another task holds goes the general way
            if spec.uid in self._by_uid or any(path in self._producer for path in spec.outputs):
                return False
            record = TaskRecord(task=task, spec=spec, id=self.record.new_task_id(), status="cached",
                                reason="cached", row_written=True)
            task._record = record
            self._by_uid[spec.uid] = record
            for path in spec.outputs:
                self._producer[path] = record
            self.record.task_reused(old[0])
        self.history.forget(spec.uid)  # nothing decides this uid again in this run
        self.hasher.vouched(len(spec.inputs) + len(spec.outputs))
        self.listener.task_reused(record)
        resolve_future(record)
        return True

    # -- deciding (prepare pool) -----------------------------------------------------

    def _write_row(self, record: TaskRecord) -> None:
        """The task's ``tasks`` row, unless already written (statements about it follow it)."""
        if record.row_written:
            return
        with self._lock:  # flag and queueing together: no UPDATE can overtake the INSERT
            if not record.row_written:
                record.row_written = True
                self.record.task_created(record.id, record.spec, record.parent_id)

    def _ready(self, record: TaskRecord) -> None:
        with self._lock:
            if record.done:
                return
            record.status = "deciding"
        try:  # a retry hashes again in the pool; so does everything once the run is stopping
            cheap = not record.attempts and not self.stopping and (
                self._reads_nothing(record.spec) or cheap_to_decide(self.hasher, record.spec))
        except Exception:  # noqa: BLE001 - e.g. a damaged ledger: the guarded decision reports it
            cheap = False
        if cheap:
            self._decide_here(record)
        else:
            self._write_row(record)
            self.in_pool(self._decide, record)

    def in_pool(self, fn: Callable[..., None], record: TaskRecord, *args: Any) -> None:
        """``fn(record, *args)``, guarded, in the prepare pool, or here once it is shut (an executor reporting
        late): no task is left without an end. (Not on the pool's RuntimeError: it may follow queueing.)"""
        with self._pool_lock:
            if not self._pool_shut:
                self._prepare.submit(self._guard, fn, record, *args)
                return
        self._guard(fn, record, *args)

    def _reads_nothing(self, spec: TaskSpec) -> bool:
        """A dry run's task never run before: deciding it looks only at whether its inputs exist."""
        return self.options.dry_run and not self.options.adopt and self.history.previous(spec.uid) is None

    def _guard(self, fn: Callable[..., None], record: TaskRecord, *args: Any) -> None:
        """A bug in engine code must fail the task loudly, never hang the run."""
        try:
            fn(record, *args)
        except BaseException as exc:  # noqa: BLE001 - reported on the task
            log.exception("internal error handling task %s", record.spec.uid)
            if is_damage(exc):  # the ledger itself is damaged: the whole run stops, with one line
                self.writer.report_damage(exc)
            if not record.done:
                self._finish(record, "failed", error=f"internal error: {exc!r}")

    def _decide(self, record: TaskRecord) -> None:
        spec = record.spec
        if self.stopping:
            self._finish(record, "not-started", reason="run-stopping")
            return
        if self.options.dry_run and any(d.status == "would-run" for d in record.deps):
            # Its inputs do not exist yet or are about to change: no point hashing them.
            self._finish(record, "would-run", reason="upstream-will-change")
            return
        unread = self._reads_nothing(spec)
        inputs = record.input_hashes = input_hashes(self.hasher, spec, unread)
        missing = [p for p, h in inputs.items() if h is None]
        if missing:
            self._record_inputs(record)
            self._finish(record, "failed", reason=f"input-missing:{missing[0]}",
                         error=f"input file {missing[0]} does not exist and no task of this run produces it")
            return
        try:  # the image's id is part of the fingerprint (core/images.py)
            spec = record.spec = resolve_spec(spec, self.images, lambda c: self._record_container(record, c))
        except ImageUnavailable as exc:
            return self._finish(record, exc.status, reason=UNAVAILABLE_REASON, error=str(exc))
        fingerprint = "" if unread else spec_fingerprint(  # (unread: no earlier row to compare with)
            spec, [(p, h.sha256 if h else None) for p, h in inputs.items()])
        forced = self.options.force_all or any(fnmatch.fnmatchcase(spec.uid, g) for g in self.options.force_globs)
        decision = decide(self.history, spec, fingerprint, inputs,
                          lambda rel: self.hasher.hash(spec.output_abs[rel]), forced)
        if decision.run and decision.reason == "never-run" and self.options.adopt:
            decision = adopt(spec, lambda rel: self.hasher.hash(spec.output_abs[rel])) or decision
        record.reason = decision.reason
        record.fingerprint = fingerprint
        if not decision.run and not record.attempts and spec.container is None:  # a no-op: one unit
            with self._lock:  # (a waiting row, written while it waited for dependencies, is replaced)
                replace, record.row_written = record.row_written, True
                self.record.task_cached(record.id, spec, fingerprint, decision, inputs.items(), replace,
                                        record.parent_id)
            self._finish(record, "cached", recorded=True)
            return
        self._record_inputs(record)
        self.record.task_decided(record.id, fingerprint, decision)
        if not decision.run:
            self.record.cached_outputs(record.id, decision)
            self._finish(record, "cached")
        elif self.options.dry_run:
            self._finish(record, "would-run")
        else:
            self._launch(record)

    def _record_container(self, record: TaskRecord, container: Any) -> None:
        self._write_row(record)  # the UPDATE needs the row (a cached task then takes the longer path)
        self.record.task_container(record.id, container)

    def _record_inputs(self, record: TaskRecord) -> None:
        self._write_row(record)
        if record.attempts:  # decided again after an input changed under an attempt
            self.record.forget_inputs(record.id)
        self.record.files(record.id, "input", record.input_hashes.items())

    # -- attempts ------------------------------------------------------------------------

    def _block(self, record: TaskRecord, cause: TaskRecord) -> None:
        if cause.status in ("interrupted", "not-started"):
            self._finish(record, "not-started", reason="run-stopping")
        else:
            self._finish(record, "upstream-failed", reason=f"upstream-failed:{cause.spec.uid}",
                         error=f"not run because {cause.spec.uid} {cause.status}")

    def _finish(self, record: TaskRecord, status: str, reason: Optional[str] = None,
                error: Optional[str] = None, recorded: bool = False) -> None:
        """``recorded``: the task's row already holds this status (``RunRecorder.task_cached``)."""
        with self._lock:
            if record.done:
                return
            record.status = status
            if reason is not None:
                record.reason = reason
            if error is not None:
                record.error = error
            if status == "failed":
                self.failed = True
                if not self.options.keep_going:
                    self.stopping = True
            ready: list[TaskRecord] = []
            blocked: list[TaskRecord] = []
            for dependant in record.dependants:
                if dependant.done:
                    continue
                if status not in OK:
                    blocked.append(dependant)
                else:
                    dependant.waiting_on -= 1
                    if dependant.waiting_on == 0:
                        ready.append(dependant)
        # Whatever fails from here on, the task's future is resolved, its dependants are
        # released and it stops counting as open: otherwise wait_idle() never returns.
        try:
            if not recorded:
                self._write_row(record)
                if reason is not None:
                    self.record.task_reason(record.id, reason, error)
                self.record.task_status(record.id, status)
            self.listener.task_finished(record)
        finally:
            try:
                resolve_future(record)
                for dependant in blocked:
                    self._block(dependant, record)
                for dependant in ready:
                    self._ready(dependant)
            finally:
                with self._idle:
                    self._open -= 1
                    if self._open == 0:
                        self._idle.notify_all()
