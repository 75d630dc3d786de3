"""Requirement strings (``rich (>=12); python_version < "3.11"``) as the bundler needs them.

The bundler must know which requirements of an installed distribution apply,
without ``packaging`` (not a runtime dependency of scriptflow): names, extras
and environment markers (PEP 508) are read here. Version specifiers are not
checked: the installed version is what pip chose and what gets bundled.
"""
from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
from typing import Mapping, Optional

from ..errors import BundleError

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_TOKEN = re.compile(r"""\s*(?:(\(|\))|('[^']*'|"[^"]*")|(===|==|!=|<=|>=|~=|<|>)"""
                    r"""|(not\s+in\b|in\b|and\b|or\b)|([A-Za-z_.]+))""")
_VERSION_VARIABLES = {"python_version", "python_full_version", "implementation_version", "platform_release"}


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: ``Markdown_It.py`` is ``markdown-it-py``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    name: str
    extras: frozenset[str]
    marker: Optional[str]


def parse(text: str) -> Requirement:
    """``name[extra,...] specifier ; marker`` (the specifier is skipped), or a one-line error."""
    body, _, marker = text.partition(";")
    match = _NAME.match(body)
    if match is None:
        raise BundleError(f"cannot read the requirement {text!r}")
    extras = frozenset(canonical(e) for e in (match.group(2) or "").split(",") if e.strip())
    return Requirement(match.group(1), extras, marker.strip() or None)


def environment(python: Optional[str] = None) -> dict[str, str]:
    """The marker variables of this interpreter (PEP 508), ``python`` ("3.9") replacing its version."""
    full = python + ".0" if python else platform.python_version()
    impl = sys.implementation
    return {
        "os_name": os.name, "sys_platform": sys.platform, "platform_system": platform.system(),
        "platform_machine": platform.machine(), "platform_release": platform.release(),
        "platform_version": platform.version(),
        "platform_python_implementation": platform.python_implementation(),
        "implementation_name": impl.name,
        "implementation_version": ".".join(str(p) for p in impl.version[:3]),
        "python_version": ".".join(full.split(".")[:2]), "python_full_version": full,
    }


def applies(marker: Optional[str], env: Mapping[str, str], extras: frozenset[str]) -> bool:
    """Whether a requirement with this marker is needed here, given the extras asked for."""
    if marker is None:
        return True
    tokens = _tokens(marker)
    position, value = _or(tokens, 0, env, extras)
    if position != len(tokens):
        raise BundleError(f"cannot read the requirement marker {marker!r}")
    return value


def _tokens(marker: str) -> list[str]:
    out: list[str] = []
    rest = marker.strip()
    while rest:
        match = _TOKEN.match(rest)
        if match is None or not match.group(0).strip():
            raise BundleError(f"cannot read the requirement marker {marker!r}")
        out.append(" ".join(match.group(0).split()))
        rest = rest[match.end():].strip()
    return out


def _or(tokens: list[str], i: int, env: Mapping[str, str], extras: frozenset[str]) -> tuple[int, bool]:
    i, value = _and(tokens, i, env, extras)
    while i < len(tokens) and tokens[i] == "or":
        i, right = _and(tokens, i + 1, env, extras)
        value = value or right
    return i, value


def _and(tokens: list[str], i: int, env: Mapping[str, str], extras: frozenset[str]) -> tuple[int, bool]:
    i, value = _atom(tokens, i, env, extras)
    while i < len(tokens) and tokens[i] == "and":
        i, right = _atom(tokens, i + 1, env, extras)
        value = value and right
    return i, value


def _atom(tokens: list[str], i: int, env: Mapping[str, str], extras: frozenset[str]) -> tuple[int, bool]:
    if i < len(tokens) and tokens[i] == "(":
        i, value = _or(tokens, i + 1, env, extras)
        if i >= len(tokens) or tokens[i] != ")":
            raise BundleError(f"cannot read the requirement marker {' '.join(tokens)!r}")
        return i + 1, value
    if i + 3 > len(tokens):
        raise BundleError(f"cannot read the requirement marker {' '.join(tokens)!r}")
    left, op, right = tokens[i: i + 3]
    return i + 3, _compare(left, op, right, env, extras)


def _compare(left: str, op: str, right: str, env: Mapping[str, str], extras: frozenset[str]) -> bool:
    variable = right if left[:1] in "'\"" else left
    if variable == "extra":
        literal = left if variable == right else right
        if op not in ("==", "!="):
            raise BundleError(f"cannot read the requirement marker 'extra {op} {literal}'")
        found = canonical(literal[1:-1]) in extras
        return found if op == "==" else not found
    a, b = (_value(left, env), _value(right, env))
    if op in ("in", "not in"):
        return (a in b) == (op == "in")
    if variable in _VERSION_VARIABLES:
        va, vb = _version(a), _version(b)
        if va is not None and vb is not None:
            return _ordered(va, op, vb)
    return _ordered(a, op, b)


def _value(token: str, env: Mapping[str, str]) -> str:
    if token[:1] in "'\"":
        return token[1:-1]
    if token not in env:
        raise BundleError(f"unknown requirement marker variable {token!r}")
    return env[token]


def _version(text: str) -> Optional[tuple[int, ...]]:
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(p) for p in match.group(0).split(".")) if match else None


def _ordered(a: object, op: str, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):   # 3.10 == 3.10.0
        width = max(len(a), len(b))
        a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
        if op == "~=":                                    # ~=3.9: >=3.9 and the same major
            return a >= b and a[0] == b[0]
    compare = {"==": lambda: a == b, "===": lambda: a == b, "!=": lambda: a != b,
               "<": lambda: a < b, "<=": lambda: a <= b,  # type: ignore[operator]
               ">": lambda: a > b, ">=": lambda: a >= b, "~=": lambda: a >= b}  # type: ignore[operator]
    return bool(compare[op]())
