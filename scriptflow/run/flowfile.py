"""Finding and importing sflow.py (or reading a TOML/JSON flow file), and calling a flow.

Errors in user code are reported as one line naming the user's file and
line, never as a scriptflow traceback.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping, Optional, Sequence

from ..core import params
from ..core.functional import FLOW_ATTRIBUTE
from ..errors import FlowCodeError, FlowFileError, ScriptflowError, TaskError

log = logging.getLogger("scriptflow.flow")

DEFAULT_NAME = "sflow.py"
#: Flow files without Python (run/taskfile.py); a scriptflow.toml is one only when it holds tasks.
TOML_NAME, JSON_NAME = "scriptflow.toml", "scriptflow.json"
PREFIX = "flow_"


def is_task_file(path: Path) -> bool:
    """A ``.toml`` or ``.json`` flow file (anything else is Python). Its reader, ``run/taskfile.py``
    (schema, validator, line finder), is imported only for such a file: an sflow.py run pays nothing."""
    return path.suffix.lower() in (".toml", ".json")


@dataclass(frozen=True)
class Flow:
    name: str
    function: Callable[..., Any]
    #: ``@sf.flow(description=...)``; else the docstring's first line is the summary.
    description: Optional[str] = None
    #: ``@sf.flow(params={name: help})``
    param_help: Mapping[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if self.description:
            return self.description.strip().splitlines()[0]
        doc = inspect.getdoc(self.function) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)


def locate(file: Optional[str], directory: Optional[str]) -> Path:
    """The flow file: ``--file`` (relative to ``-C``), else the one of sflow.py, scriptflow.toml
    (holding tasks) and scriptflow.json in ``-C`` or the current folder. Two of them is an error:
    which one runs must never depend on a rule the user has to remember."""
    base = Path(directory) if directory else Path.cwd()
    if directory and not base.is_dir():
        raise FlowFileError(f"no such directory: {directory}")
    if not file:
        return Path(os.path.abspath(_discover(base)))
    path = Path(os.path.abspath(base / file))
    if not path.is_file():
        raise FlowFileError(f"no flow file {path}")
    return path


def _discover(base: Path) -> Path:
    found = [base / name for name in (DEFAULT_NAME, JSON_NAME) if (base / name).is_file()]
    toml = base / TOML_NAME
    # Beside sflow.py, a scriptflow.toml without tasks (or unreadable) is configuration; alone,
    # it is the flow file, so that a misspelt [[tasks]] or a syntax error is reported as such.
    if toml.is_file() and (not found or _taskfile().defines_flows(toml)):
        found.append(toml)
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise FlowFileError(f"{names} both define flows in {os.path.abspath(base)}: choose one with --file "
                            f"(a {TOML_NAME} without [[task]] or [flow.NAME] tables is only configuration)")
    if not found:
        raise FlowFileError(f"no flow file {os.path.abspath(base / DEFAULT_NAME)} (create one with flow_NAME "
                            f"functions, or a {TOML_NAME} with [[task]] tables; or use --file / -C)")
    return found[0]


def user_location(tb: Any, path: Path) -> str:
    """'sflow.py:12' for the innermost frame in the user's flow file, else the innermost frame."""
    frames = traceback.extract_tb(tb)
    mine = [f for f in frames if os.path.abspath(f.filename) == str(path)]
    if not (mine or frames):
        return path.name
    frame = (mine or frames)[-1]
    name = path.name if os.path.abspath(frame.filename) == str(path) else frame.filename
    return f"{name}:{frame.lineno}"


class _FromSource(importlib.machinery.SourceFileLoader):
    """Compiles the flow file from its source every time, never from ``__pycache__``.

    Python trusts a cached ``.pyc`` while the source's size and mtime, in whole seconds, are
    unchanged: a flow edited twice within a second to the same length (a script, a quick fix
    of one character) would run its previous code and record the previous commands. A flow
    file is small; compiling it costs far less than running one stale task. Nothing is
    written into the project's folder either.
    """

    def get_code(self, fullname: str) -> Any:
        return self.source_to_code(self.get_data(self.path), self.path)


def load(path: Path) -> ModuleType:
    """Import the flow file as a module named after it (``sflow``), its folder first on sys.path."""
    module_name = path.stem
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(module_name, path, loader=_FromSource(module_name, str(path)))
    if spec is None or spec.loader is None:
        raise FlowFileError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        where = f"{Path(exc.filename or path).name}:{exc.lineno}"
        raise FlowFileError(f"{where}: syntax error: {exc.msg}") from None
    except ScriptflowError as exc:
        sys.modules.pop(module_name, None)
        raise type(exc)(f"{user_location(exc.__traceback__, path)}: {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - any error in user code is reported, not raised
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = user_location(exc.__traceback__, path)
        raise FlowFileError(f"{where}: error while importing {path.name}: {type(exc).__name__}: {exc}") from None
    return module


def flows(module: ModuleType) -> dict[str, Flow]:
    """The module's flows: ``flow_NAME`` functions and functions marked ``@sf.flow``.

    Two flows of one name (``flow_fit`` and ``@sf.flow(name="fit")``) are an error naming both.
    """
    found: dict[str, Flow] = {}
    origin: dict[str, str] = {}
    for attr, value in vars(module).items():
        if not callable(value):
            continue
        info = getattr(value, FLOW_ATTRIBUTE, None) if inspect.isfunction(value) else None
        if info is not None:
            stem = attr[len(PREFIX):] if attr.startswith(PREFIX) and len(attr) > len(PREFIX) else attr
            flow = Flow(info.name or stem, value, info.description, dict(info.params))
        elif attr.startswith(PREFIX) and len(attr) > len(PREFIX):
            flow = Flow(attr[len(PREFIX):], value)
        else:
            continue
        if flow.name in found and found[flow.name].function is not value:
            raise FlowFileError(f"two flows are named {flow.name!r}: {origin[flow.name]} and {attr}")
        found[flow.name] = flow
        origin[flow.name] = attr
    return dict(sorted(found.items()))


def load_flows(path: Path) -> dict[str, Flow]:
    """The flows of a flow file: sflow.py's functions, or a TOML/JSON file's task lists."""
    if not is_task_file(path):
        return flows(load(path))
    return {name: Flow(name, found.run, found.description) for name, found in _taskfile().load(path).items()}


def _taskfile() -> ModuleType:
    from . import taskfile
    return taskfile


def find_flow(available: Mapping[str, Flow], name: str, path: Path) -> Flow:
    if name.startswith(PREFIX) and name[len(PREFIX):] in available:
        name = name[len(PREFIX):]
    if name not in available:
        names = ", ".join(available) or "none"
        raise FlowFileError(f"no flow named {name!r} in {path.name} (available: {names})")
    return available[name]


def bind_args(flow: Flow, args: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """The flow's command-line words as typed arguments (see ``core.params``); a one-line
    FlowFileError for an unknown, missing or unconvertible parameter."""
    return params.bind(flow.function, flow.name, args)


def call_flow(flow: Flow, args: Sequence[str], path: Path) -> Any:
    """Run the flow function to its end (async flows get their own event loop)."""
    positional, keywords = bind_args(flow, args)
    try:
        if flow.is_async:
            import asyncio  # only for an async flow: asyncio (and ssl under it) costs a sync flow's start

            return asyncio.run(flow.function(*positional, **keywords))
        return flow.function(*positional, **keywords)
    except TaskError:
        raise
    except ScriptflowError as exc:  # e.g. a duplicate uid: say where in the flow it happened
        if is_task_file(path):  # its message names the task's line already (TaskFlow.run)
            raise
        raise type(exc)(f"{user_location(exc.__traceback__, path)}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - user code
        log.error("flow %s raised", flow.name, exc_info=True)  # the full traceback, for the run log
        where = user_location(exc.__traceback__, path)
        raise FlowCodeError(f"{where}: flow {flow.name} raised {type(exc).__name__}: {exc}") from None
