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
from collections.abc import Iterator
from pathlib import PurePath
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from ..errors import ScriptflowError, TaskDefinitionError
from .callsite import creation_site
from .current import current_engine
from .lightfuture import LightFuture
from .original_api import OriginalTaskApi, Uid
from .results import task_value, value_source
from .shellsyntax import shell_syntax
from .startorder import dependency_order
from .taskargs import RESOURCE_KEYS, check_limits, container_value, setup_lines, uid_problem
from .validate import check_command, describe
from .watch import Callback, Pattern, Watch, make_watch, watch_list

PathLike = Union[str, os.PathLike]
Input = Union[PathLike, "Task"]

def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike, Task)) or not isinstance(value, Iterable):
        return [value]  # a single item; one that is not a path is refused by the caller
    return list(value)


class Task(OriginalTaskApi, LightFuture):
    """One command with declared inputs and outputs.

    Both styles of the original scriptflow work::

        t = sf.Task(["python", "-c", "..."]).output("a.txt").uid("solve-1")
        t = sf.Task(cmd="python -c ...", outputs="a.txt", inputs=["b.txt"], name="solve-1")

    A string command is split with ``shlex`` and runs without a shell, unless
    it holds shell syntax (``<``, ``|``, ``;``, ``$``... outside single quotes:
    then it runs through ``/bin/sh``, as the original's job scripts ran it) or
    ``shell=`` says otherwise. ``result()`` and ``await`` start the task if
    needed, wait for it, and return the task itself, or raise ``TaskError``.
    ``container="IMAGE"`` runs the command inside that image (docs/containers.md);
    ``container=False`` runs it as is even when a container is configured.
    ``watch=`` (or ``t.watch(pattern, callback)``) follows its stdout while it runs.
    """

    #: The run this task was sent to from a task's script (``core/remote.py``); None in a flow.
    _remote: Any = None
    # Set on the instance only when given (a flow may hold 100,000 tasks, most without either):
    #: Patterns searched in each line of its stdout while it runs (``watch``; core/watching.py).
    _watches: Sequence[Watch] = ()
    #: Named groups of outputs (``outputs={"res": ...}``), as the original declared them.
    _output_groups: Mapping[str, Any] = MappingProxyType({})

    def __init__(
        self,
        cmd: Union[str, Sequence[Any], None] = None,
        outputs: Union[PathLike, Iterable[PathLike], Mapping[str, Any], None] = None,
        inputs: Union[Input, Iterable[Input], None] = None,
        name: Optional[str] = None,
        *,
        shell: Optional[bool] = None,
        quiet: Optional[bool] = None,
        props: Optional[Mapping[str, Any]] = None,
        retry: int = 0,
        executor: Optional[str] = None,
        cwd: Optional[PathLike] = None,
        env: Optional[Mapping[str, str]] = None,
        version: Optional[str] = None,
        uid: Optional[str] = None,
        deps: Union[Input, Iterable[Input], None] = None,
        container: Union[str, bool, None] = None,
        value: Optional[PathLike] = None,
        parse: Optional[Any] = None,
        watch: Any = None,
        **resources: Any,
    ) -> None:
        super().__init__()
        self._created_at = creation_site()  # 'sflow.py:12', for errors naming two tasks
        # Each step below is skipped when its argument was not given: a flow may create 100,000 tasks.
        unknown = set(resources) - set(RESOURCE_KEYS) if resources else None
        if unknown:
            raise TaskDefinitionError(
                f"Task got unknown keyword {sorted(unknown)[0]!r} "
                f"(resources are: {', '.join(RESOURCE_KEYS)})"
            )
        self._started = False
        self._cmd: Union[str, list[str], None] = None
        self.shell = bool(shell)
        #: False when ``shell=`` was not given: a string with shell syntax then runs through the shell.
        self.shell_given = shell is not None
        self.quiet = bool(quiet)
        #: ``quiet=False`` (given): the task's output is shown in the terminal as it runs.
        self.show_output = quiet is False
        self.props: dict[str, Any] = dict(props) if props else {}
        self.retry = 0
        self.executor = executor
        self._cwd = cwd
        self.env = dict(env) if env else {}
        self.version = version
        #: The image the command runs in (docs/containers.md); False: none, whatever is configured.
        self.container = container_value(container) if container is not None else None
        self.resources = {k: v for k, v in resources.items() if v is not None} if resources else {}
        if "setup" in self.resources:
            self.resources["setup"] = setup_lines(self.resources["setup"])
            if not self.resources["setup"]:
                del self.resources["setup"]
        self._outputs: list[str] = []
        self._inputs: list[Input] = []
        self._uid: Optional[str] = None
        #: Engine-owned bookkeeping (status, attempts); None until started.
        self._record: Any = None
        if uid is not None or name is not None:  # first, so that errors below can name the task
            self.set_uid(uid if uid is not None else name)
        if cmd is not None:
            self.command(cmd)
        if outputs is not None:
            self.output(outputs)
        if inputs is not None:
            self.input(inputs)
        if deps is not None:
            self.add_deps(deps)
        if retry != 0 or type(retry) is not int:
            self.set_retry(retry)
        if self.resources:
            check_limits(self.resources, self._invalid)
        self._value_source = value_source(self, value, parse)  # t.value (core/results.py)
        if watch is not None:
            self._watches = watch_list(watch, self._label())
        engine = current_engine()
        if engine is not None:  # so that Make's rule can start it (core/pending.py)
            engine.created(self)

    # -- definition (chainable; frozen once started) -------------------------

    #: Told of every change to the definition (``CreatedTasks`` re-indexes the task's outputs).
    _on_edit: Optional[Callable[["Task"], None]] = None
    #: Its place among the tasks created in this run (``CreatedTasks``: Make's rule starts the first).
    _created_number = -1

    def _editable(self) -> None:
        if self._started:
            raise TaskDefinitionError(f"task {self.name} has started; its definition can no longer change")
        if self._on_edit is not None:
            self._on_edit(self)

    @property
    def cwd(self) -> Optional[PathLike]:
        """The folder the command runs in (None: the project folder)."""
        return self._cwd

    @cwd.setter
    def cwd(self, value: Optional[PathLike]) -> None:
        self._editable()
        self._cwd = value

    def _label(self) -> str:
        """How errors name this task before its command is known to be valid."""
        if self._uid is not None:
            return self._uid
        return self.name if self._cmd is not None else "(unnamed)"

    def _invalid(self, message: str) -> TaskDefinitionError:
        return TaskDefinitionError(f"task {self._label()}: {message}")

    def command(self, cmd: Union[str, Sequence[Any]]) -> "Task":
        """Set the command: an argv list, or a string (split by shlex unless shell=True).

        Checked here, where the flow's line is known, so that a mistake is one clear error
        instead of a command that runs something else (a dict's keys, the text "None").
        """
        self._editable()
        self._cmd = check_command(cmd, self.shell, self._invalid)
        return self

    def output(self, *paths: Union[PathLike, Iterable[PathLike], Mapping[str, Any], None]) -> "Task":
        """Declare output files (each must exist when the command exits 0).

        A dict declares named groups, as the original did (``outputs={"res": "r.csv",
        "logs": ["a.log", "b.log"]}``); ``get_outputs("res")`` reads a group back.
        """
        self._editable()
        for group in paths:
            if type(group) is str:  # the common case first (a Glob is a str subclass: not here)
                self._outputs.append(group)
                continue
            if isinstance(group, Mapping):
                groups = dict(self._output_groups)  # the task's own, never the class's empty default
                for key, value in group.items():
                    files = [os.fspath(p) for p in _as_list(value)]
                    groups[str(key)] = value if isinstance(value, (str, os.PathLike)) else files
                    self._outputs.extend(files)
                self._output_groups = groups
                continue
            for p in _as_list(group):
                if not isinstance(p, (str, os.PathLike)) or isinstance(p, Task):
                    raise self._invalid(f"output {len(self._outputs) + 1} is {describe(p)}; outputs are paths")
                self._outputs.append(os.fspath(p))
        return self

    add_outputs = output

    def input(self, *items: Union[Input, Iterable[Input], None]) -> "Task":
        """Declare input files or tasks; a task (or a file another task outputs) becomes a dependency."""
        self._editable()
        for group in items:
            if type(group) is str:  # the common case first
                self._inputs.append(group)
                continue
            for item in _as_list(group):
                if not isinstance(item, Task):
                    if not isinstance(item, (str, os.PathLike)):
                        raise self._invalid(f"input {len(self._inputs) + 1} is {describe(item)}; "
                                            "inputs are paths or tasks")
                    item = os.fspath(item)
                self._inputs.append(item)
        return self

    def add_deps(self, deps: Union[Input, Iterable[Input], None]) -> "Task":
        """The original name for ``input``: files or tasks this task depends on."""
        return self.input(deps)

    add_inputs = input

    @property
    def uid(self) -> "Uid":
        """The task's unique name: reads as a string (``f"{t.uid}"``), and ``t.uid("x")`` sets it
        (returning the task, for the chained style)."""
        return Uid(self.name, self)

    @uid.setter
    def uid(self, value: str) -> None:
        self.set_uid(value)

    def set_uid(self, value: Optional[str]) -> "Task":
        """Set the task's unique name; returns the task."""
        if value is None:
            return self
        self._editable()
        value = str(value)
        problem = uid_problem(value)
        if problem:
            raise TaskDefinitionError(f"invalid task uid {value!r}: {problem}")
        self._uid = value
        return self

    def watch(self, pattern: Pattern, callback: Optional[Callback] = None, stream: str = "stdout") -> "Task":
        """Search ``pattern`` (a regular expression) in each line of the task's stdout (or
        ``stream="stderr"``) while it runs: each match is recorded (a ``watch`` event in the ledger)
        and handed to ``callback`` as a ``WatchEvent``; returns the task. Declare it before the
        task starts; several may be."""
        if self._started:
            raise TaskDefinitionError(f"task {self.name} has started: watch its output before it starts "
                                      "(or with watch= of sf.task)")
        self._watches = [*self._watches, make_watch(pattern, callback, self._label(), stream)]
        return self

    def set_retry(self, n: int) -> "Task":
        """Retry a failing task up to ``n`` more times."""
        self._editable()
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise self._invalid(f"retry must be a non-negative integer, got {n!r}")
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

    def shell_reason(self) -> Optional[str]:
        """The shell construct that makes a string command (without ``shell=``) run through the
        shell, or None when it runs as given."""
        if self.shell_given or not isinstance(self._cmd, str):
            return None
        return shell_syntax(self._cmd)

    @property
    def runs_in_shell(self) -> bool:
        return self.shell or self.shell_reason() is not None

    def get_inputs(self) -> list[Input]:
        return list(self._inputs)

    @property
    def value(self) -> Any:
        """The task's result as a Python value (``value=`` output parsed as JSON, or ``parse=``);
        waits for the task."""
        return task_value(self)

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
        """Hand the task to the running engine, after the tasks it depends on; returns at once.

        The tasks among its inputs (and theirs) are started first, walked without recursion so
        that a long chain cannot overflow the stack and a cycle is reported by name.
        """
        if self._started:
            return self
        if self._cmd is None:
            raise self._invalid("has no command")
        engine: Any = current_engine()
        if engine is not None and not any(isinstance(item, Task) for item in self._inputs):
            self._started = True  # no task among its inputs: nothing to start first
            engine.submit(self)
            return self
        if engine is None:  # in a script that runs as a task: the run that started it, if it can be reached
            from .remote import remote_engine

            engine = remote_engine()
        if engine is None:
            raise ScriptflowError(
                f"task {self.name} started outside a run: start flows with `scriptflow run FLOW`"
            )
        for task in dependency_order([self], _unstarted_dependencies):
            if task._cmd is None:
                raise task._invalid("has no command")
            task._started = True
            engine.submit(task)
        return self

    def result(self, timeout: Optional[float] = None) -> "Task":
        return super().result(self._wait(timeout))

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        return super().exception(self._wait(timeout))

    def _wait(self, timeout: Optional[float]) -> Optional[float]:
        """Start the task; a task sent to the run from a task's script is waited for there (its
        future settles only then). Returns what is left of ``timeout`` for the future."""
        self.start()
        if self._remote is None:
            return timeout
        self._remote.wait([self], timeout)
        return None if timeout is None else 0

    def cancel(self) -> bool:
        """Tasks are not cancelled from flow code; interrupt the run instead."""
        return False

    def __await__(self):
        import asyncio  # lazily: read-only commands import this module and never need asyncio

        self.start()
        if self._remote is not None:  # waited for by the run, on a thread (core/remote.py)
            return asyncio.get_running_loop().run_in_executor(None, self.result).__await__()
        return asyncio.wrap_future(self).__await__()

    def __repr__(self) -> str:
        return f"<Task {self.name} {self.status}>"


def _unstarted_dependencies(task: Task) -> Iterator[Task]:
    return (item for item in task._inputs if isinstance(item, Task) and not item._started)
