"""Task: what to run, and the future that tells how it went.

A task is a ``concurrent.futures.Future`` so that flows, ``concurrent.futures.wait``
and ``asyncio.wrap_future`` all compose with it; there is no second waiting
mechanism. Its definition is editable until ``start()`` hands it to the
engine, and frozen after.
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
import unicodedata
from concurrent.futures import Future, wait
from pathlib import PurePath
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from ..errors import ScriptflowError, TaskDefinitionError
from .current import current_engine

PathLike = Union[str, os.PathLike]
Input = Union[PathLike, "Task"]

#: Per-task resource keywords understood by the cluster executors.
RESOURCE_KEYS = ("cpus", "mem", "time", "gpus", "directives")


def uid_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot be a task uid, or None. Uids are one line of valid text: they are
    stored in the ledger, printed on terminals and typed back by users."""
    if not value:
        return "it is empty"
    for c in value:
        category = unicodedata.category(c)
        if category == "Cc":
            return f"it holds the control character {c!r}"
        if category == "Cs":
            return "it is not valid text (it holds bytes that are not UTF-8)"
    return None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike, Task)):
        return [value]
    return list(value)


class Task(Future):
    """One command with declared inputs and outputs.

    Both styles of the original scriptflow work::

        t = sf.Task(["python", "-c", "..."]).output("a.txt").uid("solve-1")
        t = sf.Task(cmd="python -c ...", outputs="a.txt", inputs=["b.txt"], name="solve-1")

    A string command runs without a shell (split with ``shlex``) unless
    ``shell=True``. ``result()`` and ``await`` start the task if needed, wait
    for it, and return the task itself, or raise ``TaskError``.
    """

    def __init__(
        self,
        cmd: Union[str, Sequence[Any], None] = None,
        outputs: Union[PathLike, Iterable[PathLike], None] = None,
        inputs: Union[Input, Iterable[Input], None] = None,
        name: Optional[str] = None,
        *,
        shell: bool = False,
        quiet: bool = False,
        retry: int = 0,
        executor: Optional[str] = None,
        cwd: Optional[PathLike] = None,
        env: Optional[Mapping[str, str]] = None,
        version: Optional[str] = None,
        uid: Optional[str] = None,
        deps: Union[Input, Iterable[Input], None] = None,
        **resources: Any,
    ) -> None:
        super().__init__()
        unknown = set(resources) - set(RESOURCE_KEYS)
        if unknown:
            raise TaskDefinitionError(
                f"Task got unknown keyword {sorted(unknown)[0]!r} "
                f"(resources are: {', '.join(RESOURCE_KEYS)})"
            )
        self._started = False
        self._cmd: Union[str, list[str], None] = None
        self.shell = bool(shell)
        self.quiet = bool(quiet)
        self.retry = 0
        self.executor = executor
        self.cwd = cwd
        self.env = dict(env or {})
        self.version = version
        self.resources = {k: v for k, v in resources.items() if v is not None}
        self._outputs: list[str] = []
        self._inputs: list[Input] = []
        self._uid: Optional[str] = None
        #: Engine-owned bookkeeping (status, attempts); None until started.
        self._record: Any = None
        if cmd is not None:
            self.command(cmd)
        self.output(outputs)
        self.input(inputs)
        self.add_deps(deps)
        self.set_retry(retry)
        if uid is not None or name is not None:
            self.uid(uid if uid is not None else name)

    # -- definition (chainable; frozen once started) -------------------------

    def _editable(self) -> None:
        if self._started:
            raise TaskDefinitionError(f"task {self.name} has started; its definition can no longer change")

    def command(self, cmd: Union[str, Sequence[Any]]) -> "Task":
        """Set the command: an argv list, or a string (split by shlex unless shell=True)."""
        self._editable()
        if isinstance(cmd, (str, os.PathLike)):
            self._cmd = os.fspath(cmd)
        else:
            self._cmd = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in cmd]
            if not self._cmd:
                raise TaskDefinitionError("a task's command cannot be an empty list")
        return self

    def output(self, *paths: Union[PathLike, Iterable[PathLike], None]) -> "Task":
        """Declare output files (each must exist when the command exits 0)."""
        self._editable()
        for group in paths:
            for p in _as_list(group):
                self._outputs.append(os.fspath(p))
        return self

    add_outputs = output

    def input(self, *items: Union[Input, Iterable[Input], None]) -> "Task":
        """Declare input files or tasks; a task (or a file another task outputs) becomes a dependency."""
        self._editable()
        for group in items:
            for item in _as_list(group):
                if not isinstance(item, Task):
                    item = os.fspath(item)
                self._inputs.append(item)
        return self

    def add_deps(self, deps: Union[Input, Iterable[Input], None]) -> "Task":
        """The original name for ``input``: files or tasks this task depends on."""
        return self.input(deps)

    add_inputs = input

    def uid(self, value: Optional[str] = None) -> Any:
        """Set the task's unique name (returns the task), or read it when called without argument."""
        if value is None:
            return self.name
        self._editable()
        value = str(value)
        problem = uid_problem(value)
        if problem:
            raise TaskDefinitionError(f"invalid task uid {value!r}: {problem}")
        self._uid = value
        return self

    def set_retry(self, n: int) -> "Task":
        """Retry a failing task up to ``n`` more times."""
        self._editable()
        if not isinstance(n, int) or n < 0:
            raise TaskDefinitionError(f"retry must be a non-negative integer, got {n!r}")
        self.retry = n
        return self

    # -- reading ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._uid if self._uid is not None else self.default_uid()

    @property
    def cmd(self) -> Union[str, list[str], None]:
        return self._cmd

    @property
    def argv(self) -> list[str]:
        """The command as run without a shell (``shell=False``)."""
        if isinstance(self._cmd, str):
            return shlex.split(self._cmd)
        return list(self._cmd or [])

    @property
    def output_file(self) -> Optional[str]:
        return self._outputs[0] if self._outputs else None

    def get_outputs(self) -> list[str]:
        return list(self._outputs)

    def get_inputs(self) -> list[Input]:
        return list(self._inputs)

    @property
    def status(self) -> str:
        """'created' until started, then the engine's status for it."""
        return self._record.status if self._record is not None else "created"

    def default_uid(self) -> str:
        """A stable name from the command and outputs, for tasks not given one."""
        head = self.argv[0] if self._cmd and not self.shell else "sh"
        stem = "".join(c if unicodedata.category(c) not in ("Cc", "Cs") else "_" for c in PurePath(head).name)
        stem = stem or "task"
        digest = hashlib.sha256(
            json.dumps([self._cmd, self.shell, self._outputs], default=str).encode()
        ).hexdigest()[:8]
        return f"{stem}-{digest}"

    # -- running ----------------------------------------------------------------

    def start(self) -> "Task":
        """Hand the task to the running engine; returns at once."""
        if self._started:
            return self
        if self._cmd is None:
            raise TaskDefinitionError(f"task {self.name} has no command")
        engine = current_engine()
        if engine is None:
            raise ScriptflowError(
                f"task {self.name} started outside a run: start flows with `scriptflow run FLOW`"
            )
        for item in self._inputs:
            if isinstance(item, Task):
                item.start()
        self._started = True
        engine.submit(self)
        return self

    def result(self, timeout: Optional[float] = None) -> "Task":
        self.start()
        return super().result(timeout)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        self.start()
        return super().exception(timeout)

    def cancel(self) -> bool:
        """Tasks are not cancelled from flow code; interrupt the run instead."""
        return False

    def __await__(self):
        import asyncio  # lazily: read-only commands import this module and never need asyncio

        self.start()
        return asyncio.wrap_future(self).__await__()

    def __repr__(self) -> str:
        return f"<Task {self.name} {self.status}>"


def bag(*tasks: Union[Task, Iterable[Task]]) -> Any:
    """Wait for several tasks together.

    In a plain flow it blocks until all are done and returns them (raising the
    first failure, in order). In an ``async`` flow it returns an awaitable.
    """
    import asyncio

    flat: list[Task] = []
    for t in tasks:
        flat.extend(t if not isinstance(t, Task) else [t])
    for t in flat:
        t.start()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        wait(flat)
        return [t.result() for t in flat]
    return asyncio.gather(*(asyncio.wrap_future(t) for t in flat))
