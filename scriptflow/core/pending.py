"""Tasks a flow created but did not start: Make's rule, and the warning at the end.

The original scriptflow's flows sometimes create a task and only ever use its
output file, by name, as another task's input. Make's rule applies: the
producer of a needed file runs. So every task created during a run is noted
here; when a started task needs a file that no started task produces, the
engine asks ``producer_of`` and starts that task first. Whatever is still
not started when the flow ends is named in a warning, since it was most
likely forgotten (no ``await``, ``start()`` or ``sf.bag``).

The created tasks are indexed by their outputs, so that a flow creating
100,000 tasks before starting any costs one lookup per input, not a scan of
every unstarted task (which made such a flow quadratic). A task's
definition may change until it starts (``output()``, ``cwd``...): every
change tells this registry (``Task._on_edit``), and the task is indexed
again at the next lookup.
"""
from __future__ import annotations

import logging
import threading
from typing import Container, Iterable, Optional

from ..project import Project
from .task import Task

log = logging.getLogger("scriptflow.engine")


class CreatedTasks:
    """Tasks created while a run is in progress, in creation order, indexed by output."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._tasks: list[Task] = []                 # a task's creation number: ``task._created_number``
        self._indexed: dict[int, set[str]] = {}      # id(task) -> the outputs it is indexed under
        self._by_path: dict[str, list[Task]] = {}    # project-relative output -> its declaring tasks
        self._changed: dict[int, Task] = {}          # created or edited since the last lookup
        self._lock = threading.Lock()
        self._on_edit = self._edited  # one bound method for every task (a flow may create 100,000)

    def add(self, task: Task) -> None:
        with self._lock:
            task._created_number = len(self._tasks)
            self._tasks.append(task)
            self._changed[id(task)] = task
        task._on_edit = self._on_edit

    def _edited(self, task: Task) -> None:
        with self._lock:
            self._changed[id(task)] = task

    def _outputs(self, task: Task) -> set[str]:
        cwd = self.project.working_dir(task.cwd)  # as build_spec resolves them once the task starts
        return {self.project.resolve(p, cwd)[1] for p in task.get_outputs()}

    def _reindex(self) -> None:
        """Index the tasks created or edited since the last lookup (under the lock)."""
        changed, self._changed = self._changed, {}
        for key, task in changed.items():
            for path in self._indexed.pop(key, ()):
                holders = self._by_path[path]
                holders.remove(task)
                if not holders:
                    del self._by_path[path]
            if task._started:
                continue
            outputs = self._outputs(task)
            self._indexed[key] = outputs
            for path in outputs:
                self._by_path.setdefault(path, []).append(task)

    def producer_of(self, path: str) -> Optional[Task]:
        """The first created, not started task that declares ``path`` (project-relative) as an output."""
        with self._lock:
            if self._changed:
                self._reindex()
            holders = self._by_path.get(path)
            if not holders:
                return None
            waiting = [t for t in holders if not t._started]
            if len(waiting) != len(holders):  # started tasks leave the index for good
                if waiting:
                    self._by_path[path] = waiting
                else:
                    del self._by_path[path]
            candidates = [t for t in waiting if t.cmd is not None]
        if not candidates:
            return None
        return min(candidates, key=lambda t: t._created_number)

    def start_producers(self, consumer: Task, inputs: Iterable[str], produced: Container[str]) -> None:
        """Start the created tasks that produce inputs of ``consumer`` no started task produces."""
        for path in inputs:
            if path in produced:
                continue
            producer = self.producer_of(path)
            if producer is not None and producer is not consumer:
                log.info("starting %s: it produces %s, an input of %s", producer.name, path, consumer.name)
                producer.start()

    def never_started(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks if not t._started]
