"""Flow parameters: command-line words turned into typed keyword arguments.

``scriptflow run FLOW --param n=10 --param xs=1,2,3`` (or the older ``FLOW a
n=10``) hands the flow function Python values converted by its annotations,
so a flow never has to ``int()`` its own arguments, and a typo is one clear
line before anything is recorded or run, not a traceback half-way through a
flow. Only plain types are understood (int, float, bool, str, Path, lists of
those, Optional of those); anything else is passed as the string given.
Unannotated parameters take the type of their default, when it has one of
these types.
"""
from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import FlowFileError

_P = inspect.Parameter
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}
_SCALARS: dict[Any, str] = {int: "int", float: "float", bool: "bool", str: "str", Path: "Path"}


@dataclass(frozen=True)
class Param:
    """One parameter of a flow function, as ``scriptflow list --params`` shows it."""

    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required
    kind: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def type_name(self) -> str:
        return type_name(self.annotation, self.default)

    def describe(self) -> str:
        """'n: int = 10', 'xs: list[int]' (required), 'model: str = probit'."""
        text = f"{self.name}: {self.type_name}"
        if not self.required:
            text += f" = {format_value(self.default)}"
        return text


def format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations (string annotations too); unresolvable ones are left as written."""
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - a name the flow file does not import: fall back to the raw text
        return dict(getattr(function, "__annotations__", {}) or {})


def parameters(function: Callable[..., Any]) -> list[Param]:
    """The parameters a flow takes (``*args``/``**kwargs`` excluded)."""
    hints = _hints(function)
    found = []
    for p in inspect.signature(function).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        found.append(Param(p.name, hints.get(p.name, p.annotation), p.default, p.kind))
    return found


def _unwrap(annotation: Any, default: Any) -> tuple[Any, bool]:
    """(element or scalar type, is_list) for an annotation; Optional[X] is X."""
    if annotation is inspect.Parameter.empty:
        if default is inspect.Parameter.empty or default is None:
            return str, False
        if isinstance(default, (list, tuple)):
            return (type(default[0]) if default else str), True
        return type(default), False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType" or type(annotation).__name__ == "UnionType":
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0], default)
        return annotation, False
    if origin in (list, tuple, typing.List, Sequence, typing.Sequence) or annotation in (list, tuple):
        element = args[0] if args else str
        return element, True
    return annotation, False


def type_name(annotation: Any, default: Any = inspect.Parameter.empty) -> str:
    element, is_list = _unwrap(annotation, default)
    name = _SCALARS.get(element) or (element if isinstance(element, str)
                                     else str(getattr(element, "__name__", element)))
    return f"list[{name}]" if is_list else name


def _scalar(element: Any, text: str) -> Any:
    if element is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected true or false")
    if element is int:
        return int(text.strip())
    if element is float:
        return float(text.strip())
    if element is Path:
        return Path(text)
    return text  # str, and types scriptflow does not convert


def convert(param: Param, text: str, flow: str) -> Any:
    """``text`` as the parameter's type, or a one-line error naming the flow, parameter and value."""
    element, is_list = _unwrap(param.annotation, param.default)
    try:
        if is_list:
            return [_scalar(element, part) for part in text.split(",")] if text.strip() else []
        return _scalar(element, text)
    except ValueError:
        raise FlowFileError(f"flow {flow}: parameter {param.name} expects {param.type_name}, got {text!r}") from None


def split_words(args: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """``a b key=value`` -> (['a', 'b'], [('key', 'value')])."""
    positional: list[str] = []
    keywords: list[tuple[str, str]] = []
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key.isidentifier():
            keywords.append((key, value))
        else:
            positional.append(arg)
    return positional, keywords


def check_param_option(text: str) -> str:
    """A ``--param`` value must be NAME=VALUE."""
    key, eq, _ = text.partition("=")
    if not eq or not key.isidentifier():
        raise FlowFileError(f"--param {text!r}: expected NAME=VALUE (e.g. --param n=10)")
    return text


def bind(function: Callable[..., Any], flow: str, args: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Convert the command-line words for ``function``: (positional values, keyword values).

    Raises FlowFileError for an unknown parameter, a value that does not convert, a parameter
    given twice, too many words, or a required parameter left out.
    """
    params = parameters(function)
    by_name = {p.name: p for p in params}
    signature = inspect.signature(function)
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    takes_varargs = any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values())
    words, pairs = split_words(args)
    listing = ", ".join(p.name for p in params) or "none"
    positional_params = [p for p in params if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)]
    if len(words) > len(positional_params) and not takes_varargs:
        raise FlowFileError(f"flow {flow} takes {len(positional_params)} positional argument(s), "
                            f"got {len(words)}: {' '.join(words)} (parameters: {listing})")
    positional = [convert(p, w, flow) for p, w in zip(positional_params, words)]
    positional += words[len(positional_params):]
    given = {p.name for p in positional_params[:len(words)]}
    keywords: dict[str, Any] = {}
    for key, text in pairs:
        param = by_name.get(key)
        if param is None or param.kind == _P.POSITIONAL_ONLY:
            if not takes_kwargs:
                raise FlowFileError(f"flow {flow} has no parameter {key!r} (parameters: {listing})")
            keywords[key] = text
            continue
        if key in given or key in keywords:
            raise FlowFileError(f"flow {flow}: parameter {key} given twice")
        keywords[key] = convert(param, text, flow)
    missing = [p.name for p in params if p.required and p.name not in given and p.name not in keywords]
    if missing:
        raise FlowFileError(f"flow {flow}: missing parameter {missing[0]} "
                            f"(give it as --param {missing[0]}=VALUE)")
    return positional, keywords


def describe_all(function: Callable[..., Any]) -> Optional[str]:
    """'n: int = 10, model: str = probit', or None for a flow without parameters."""
    params = parameters(function)
    return ", ".join(p.describe() for p in params) if params else None
