"""Flows without Python: tasks described in ``scriptflow.toml`` or ``scriptflow.json``.

A flow file's tasks become ordinary ``Task`` objects handed to the one
engine, so skipping, retries, resume, the ledger and every report behave as
for ``sflow.py``. Top-level ``[[task]]`` tables form the flow ``main``;
``[flow.NAME]`` tables with ``[[flow.NAME.task]]`` form more. A task waits
for the task of its flow producing one of its inputs, and for the tasks it
names in ``after`` (whose outputs become its inputs, as a task given as an
input does in Python).

Everything is checked when the file is read, before a run opens the ledger:
the schema (``flowschema``), then what a schema cannot say (duplicate names,
unknown ``after`` names, an output also an input, two producers of a file,
cycles) and finally each task's values, by building it once as ``Task``
does. Each problem is one line naming the file, the line and the key.
"""
from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, NoReturn, Optional

from .. import config
from ..core.lightfuture import wait_each
from ..core.startorder import dependency_order
from ..core.task import Task
from ..errors import ConfigError, FlowFileError, ScriptflowError, TaskDefinitionError, TaskFailed
from . import flowschema
from .keylines import KeyLines, json_lines, toml_lines

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

#: The flow the top-level ``[[task]]`` tables form.
MAIN_FLOW = "main"
#: Keys of a task that are ``Task`` keywords of the same name (``after`` is handled here).
TASK_KEYWORDS = ("name", "cmd", "inputs", "outputs", "shell", "retry", "executor", "cwd", "env", "version",
                 "container", "quiet", "cpus", "mem", "time", "gpus", "timeout", "setup", "directives")


@dataclass(frozen=True)
class TaskDef:
    """One task of a flow file, checked; ``options`` are ``Task``'s keywords."""

    name: str
    line: int
    options: dict[str, Any]
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskFlow:
    """One flow of a flow file: its tasks in an order where each comes after what it waits for."""

    name: str
    file: str
    tasks: list[TaskDef] = field(default_factory=list)
    description: Optional[str] = None

    def run(self) -> None:
        """The flow function: create every task, start them (each after what it waits for), wait for
        all, raise the first failure. All are created before any starts, so that a dependency the
        file check could not see (one path written two ways) is still started first (Make's rule,
        core/pending.py)."""
        made: dict[str, Task] = {}
        for spec in self.tasks:
            with self._at(spec):
                task = Task(**spec.options)
                task.input([made[name] for name in spec.after])
                task._created_at = f"{self.file}:{spec.line}"  # errors naming two tasks name these lines
                made[spec.name] = task
        for spec in self.tasks:
            with self._at(spec):
                made[spec.name].start()
        wait_each(made.values())  # one condition at a time (core/lightfuture.py)
        errors = [e for e in (t.exception() for t in made.values()) if e is not None]
        failed = [e for e in errors if isinstance(e, TaskFailed)]
        if errors:
            raise (failed or errors)[0]

    @contextmanager
    def _at(self, spec: TaskDef) -> Iterator[None]:
        """An error about a task (an output that is the flow file, say) names the task's line."""
        try:
            yield
        except ScriptflowError as exc:
            raise type(exc)(f"{self.file}:{spec.line}: {exc}") from None


def defines_flows(path: Path) -> bool:
    """Whether a ``scriptflow.toml`` holds tasks (else it is configuration only, or unreadable:
    the configuration loader then says why)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "task" in data or "flow" in data


def read(path: Path) -> tuple[dict[str, Any], KeyLines]:
    """The document and the lines of its keys; a syntax error is one line with its line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowFileError(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FlowFileError(f"{path.name}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise FlowFileError(f"{path.name}:1: a flow file holds an object, got {flowschema.shown(data)}")
        return data, json_lines(text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlowFileError(f"{path.name}:{_toml_error_line(exc, text)}invalid TOML: {_toml_message(exc)}") from None
    return data, toml_lines(text)


def _toml_error_line(exc: Exception, text: str) -> str:
    """'7: ' from the decoder's "(at line 7, column 3)" (or its ``lineno``, on newer Pythons)."""
    line = getattr(exc, "lineno", None)
    message = str(exc)
    if line is None and "(at line " in message:
        digits = message.split("(at line ", 1)[1].split(",")[0]
        line = int(digits) if digits.isdigit() else None
    if line is None and "(at end of document)" in message:
        line = max(1, len(text.splitlines()))
    return f"{line}: " if line else " "


def _toml_message(exc: Exception) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    return text.split(" (at line ")[0].split(" (at end of document)")[0]


def load(path: Path) -> dict[str, TaskFlow]:
    """The flows of a TOML/JSON flow file, checked; its configuration keys become the flow's
    configuration, as ``sf.init`` does in ``sflow.py``."""
    data, lines = read(path)
    problems = flowschema.problems(data)
    if problems:
        raise FlowFileError(_problem_text(path.name, problems[0], data, lines))
    settings = {k: v for k, v in data.items() if k not in config.FLOW_FILE_KEYS}
    try:
        config.check_keys(settings, path.name)
    except ConfigError as exc:
        raise FlowFileError(str(exc)) from None
    config.init(settings)
    found: dict[str, TaskFlow] = {}
    if "task" in data:
        found[MAIN_FLOW] = _flow(path.name, MAIN_FLOW, data["task"], ("task",), None, lines)
    for name, body in data.get("flow", {}).items():
        if name in found:
            where = lines.line(("flow", name))
            raise FlowFileError(f"{path.name}:{where}: flow \"{name}\": the top-level [[task]] tables are "
                                f"already the flow \"{MAIN_FLOW}\"")
        found[name] = _flow(path.name, name, body["task"], ("flow", name, "task"), body.get("description"), lines)
    if not found:
        raise FlowFileError(f"{path.name} defines no tasks: add [[task]] tables, or [flow.NAME] tables with "
                            "[[flow.NAME.task]] (docs/toml-flows.md); or write flow_NAME functions in sflow.py")
    return dict(sorted(found.items()))


def _problem_text(file: str, problem: flowschema.Problem, data: Any, lines: KeyLines) -> str:
    """``scriptflow.toml:7: task "b": unknown key "ouputs" (did you mean "outputs"?)``."""
    path = problem.path
    label, rest = "", list(path)
    if len(path) >= 2 and path[0] == "flow":
        label, rest = f'flow "{path[1]}": ', list(path[2:])
    for i in range(len(path) - 1):
        if path[i] == "task" and isinstance(path[i + 1], int):
            task = _get(data, path[:i + 2])
            name = task.get("name") if isinstance(task, Mapping) else None
            label += f'task "{name}": ' if isinstance(name, str) and name else f"task {path[i + 1] + 1}: "
            rest = list(path[i + 2:])
            break
    if problem.unknown_key:
        rest = []  # the message names the key itself
    key = ".".join(str(p) for p in rest)
    message = f'"{key}" {problem.message}' if key else problem.message
    return f"{file}:{lines.line(path) or 1}: {label}{message}"


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _flow(file: str, name: str, items: list[Mapping[str, Any]], at: tuple[Any, ...],
          description: Optional[str], lines: KeyLines) -> TaskFlow:
    """Check one flow's tasks and order them so that each comes after those it waits for."""
    defs: dict[str, TaskDef] = {}
    producer: dict[str, str] = {}
    for index, item in enumerate(items):
        spec = _task(file, item, at + (index,), lines)
        line = spec.line
        if spec.name in defs:
            raise FlowFileError(f'{file}:{line}: task "{spec.name}": a task of this name is already defined '
                                f"at line {defs[spec.name].line}")
        outputs = _paths(spec.options, "outputs")
        for path in sorted(outputs & _paths(spec.options, "inputs")):
            raise FlowFileError(f'{file}:{lines.line(at + (index, "outputs"))}: task "{spec.name}": '
                                f'"{path}" is both an input and an output')
        for path in sorted(outputs):
            if path in producer:
                raise FlowFileError(f'{file}:{line}: task "{spec.name}": output "{path}" is already an output of '
                                    f'task "{producer[path]}" (line {defs[producer[path]].line})')
            producer[path] = spec.name
        defs[spec.name] = spec
    waits: dict[str, list[str]] = {}
    for index, spec in enumerate(defs.values()):
        for other in spec.after:
            if other not in defs:
                raise FlowFileError(f'{file}:{lines.line(at + (index, "after"))}: task "{spec.name}": "after" names '
                                    f'no task of flow "{name}": "{other}"')
        from_files = [producer[p] for p in sorted(_paths(spec.options, "inputs")) if p in producer]
        waits[spec.name] = list(dict.fromkeys([*spec.after, *from_files]))
    order = _dependency_order(file, list(defs), waits, defs)
    return TaskFlow(name=name, file=file, tasks=[defs[n] for n in order],
                    description=description or f"{len(defs)} task(s) from {file}")


def _task(file: str, item: Mapping[str, Any], at: tuple[Any, ...], lines: KeyLines) -> TaskDef:
    """One task's keywords, checked by building it once (outside a run nothing is started)."""
    line = lines.line(at) or 1
    options: dict[str, Any] = {k: (int(v) if isinstance(v, float) and k in ("retry", "cpus", "gpus") else v)
               for k, v in item.items() if k in TASK_KEYWORDS}
    after = item.get("after", ())
    after = (after,) if isinstance(after, str) else tuple(after)
    try:
        Task(**options)
    except TaskDefinitionError as exc:  # a value the schema cannot judge ("timeout = 'soon'")
        named = [k for k in item if re.search(rf"\b{re.escape(k)}\b", str(exc))]
        where = lines.line(at + (named[0],)) if named else line
        raise FlowFileError(f"{file}:{where}: {exc}") from None
    return TaskDef(name=item["name"], line=line, options=options, after=after)


def _paths(options: Mapping[str, Any], key: str) -> set[str]:
    """A task's inputs or outputs as normalised paths, relative to the flow file's folder."""
    value = options.get(key) or []
    cwd = options.get("cwd") or ""
    return {os.path.normpath(os.path.join(cwd, p)) for p in ([value] if isinstance(value, str) else value)}


def _dependency_order(file: str, names: list[str], waits: Mapping[str, list[str]],
                      defs: Mapping[str, TaskDef]) -> list[str]:
    """Names in file order, each after the tasks it waits for; a cycle is an error naming it."""
    def cycle_error(cycle: list[str]) -> NoReturn:
        dep = cycle[-1]
        raise FlowFileError(f'{file}:{defs[dep].line}: task "{dep}": dependency cycle: {" -> ".join(cycle)}')
    return dependency_order(names, waits.__getitem__, key=str, on_cycle=cycle_error)
