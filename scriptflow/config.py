"""Run configuration: ``sf.init({...})``, then pyproject/scriptflow.toml, then the command line.

``sf.init`` only records the dict (after checking its keys): ``sflow.py`` is
re-imported by tasks in child processes, so nothing here may start work.
"""
from __future__ import annotations

import copy
import shlex
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

from .errors import ConfigError



def _toml() -> Any:
    """The TOML reader, imported when a TOML file or ``--set`` value is read (most runs of a
    project without ``scriptflow.toml`` or ``pyproject.toml`` read none)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    return tomllib

#: Container runtimes (``container_runtime``) and pull policies (``container_pull``), top level and
#: per executor; running images is ``executors/container.py``, resolving them ``core/images.py``.
CONTAINER_RUNTIMES = ("podman", "docker", "apptainer", "singularity")
CONTAINER_PULL = ("always", "missing", "never")


def container_args_list(value: Any) -> list[str]:
    """``container_args`` as an argv list: a list of strings as is, one string split like a shell
    (``"--gpus all"``). Raises ValueError with the message to show."""
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"container_args must be a string or a list of strings, got {value!r}")


#: Top-level keys and what they mean (shown in error messages and docs).
KNOWN_KEYS = {
    "executors": "per-executor settings, e.g. {'local': {'maxsize': 4}}",
    "executor": ("default executor name for tasks that do not choose one (default: the first executor "
                 "listed under 'executors', else 'local')"),
    "debug": "log debug details to .scriptflow/scriptflow.log",
    "notify": ("where to POST run events: {'url': ..., 'events': [...], 'headers': {...}, 'format': 'json' or "
               "'slack'} or a list of them (a plain string, the original's user name, sends nothing)"),
    "classic_terminal": "plain line-per-event output instead of the live display",
    "force": "True to rerun every task, or a glob (or list of globs) of task uids",
    "interrupt_grace": "seconds running tasks get to exit after Ctrl-C/SIGTERM before they are killed (default 10)",
    "container": "image every task runs in unless its executor or the task says otherwise (docs/containers.md)",
    "container_runtime": "podman, docker, apptainer or singularity (default: the first of these installed)",
    "container_args": "extra arguments of the container runtime's run command, e.g. ['--gpus', 'all']",
    "container_pull": "when images are pulled: 'always', 'missing' (default) or 'never'",
}

DEFAULTS: dict[str, Any] = {
    "executors": {"local": {"maxsize": None}},
    "executor": "local",
    "debug": False,
    "notify": None,
    "classic_terminal": False,
    "force": False,
    "interrupt_grace": 10,
    "container": None,
    "container_runtime": None,
    "container_args": [],
    "container_pull": "missing",
}

#: Keys of ``scriptflow.toml`` that describe tasks, not configuration (docs/toml-flows.md).
FLOW_FILE_KEYS = ("task", "flow", "$schema")

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
    _check_container_keys(config, where)
    executors = config.get("executors", {})
    if not isinstance(executors, Mapping) or any(not isinstance(v, Mapping) for v in executors.values()):
        raise ConfigError(f"{where}: 'executors' must map executor names to dicts of settings")


def _check_container_keys(config: Mapping[str, Any], where: str) -> None:
    """The top-level container keys, checked like their per-executor twins (executors/settings.py)."""
    image = config.get("container")
    if image is not None and image is not False and (not isinstance(image, str) or not image.strip()
                                                     or "\n" in image):
        raise ConfigError(f"{where}: 'container' must be an image name (a non-empty string), got {image!r}")
    for key, choices in (("container_runtime", CONTAINER_RUNTIMES), ("container_pull", CONTAINER_PULL)):
        value = config.get(key)
        if value is not None and value not in choices:
            raise ConfigError(f"{where}: {key!r} must be one of {', '.join(choices)}, got {value!r}")
    if config.get("container_args") is not None:
        try:
            container_args_list(config["container_args"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None


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
    if own.exists():  # its [[task]] and [flow.NAME] tables are a flow file's (run/taskfile.py)
        return _load_toml(own, None, FLOW_FILE_KEYS)
    pyproject = project_dir / "pyproject.toml"
    if pyproject.exists():
        return _load_toml(pyproject, ("tool", "scriptflow"))
    return {}


def _load_toml(path: Path, section: tuple[str, ...] | None, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    tomllib = _toml()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read configuration: {exc}") from None
    for key in section or ():
        data = data.get(key, {})
    data = {k: v for k, v in data.items() if k not in skip}
    check_keys(data, path.name if not section else f"{path.name} [tool.scriptflow]")
    return data


#: Executor names of the original scriptflow that mean one of ours ("hpc" was its PBS qsub runner).
EXECUTOR_ALIASES = {"hpc": "pbs"}


def canonical_executor(name: Optional[str]) -> Optional[str]:
    """The executor an (original) name means: ``hpc`` -> ``pbs``; others unchanged."""
    return EXECUTOR_ALIASES.get(name, name) if name is not None else None


def _canonical(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One configuration layer with the original's executor names replaced by ours."""
    out = dict(config)
    if isinstance(out.get("executor"), str):
        out["executor"] = canonical_executor(out["executor"])
    executors = out.get("executors")
    if isinstance(executors, Mapping):
        renamed: dict[str, Any] = {}
        given: dict[str, str] = {}
        for name, settings in executors.items():
            new = EXECUTOR_ALIASES.get(str(name), str(name))
            if new in renamed:
                first, second = sorted((given[new], name))
                raise ConfigError(f"{where}: executors {first!r} and {second!r} are the same executor; give one")
            renamed[new], given[new] = settings, name
        out["executors"] = renamed
    return out


def resolve(project_dir: Path, command_line: Mapping[str, Any]) -> tuple[dict[str, Any], Optional[str]]:
    """The configuration a run uses (defaults < sf.init < file < command line), and a note
    saying which executor tasks go to when the configuration chose it without an ``executor`` key.

    As in the original, the executors listed under ``executors`` are where tasks run: with no
    ``executor`` key the first one listed is the default. Defaulting to ``local`` instead would
    run a flow written for ``executors: {slurm: ...}`` on the login node.
    """
    check_keys(command_line, "command line")
    user = merge(_canonical(flow_config(), "sf.init"), _canonical(file_config(project_dir), "scriptflow.toml"))
    line = _canonical(command_line, "command line")
    config = merge(merge(DEFAULTS, user), line)
    note = None
    listed = list(user.get("executors") or {})
    if "executor" not in user and "executor" not in line and listed:
        config["executor"] = listed[0]
        if listed[0] != "local" or len(listed) > 1:
            others = f" (executors listed: {', '.join(listed)})" if len(listed) > 1 else ""
            note = (f"tasks run on {listed[0]}: the first executor listed under 'executors'{others}; "
                    f"set 'executor' to choose another")
    return config, note


def effective_config(project_dir: Path, command_line: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration a run uses: defaults < sf.init < file < command line."""
    return resolve(project_dir, command_line)[0]


def notify_note(config: Mapping[str, Any]) -> Optional[str]:
    """What to say about a string ``notify`` (the original's central service): accepted, never contacted."""
    if not isinstance(config.get("notify"), str) or not config["notify"]:
        return None
    return (f"note: notify={config['notify']!r} is accepted for compatibility; scriptflow contacts no "
            "central service and sends nothing for it (configure notify targets with a 'url' instead)")


def parse_setting(text: str) -> dict[str, Any]:
    """``executors.slurm.partition=debug`` (``--set`` on the command line) as a nested dict.

    The value is read as a TOML value when it is one (``4``, ``true``, ``["a", "b"]``,
    ``"quoted"``), else taken as a plain string, so site settings need no quoting.
    """
    key, sep, raw = text.partition("=")
    parts = [p.strip() for p in key.split(".")]
    if not sep or not all(parts):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. executors.slurm.partition=debug")
    tomllib = _toml()
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out
