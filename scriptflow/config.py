"""Run configuration: ``sf.init({...})``, then pyproject/scriptflow.toml, then the command line.

``sf.init`` only records the dict (after checking its keys): ``sflow.py`` is
re-imported by tasks in child processes, so nothing here may start work.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

#: Top-level keys and what they mean (shown in error messages and docs).
KNOWN_KEYS = {
    "executors": "per-executor settings, e.g. {'local': {'maxsize': 4}}",
    "executor": "default executor name for tasks that do not choose one (default 'local')",
    "debug": "log debug details to .scriptflow/scriptflow.log",
    "notify": "notification settings (accepted for compatibility; not used yet)",
    "classic_terminal": "plain line-per-event output instead of the live display",
    "force": "True to rerun every task, or a glob (or list of globs) of task uids",
    "interrupt_grace": "seconds running tasks get to exit after Ctrl-C/SIGTERM before they are killed (default 10)",
}

DEFAULTS: dict[str, Any] = {
    "executors": {"local": {"maxsize": None}},
    "executor": "local",
    "debug": False,
    "notify": None,
    "classic_terminal": False,
    "force": False,
    "interrupt_grace": 10,
}

_flow_config: dict[str, Any] = {}


def check_keys(config: Mapping[str, Any], where: str) -> None:
    """Reject unknown top-level keys, naming the key and the known ones."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: configuration must be a dict, got {type(config).__name__}")
    for key in config:
        if key not in KNOWN_KEYS:
            known = ", ".join(sorted(KNOWN_KEYS))
            raise ConfigError(f"{where}: unknown configuration key {key!r} (known keys: {known})")
    grace = config.get("interrupt_grace", 10)
    if isinstance(grace, bool) or not isinstance(grace, (int, float)) or grace < 0:
        raise ConfigError(f"{where}: 'interrupt_grace' must be a number of seconds >= 0, got {grace!r}")
    executors = config.get("executors", {})
    if not isinstance(executors, Mapping) or any(not isinstance(v, Mapping) for v in executors.values()):
        raise ConfigError(f"{where}: 'executors' must map executor names to dicts of settings")


def init(config: Mapping[str, Any] | None = None) -> None:
    """Set the flow file's configuration (the original ``sf.init``); cheap by design."""
    config = dict(config or {})
    check_keys(config, "sf.init")
    _flow_config.clear()
    _flow_config.update(copy.deepcopy(config))


def flow_config() -> dict[str, Any]:
    return copy.deepcopy(_flow_config)


def reset_flow_config() -> None:
    _flow_config.clear()


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Later wins; dicts (such as ``executors``) are merged key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def file_config(project_dir: Path) -> dict[str, Any]:
    """``scriptflow.toml`` (whole file) or ``[tool.scriptflow]`` of ``pyproject.toml``."""
    own = project_dir / "scriptflow.toml"
    if own.exists():
        return _load_toml(own, None)
    pyproject = project_dir / "pyproject.toml"
    if pyproject.exists():
        return _load_toml(pyproject, ("tool", "scriptflow"))
    return {}


def _load_toml(path: Path, section: tuple[str, ...] | None) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read configuration: {exc}") from None
    for key in section or ():
        data = data.get(key, {})
    check_keys(data, path.name if not section else f"{path.name} [tool.scriptflow]")
    return data


def effective_config(project_dir: Path, command_line: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a run uses: defaults < sf.init < file < command line."""
    check_keys(command_line, "command line")
    config = merge(DEFAULTS, flow_config())
    config = merge(config, file_config(project_dir))
    return merge(config, command_line)
