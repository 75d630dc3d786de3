"""The original scriptflow's Task API (0.1-0.2 and its later branches), kept as a mixin of ``Task``.

Flows written for the original keep running unchanged: named output groups,
``props``, ``get_command``/``get_command_str``, ``set_cpu``/``set_memory``,
and ``t.uid`` read as a string that is also the chained setter ``t.uid("x")``.
Nothing here is needed by the engine; it only reads and writes the task's
own definition.
"""
from __future__ import annotations

import shlex
from typing import Any, Optional, Union

from ..errors import TaskDefinitionError


class OriginalTaskApi:
    """Methods of the original Task; ``Task`` provides the attributes they use."""

    def set_cpu(self: Any, n: int) -> Any:
        """Ask for ``n`` CPUs (the ``cpus`` resource; the original's later name)."""
        self._editable()
        self.resources["cpus"] = n
        return self

    def set_memory(self: Any, gb: Union[int, float, str]) -> Any:
        """Ask for memory: a number is GB (the original's unit), a string keeps its unit ('500M')."""
        self._editable()
        self.resources["mem"] = gb if isinstance(gb, str) else f"{gb}G"
        return self

    def set_prop(self: Any, name: str, value: Any) -> Any:
        """Attach a value to the task for the flow's own use (never part of what runs)."""
        self.props[name] = value
        return self

    def get_prop(self: Any, name: str, default: Any = None) -> Any:
        return self.props.get(name, default)

    def get_outputs(self: Any, group: Optional[str] = None) -> Any:
        """Every declared output (a list), or one named group as declared (a path or a list)."""
        if group is None:
            return list(self._outputs)
        if group not in self._output_groups:
            known = ", ".join(sorted(self._output_groups)) or "none"
            raise TaskDefinitionError(f"task {self.name} has no output group {group!r} (groups: {known})")
        return self._output_groups[group]

    @property
    def outputs(self: Any) -> Any:
        """The named output groups when outputs were given as a dict, else the list of outputs."""
        return dict(self._output_groups) if self._output_groups else list(self._outputs)

    def get_command(self: Any) -> Union[str, list[str], None]:
        """The command as it runs: the argv list, or the string a shell runs."""
        if self._cmd is None:
            return None
        if self.runs_in_shell:
            return self._cmd if isinstance(self._cmd, str) else " ".join(self._cmd)
        return self.argv

    def get_command_str(self: Any) -> str:
        """The command as one line (argv quoted for a shell; a shell string as is)."""
        command = self.get_command()
        if command is None:
            return ""
        return command if isinstance(command, str) else shlex.join(command)


class Uid(str):
    """A task's uid that is also the original's chained setter: ``t.uid("solve-1")``."""

    _task: Any

    def __new__(cls, value: str, task: Any) -> "Uid":
        obj = super().__new__(cls, value)
        obj._task = task
        return obj

    def __call__(self, value: Optional[str] = None) -> Any:
        if value is None:
            return str(self)
        return self._task.set_uid(value)
