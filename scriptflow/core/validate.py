"""Checking what a flow declares, where the flow's line is still known.

A mistake in a task's definition is reported when the task is defined, as
one line naming the task (the CLI adds the flow file and line), instead of
surfacing later as a command that runs something nobody meant (a dict's
keys, the text "None") or as a traceback from deep inside the engine.
"""
from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Invalid = Callable[[str], Exception]

_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def describe(value: Any) -> str:
    """How an error names a value of the wrong type: 'None', 'a dict'."""
    return "None" if value is None else f"a {type(value).__name__}"


def check_command(cmd: Any, shell: bool, invalid: Invalid) -> str | list[str]:
    """The command as stored: a string, or a list of strings; ``invalid(message)`` makes the error.

    List items may be strings, paths or numbers; anything else (None, a nested list, bytes)
    would be turned into text nobody meant to run.
    """
    if type(cmd) is list and cmd and all(type(arg) is str for arg in cmd) and (shell or cmd[0].strip()):
        return list(cmd)  # the common case: a list of strings, nothing to convert or refuse
    if isinstance(cmd, (str, os.PathLike)):
        text = os.fspath(cmd)
        if not isinstance(text, str) or not text.strip():
            raise invalid("the command is empty")
        if not shell:
            try:
                words = shlex.split(text)
            except ValueError as exc:
                raise invalid(f"cannot split the command into arguments ({exc}): {text!r}") from None
            if not words:
                raise invalid("the command is empty")
        return text
    if isinstance(cmd, (Mapping, set, frozenset, bytes)) or not isinstance(cmd, Iterable):
        unordered = " (its order is undefined)" if isinstance(cmd, (set, frozenset)) else ""
        raise invalid(f"the command must be a string or a list of arguments, not {describe(cmd)}{unordered}")
    argv: list[str] = []
    for i, arg in enumerate(cmd, 1):
        if isinstance(arg, os.PathLike):
            arg = os.fspath(arg)
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            arg = str(arg)
        if not isinstance(arg, str):
            raise invalid(f"argument {i} of the command is {describe(arg)}; arguments are strings, paths or numbers")
        argv.append(arg)
    if not argv:
        raise invalid("the command is empty")
    if not shell and not argv[0].strip():
        raise invalid("the program name (argument 1) is empty")
    return argv


def parse_timeout(value: Any) -> float:
    """A task's ``timeout=`` in seconds: a number of seconds, ``"MM:SS"``, ``"H:MM:SS"``, or a
    number with a unit (``"90s"``, ``"30m"``, ``"2h"``). ValueError says what is accepted.

    Unlike ``time=`` (a cluster walltime, where a bare number means minutes as in SLURM),
    a bare timeout is seconds, as in ``subprocess`` and ``concurrent.futures``.
    """
    problem = f"timeout must be seconds (a number) or 'MM:SS' / 'H:MM:SS' text, got {value!r}"
    if isinstance(value, bool) or value is None:
        raise ValueError(problem)
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        m = _UNIT.match(text)
        if m:
            seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
        else:
            parts = text.split(":")
            if len(parts) not in (2, 3) or not all(re.fullmatch(r"\d+", p) for p in parts[:-1]) \
                    or not re.fullmatch(r"\d+(\.\d+)?", parts[-1]):
                raise ValueError(problem)
            numbers = [float(p) for p in parts]
            if any(n >= 60 for n in numbers[1:]):
                raise ValueError(problem)
            seconds = 0.0
            for n in numbers:
                seconds = seconds * 60 + n
    else:
        raise ValueError(problem)  # noqa: TRY004 - the caller reports every bad value the same way
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"timeout must be positive, got {value!r}")
    return seconds
