"""Typed executor settings: one frozen dataclass per executor, whose fields say everything.

Each field of an executor's settings class carries its default, its help
text and its unit (``setting(5.0, "seconds between two status queries",
unit="seconds", minimum=0.05)``). That one declaration drives three things
that used to be kept apart and drifted: checking ``executors.<name>`` from
the configuration (types, ranges, unknown keys, each refused with one line
naming the key: ``executors.slurm.poll_interval must be a number >= 0.05
(seconds), got 'fast'``), the executor's typed ``settings`` attribute, and
the table that ``scriptflow executors`` prints and ``docs/executors.md``
holds. A wrong setting stops the run before anything starts.

The field's annotation chooses the check: ``bool``, ``int`` (an integer >=
``minimum``, default 1), ``float`` (a number >= ``minimum``, or > with
``strict``; ints are accepted), ``str`` (a non-empty one-line string,
stripped; ``choices`` restrict it), ``list[str]`` (a list of strings, or one
string of lines). ``Optional[X]`` (or ``X | None``) only says that the default is None: a
setting given as None (or not given) always takes its default.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, TypeVar

from ..config import CONTAINER_PULL, CONTAINER_RUNTIMES, container_args_list
from ..errors import ConfigError

S = TypeVar("S", bound="ExecutorSettings")


def setting(default: Any, help: str, *, unit: Optional[str] = None, minimum: Optional[float] = None,
            strict: bool = False, choices: Optional[tuple[str, ...]] = None,
            check: Optional[tuple[Callable[[Any], bool], str]] = None,
            default_text: Optional[str] = None, empty_is_none: bool = False,
            parse: Optional[Callable[[Any], Any]] = None, type_text: Optional[str] = None) -> Any:
    """A settings field: ``default`` plus what validation and the generated docs need.

    ``check`` is ``(predicate, what)``: a value the predicate refuses fails as
    ``executors.NAME.KEY must be WHAT, got VALUE``. ``default_text`` replaces
    the default in the docs when the value itself says little (None: "the
    number of CPUs"). ``empty_is_none``: an empty string means "not set" (the
    original scriptflow's ``account: ''``). ``parse`` replaces the type check
    for values users write in several forms (a walltime as ``'02:00:00'``,
    ``90`` or ``'2h'``): it raises ValueError with the message to show, and
    the value is kept as given; ``type_text`` names such a type in the docs.
    """
    metadata = {"help": help, "unit": unit, "minimum": minimum, "strict": strict, "choices": choices,
                "check": check, "default_text": default_text, "empty_is_none": empty_is_none, "parse": parse,
                "type_text": type_text}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SettingDoc:
    """One setting as ``scriptflow executors`` and ``docs/executors.md`` show it."""

    name: str
    type: str
    default: str
    unit: Optional[str]
    help: str


@dataclass(frozen=True)
class ExecutorSettings:
    """The settings every executor has (running its tasks in a container image, which the
    engine resolves and hands over on the ``Attempt``); each executor's settings class derives
    from it. None means "as the top-level key of the same name says"."""

    container: Optional[str] = setting(
        None, "image the tasks of this executor run in, unless a task says otherwise (Task(container=...))",
        default_text="top-level 'container' (none)")
    container_runtime: Optional[str] = setting(
        None, "program that runs the containers", choices=CONTAINER_RUNTIMES,
        default_text="top-level 'container_runtime', else the first installed of podman, docker, apptainer")
    container_args: Optional[list[str]] = setting(
        None, "extra arguments of the runtime's run command (e.g. ['--gpus', 'all'])", parse=container_args_list,
        type_text="list of strings, or one string split like a shell", default_text="top-level 'container_args' ([])")
    container_pull: Optional[str] = setting(
        None, "when images are pulled before a task runs", choices=CONTAINER_PULL,
        default_text="top-level 'container_pull' ('missing')")

    @classmethod
    def from_config(cls: type[S], executor: str, raw: Optional[Mapping[str, Any]]) -> S:
        """Check ``executors.<executor>`` of the configuration and build the settings, or raise
        ``ConfigError`` naming the first wrong key."""
        raw = dict(raw or {})
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            common = {f.name for f in dataclasses.fields(ExecutorSettings)}
            known = ", ".join(sorted(set(fields) - common)) or "none"
            raise ConfigError(f"executors.{executor}: unknown setting {unknown[0]!r} (known: {known})")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, f in fields.items():
            if raw.get(name) is not None:
                values[name] = _checked(executor, name, raw[name], hints[name], f.metadata)
        settings = cls(**values)
        settings.check(executor)
        return settings

    def check(self, executor: str) -> None:
        """Rules between settings (raise ``ConfigError`` with one line); per-field ones are declared."""

    @classmethod
    def describe(cls) -> list[SettingDoc]:
        """Every setting of this executor, in declaration order, for the generated tables (the
        ones every executor has are listed once: ``common_settings``)."""
        hints = typing.get_type_hints(cls)
        docs = []
        common = {f.name for f in dataclasses.fields(ExecutorSettings)} if cls is not ExecutorSettings else set()
        for f in dataclasses.fields(cls):
            if not f.init or f.name in common:  # every executor has those: listed once (common_settings)
                continue
            meta = f.metadata
            if meta.get("default_text"):
                default = meta["default_text"]
            elif f.default_factory is not dataclasses.MISSING:
                default = _show(f.default_factory())
            else:
                default = _show(f.default)
            docs.append(SettingDoc(f.name, _type_text(hints[f.name], meta), default, meta.get("unit"),
                                   meta.get("help", "")))
        return docs


def common_settings() -> list[SettingDoc]:
    """The settings every executor has (the container ones), listed once rather than per executor."""
    return ExecutorSettings.describe()


def _base_type(hint: Any) -> Any:
    """``Optional[X]``, ``X | None`` -> X; anything else unchanged."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return hint


def _checked(executor: str, key: str, value: Any, hint: Any, meta: Mapping[str, Any]) -> Any:
    """``value`` as the field's type, or ConfigError ``executors.E.K must be ..., got VALUE``."""

    def fail(what: str) -> ConfigError:
        return ConfigError(f"executors.{executor}.{key} must be {what}, got {value!r}")

    kind = _base_type(hint)
    minimum = meta.get("minimum")
    if meta.get("empty_is_none") and isinstance(value, str) and not value.strip():
        return None
    if meta.get("parse") is not None:
        try:
            meta["parse"](value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"executors.{executor}.{key}: {exc}") from None
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        out: Any = value
    elif kind is int:
        least = 1 if minimum is None else int(minimum)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise fail("a positive integer" if least == 1 else f"an integer >= {least}")
        out = value
    elif kind is float:
        low = 0.0 if minimum is None else float(minimum)
        strict = bool(meta.get("strict"))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (strict and value <= low):
            unit = f" ({meta['unit']})" if meta.get("unit") else ""
            raise fail(f"a number {'>' if strict else '>='} {low:g}{unit}")
        out = float(value)
    elif kind is str:
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise fail("a non-empty one-line string")
        out = value.strip()
        choices = meta.get("choices")
        if choices and out not in choices:
            raise fail(_choices_text(choices))
    elif typing.get_origin(kind) is list:
        if isinstance(value, str):
            out = [line for line in value.splitlines() if line.strip()]
        elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            out = [v for v in value if v.strip()]
        else:
            raise fail("a string or a list of strings")
    else:  # pragma: no cover - a settings class declaring a type this module does not check
        raise TypeError(f"setting {key} of executor {executor}: unsupported type {hint!r}")
    check = meta.get("check")
    if check is not None and not check[0](out):
        raise fail(check[1])
    return out


def _choices_text(choices: tuple[str, ...]) -> str:
    quoted = [repr(c) for c in choices]
    return " or ".join(quoted) if len(quoted) <= 2 else "one of " + ", ".join(quoted)


def _type_text(hint: Any, meta: Mapping[str, Any]) -> str:
    if meta.get("type_text"):
        return str(meta["type_text"])
    kind = _base_type(hint)
    minimum = meta.get("minimum")
    if kind is bool:
        return "true/false"
    if kind is int:
        return f"integer >= {1 if minimum is None else int(minimum)}"
    if kind is float:
        return f"number {'>' if meta.get('strict') else '>='} {0.0 if minimum is None else minimum:g}"
    if kind is str:
        return " | ".join(repr(c) for c in meta["choices"]) if meta.get("choices") else "string"
    if typing.get_origin(kind) is list:
        return "list of strings"
    return str(kind)


def _show(value: Any) -> str:
    """A default as a user writes it in the configuration."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    return str(value)
