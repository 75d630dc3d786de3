"""TaskSpec: a started task's frozen definition, with paths resolved.

The flow's ``Task`` is user-facing and loose (relative paths, tasks among
inputs); the engine works on this normalised copy, whose ``definition()`` is
what the fingerprint hashes besides the input hashes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union

from ..config import canonical_executor
from ..executors.base import Container
from ..executors.outputs import OutputPattern
from ..project import Project
from .paths import Glob
from .task import Task
from .watch import Watch


#: Per-task records without a ``__dict__`` (a fifth of the memory): a flow of 100,000 tasks holds one
#: ``TaskSpec`` and one ``TaskRecord`` per task.
SLOTS: dict[str, Any] = {"slots": True}


@dataclass(frozen=True)
class ContainerRequest:
    """The image a task asks to run in (flow and configuration), before it is resolved
    (``images.py``)."""

    image: str
    runtime: Optional[str]
    args: tuple[str, ...]
    pull: str


_C = TypeVar("_C")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def _frozen_for_checkers(cls: type[_C]) -> type[_C]: ...
else:
    def _frozen_for_checkers(cls: type[_C]) -> type[_C]:
        """A slotted dataclass, frozen only for the type checker (see ``TaskSpec``)."""
        return dataclass(**SLOTS)(cls)


@_frozen_for_checkers
class TaskSpec:
    """A started task's definition with its paths resolved; never changed once built
    (``dataclasses.replace`` makes the decided copy).

    Frozen for the type checker, which reports any assignment to a field (``mypy`` in CI), and a
    plain slotted dataclass when running: a frozen dataclass's ``__init__`` sets each of the 20
    fields through ``object.__setattr__``, 4-5 µs of every started task (a third of
    ``build_spec``), where this one stores them directly."""

    uid: str
    command: Union[list[str], str]
    shell: bool
    cwd: str                       # absolute
    cwd_rel: str                   # project-relative ('.' for the project)
    env: dict[str, str]
    version: Optional[str]
    executor: str
    resources: dict[str, Any]
    retry: int
    quiet: bool
    outputs: tuple[str, ...]       # project-relative, in declared order
    inputs: tuple[str, ...]        # project-relative, declared files and dependency outputs
    output_abs: dict[str, str] = field(default_factory=dict)
    input_abs: dict[str, str] = field(default_factory=dict)
    #: The shell construct that made a string command run through the shell without ``shell=True``.
    shell_syntax: Optional[str] = None
    #: ``quiet=False``: show the task's output in the terminal as it runs.
    show_output: bool = False
    #: The image the task asks to run in (set at submission), and that image resolved to its
    #: immutable id (set when the task is decided; ``core/images.py``).
    container_request: Optional[ContainerRequest] = None
    container: Optional[Container] = None
    #: ``t.watch``: patterns searched in each line of its stdout while it runs (never in the fingerprint).
    watches: tuple[Watch, ...] = ()

    def definition(self) -> dict[str, Any]:
        """Everything that defines the result except input hashes (DESIGN.md, Skip and rerun).

        ``setup`` lines change what runs, so they count (only when given, so that the
        fingerprints of tasks without setup stay what they were). ``tasktext.spec_fingerprint``
        writes this document piece by piece for a plain task: a key added here goes there too.
        """
        out = {
            "command": self.command,
            "shell": self.shell,
            "cwd": self.cwd_rel,
            "env": self.env,
            "outputs": sorted(self.outputs),
            "version": self.version,
        }
        if self.resources.get("setup"):
            out["setup"] = list(self.resources["setup"])
        if self.container is not None:  # the image's id, never its tag, runtime or extra arguments
            out["container"] = self.container.image_id
        return out


def build_spec(task: Task, project: Project, default_executor: str) -> TaskSpec:
    """Resolve a task's paths against its working directory and the project.

    Runs once per started task (100,000 times in a large no-op): the project folder as the
    working directory is taken as it is, and each path is resolved in the loop itself."""
    cwd = project.working_dir(task.cwd)
    cwd_rel = "." if task.cwd is None else project.relative(cwd)  # the project folder is "." in the ledger
    resolve = project.resolve
    outputs: list[str] = []
    output_abs: dict[str, str] = {}
    for path in task._outputs:
        absolute, rel = resolve(path, cwd)
        if isinstance(path, Glob):  # recorded as one tree of the files it matches after the task ran
            absolute = OutputPattern(absolute)
        if rel not in output_abs:
            outputs.append(rel)
            output_abs[rel] = absolute
    inputs: list[str] = []
    input_abs: dict[str, str] = {}
    for item in task._inputs:
        if isinstance(item, Task):
            dep_spec = item._record.spec  # started before this task (Task.start)
            for rel in dep_spec.outputs:  # already resolved: no path arithmetic for a wide fan-in
                if rel not in input_abs:
                    inputs.append(rel)
                    input_abs[rel] = dep_spec.output_abs[rel]
            continue
        # a glob is expanded now, when the task starts: the concrete files are its inputs
        for given in item.expand(cwd) if isinstance(item, Glob) else (item,):
            absolute, rel = resolve(given, cwd)
            if rel not in input_abs:
                inputs.append(rel)
                input_abs[rel] = absolute
    syntax = task.shell_reason()
    shell = task.shell or syntax is not None
    if shell:  # a list with shell=True is joined with spaces, as the original did
        command: Union[list[str], str] = task.cmd if isinstance(task.cmd, str) else " ".join(task.cmd or [])
    else:  # a list command is the task's own (frozen since it started), not a copy
        command = task.cmd if type(task.cmd) is list else task.argv
    return TaskSpec(
        uid=task.name,
        command=command,
        shell=shell,
        cwd=cwd,
        cwd_rel=cwd_rel,
        env={str(k): str(v) for k, v in task.env.items()} if task.env else {},  # (a bare {} is a third the size)
        version=task.version,
        executor=canonical_executor(task.executor) or default_executor,
        resources=dict(task.resources) if task.resources else {},
        retry=task.retry,
        quiet=task.quiet,
        outputs=tuple(outputs),
        inputs=tuple(inputs),
        output_abs=output_abs,
        input_abs=input_abs,
        shell_syntax=syntax,
        show_output=task.show_output,
        watches=tuple(task._watches),
    )
