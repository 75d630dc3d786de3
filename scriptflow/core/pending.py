"""Tasks a flow created but did not start: Make's rule, and the warning at the end.

The original scriptflow's flows sometimes create a task and only ever use its
output file, by name, as another task's input. Make's rule applies: the
producer of a needed file runs. So every task created during a run is noted
here; when a started task needs a file that no started task produces, the
engine asks ``producer_of`` and starts that task first. Whatever is still
not started when the flow ends is named in a warning, since it was most
likely forgotten (no ``await``, ``start()`` or ``sf.bag``).
"""
from __future__ import annotations

import logging
import threading
from typing import Container, Iterable, Optional

from ..project import Project
from .task import Task

log = logging.getLogger("scriptflow.engine")


class CreatedTasks:
    """Tasks created while a run is in progress, in creation order."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._tasks: list[Task] = []
        self._lock = threading.Lock()

    def add(self, task: Task) -> None:
        with self._lock:
            self._tasks.append(task)

    def _outputs(self, task: Task) -> set[str]:
        cwd = self.project.absolute_str(task.cwd) if task.cwd is not None else str(self.project.dir)
        return {self.project.relative(self.project.absolute_str(p, cwd)) for p in task.get_outputs()}

    def producer_of(self, path: str) -> Optional[Task]:
        """A created, not started task that declares ``path`` (project-relative) as an output."""
        with self._lock:
            # Started tasks leave the list for good (only unstarted ones are ever asked about), so
            # a flow that starts each task as it creates it scans a short list, not every task.
            self._tasks = [t for t in self._tasks if not t._started]
            waiting = [t for t in self._tasks if t.cmd is not None]
        for task in waiting:
            if path in self._outputs(task):
                return task
        return None

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
