"""Executors by name: the built-in ones, those registered in code, and installed plug-ins.

A package provides an executor by declaring an entry point in the group
``scriptflow.executors`` (``myexec = "my_package.module:MyExecutor"``).
Nothing of it is imported until that name is asked for (a task or the
configuration names it) or ``scriptflow executors`` lists it, so a broken
or slow plug-in costs nothing to runs that do not use it. Names resolve in
this order: registered in code (``register_executor``), built in, installed.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from ..errors import ConfigError, ScriptflowError
from .base import Executor

if TYPE_CHECKING:
    from importlib import metadata

#: The entry-point group installed executors are declared in.
ENTRY_POINT_GROUP = "scriptflow.executors"

_BUILTIN = {
    "local": "scriptflow.executors.local:LocalExecutor",
    "slurm": "scriptflow.executors.cluster.slurm:SlurmExecutor",
    "sge": "scriptflow.executors.cluster.qsub:SgeExecutor",
    "pbs": "scriptflow.executors.cluster.qsub:PbsExecutor",
    "dask": "scriptflow.executors.dask_executor:DaskExecutor",
}
_registered: dict[str, type[Executor]] = {}


@dataclass(frozen=True)
class ExecutorSource:
    """Where a name comes from, without importing anything: ``origin`` is ``built-in``,
    ``registered`` or ``installed``; ``target`` is ``module:Class`` and ``package`` the
    distribution that declared it (installed ones)."""

    name: str
    origin: str
    target: str
    package: Optional[str] = None


def register_executor(name: str, cls: type[Executor]) -> None:
    """Make ``cls`` available as ``executor=name`` in tasks and config (wins over every other)."""
    _registered[name] = cls


def _entry_points() -> list[metadata.EntryPoint]:
    """Installed executors' entry points. ``importlib.metadata`` (and the ``email`` package under
    it) is imported only here: a run naming only built-in executors never reads package metadata."""
    from importlib import metadata

    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def sources() -> list[ExecutorSource]:
    """Every executor name this installation knows, sorted; a name is listed once, from where it
    resolves (a plug-in named like a built-in executor is shadowed by it)."""
    found: dict[str, ExecutorSource] = {}
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else None
        found[ep.name] = ExecutorSource(ep.name, "installed", ep.value, package)
    for name, target in _BUILTIN.items():
        found[name] = ExecutorSource(name, "built-in", target)
    for name, cls in _registered.items():
        found[name] = ExecutorSource(name, "registered", f"{cls.__module__}:{cls.__qualname__}")
    return [found[name] for name in sorted(found)]


def executor_names() -> list[str]:
    return [source.name for source in sources()]


def executor_class(name: str) -> type[Executor]:
    """The class of executor ``name``, importing it now; ConfigError (one line) when there is no
    such executor or it cannot be loaded."""
    if name in _registered:
        return _registered[name]
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    matches = [ep for ep in _entry_points() if ep.name == name]
    if not matches:
        raise ConfigError(f"unknown executor {name!r} (available: {', '.join(executor_names())})")
    ep = matches[0]
    try:
        cls = ep.load()
    except Exception as exc:  # noqa: BLE001 - any error of a plug-in's import is the plug-in's
        raise ConfigError(f"executor {name!r} ({ep.value}) cannot be loaded: "
                          f"{type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ConfigError(f"executor {name!r} ({ep.value}) is not a subclass of "
                          f"scriptflow.executors.base.Executor")
    if getattr(cls, "name", None) != name:
        raise ConfigError(f"executor {name!r} ({ep.value}) calls itself {getattr(cls, 'name', None)!r}: "
                          f"its class attribute `name` must be the entry point's name")
    return cls


def create_executor(name: str, settings: Optional[Mapping[str, Any]], state_dir: Path) -> Executor:
    """An executor ready to take attempts, its settings checked (ConfigError otherwise)."""
    cls = executor_class(name)
    try:
        return cls(settings or {}, state_dir)
    except ScriptflowError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plug-in that cannot start is a one-line error, not a traceback
        raise ConfigError(f"executor {name!r} cannot start: {type(exc).__name__}: {exc}") from None
