"""What a task is given, checked and normalised before it becomes part of its definition.

Kept apart from ``task`` so the rules read on their own: the resource
keywords executors understand, what a uid may be, the forms ``setup=`` and
``container=`` take.
"""
from __future__ import annotations

import unicodedata
from typing import Any, Callable, Optional, Union

from ..errors import TaskDefinitionError
from .validate import parse_timeout

#: Per-task resource keywords understood by the executors (``setup``: shell lines run before the command;
#: ``timeout`` is honoured by every executor).
RESOURCE_KEYS = ("cpus", "mem", "time", "gpus", "directives", "setup", "timeout")



def uid_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot be a task uid, or None. Uids are one line of valid text: they are
    stored in the ledger, printed on terminals and typed back by users."""
    if not value:
        return "it is empty"
    if value.isascii() and value.isprintable():  # the common case: no control character, no surrogate
        return None
    for c in value:
        category = unicodedata.category(c)
        if category == "Cc":
            return f"it holds the control character {c!r}"
        if category == "Cs":
            return "it is not valid text (it holds bytes that are not UTF-8)"
    return None


def check_limits(resources: dict[str, Any], invalid: Callable[[str], Exception]) -> None:
    """``timeout`` is stored in seconds (every executor reads it); ``time`` is checked now,
    since the local executor enforces it too, but kept as written for the job scripts.
    ``invalid(message)`` makes the error naming the task."""
    if "timeout" not in resources and "time" not in resources:
        return
    from ..executors.cluster.resources import parse_time_seconds

    try:
        if "timeout" in resources:
            seconds = parse_timeout(resources["timeout"])
            resources["timeout"] = int(seconds) if seconds == int(seconds) else seconds
        if "time" in resources:
            parse_time_seconds(resources["time"])
    except ValueError as exc:
        raise invalid(str(exc)) from None


def setup_lines(value: Any) -> list[str]:
    """``setup=``: one string (lines) or a list of strings; blank lines dropped."""
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise TaskDefinitionError(f"setup must be a string or a list of strings, got {value!r}")


def container_value(value: Any) -> Union[str, bool, None]:
    """``container=``: an image name, False (no container even if one is configured), or None."""
    if value is None or value is False:
        return value
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\n\r\t"):
        raise TaskDefinitionError(f"container must be an image name (a non-empty string) or False, got {value!r}")
    return value.strip()
