"""``t.watch(pattern, callback)``: what a task declares about the lines of its output.

A watch is a regular expression searched in each line of the task's stdout
while it runs, and an optional callback handed every match as a
``WatchEvent``. This module holds the declaration (checked where the flow
declares it, so a bad pattern is one line naming the task) and the event;
``watching`` follows the log files and delivers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Union

from ..errors import TaskDefinitionError

Pattern = Union[str, "re.Pattern[str]"]


@dataclass(frozen=True)
class WatchEvent:
    """What a watch callback receives: one line of a task's stdout that matched one pattern.

    ``uid`` and ``attempt`` (1, 2, ... with retries) name the attempt; ``line`` is the whole
    line without its line end; ``match`` the ``re.Match`` of the pattern in it (``groups``
    and ``named`` are its groups, for convenience); ``pattern`` the pattern's text; ``at``
    when scriptflow read the line (UTC, as the ledger writes times); ``run_id`` the run;
    ``task`` the flow's ``Task``; ``stream`` "stdout" (or "stderr", for ``stream="stderr"``).
    """

    uid: str
    attempt: int
    line: str
    match: "re.Match[str]"
    pattern: str
    at: str
    run_id: int
    task: Any = None
    stream: str = "stdout"

    @property
    def groups(self) -> tuple[Optional[str], ...]:
        """The match's groups (``match.groups()``): ``("0.5",)`` for ``loss=(\\S+)``."""
        return self.match.groups()

    @property
    def named(self) -> dict[str, Optional[str]]:
        """The match's named groups (``match.groupdict()``)."""
        return self.match.groupdict()


Callback = Callable[[WatchEvent], Any]


@dataclass(frozen=True, eq=False)
class Watch:
    """One declared pattern and its callback (None: the matches are only recorded)."""

    pattern: "re.Pattern[str]"
    callback: Optional[Callback] = None
    #: Which log file: "stdout" or "stderr".
    stream: str = "stdout"


STREAMS = ("stdout", "stderr")


def make_watch(pattern: Any, callback: Any, task_label: str, stream: str = "stdout") -> Watch:
    """A checked ``Watch``: a pattern that compiles (text, not bytes), a callable or None, a stream."""
    if stream not in STREAMS:
        raise TaskDefinitionError(f"task {task_label}: watch stream must be 'stdout' or 'stderr', got {stream!r}")
    if isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, str):
            raise TaskDefinitionError(f"task {task_label}: watch pattern {pattern.pattern!r} is bytes; "
                                      "lines are matched as text")
        compiled = pattern
    elif isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise TaskDefinitionError(f"task {task_label}: watch pattern {pattern!r} does not compile: {exc}") \
                from None
    else:
        raise TaskDefinitionError(f"task {task_label}: watch pattern must be a string or a compiled regular "
                                  f"expression, got {pattern!r}")
    if callback is not None and not callable(callback):
        raise TaskDefinitionError(f"task {task_label}: watch callback for {compiled.pattern!r} is not callable: "
                                  f"{callback!r}")
    return Watch(compiled, callback, stream)


def watch_list(value: Any, task_label: str) -> list[Watch]:
    """``watch=`` of ``sf.Task``/``sf.task``: a pattern, ``{pattern: callback}``, or a list of
    patterns and ``(pattern, callback)`` pairs."""
    if value is None:
        return []
    if isinstance(value, (str, re.Pattern)):
        return [make_watch(value, None, task_label)]
    if (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (str, re.Pattern))
            and (value[1] is None or callable(value[1]))):
        return [make_watch(value[0], value[1], task_label)]  # one (pattern, callback) pair
    if isinstance(value, Mapping):
        return [make_watch(p, cb, task_label) for p, cb in value.items()]
    if isinstance(value, (list, tuple)):
        watches = []
        for item in value:
            if isinstance(item, tuple) and len(item) == 2:
                watches.append(make_watch(item[0], item[1], task_label))
            else:
                watches.append(make_watch(item, None, task_label))
        return watches
    raise TaskDefinitionError(f"task {task_label}: watch= takes a pattern, a {{pattern: callback}} dict or a "
                              f"list of patterns and (pattern, callback) pairs, got {value!r}")
