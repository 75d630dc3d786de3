"""``sf.call(fn, *args, **kwargs)``: a Python function as a task, in its own process.

The function runs in a new Python process (``python -m scriptflow.callee``)
that imports the flow file by its path and calls ``fn`` by qualified name
with the JSON-encoded arguments, so a crash, a leak or a hang of ``fn`` is a
failed or timed-out task, never the engine's problem, and the task runs on
any executor (a cluster node) like a shell command. Its JSON return value is
the task's declared output ``.scriptflow/values/NAME-HASH.json``: it is
hashed and recorded like any output, ``t.value`` reads it, and a cached task
gets its value back without calling ``fn``. The flow file is an input of the
task, so editing it reruns the function (its code may have changed).
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any, Callable

from ..errors import TaskDefinitionError
from ..names import file_stem
from ..project import STATE_FOLDER, VALUES_FOLDER
from .task import Task

#: Where function tasks write their return values, relative to the project.
VALUES_DIR = os.path.join(STATE_FOLDER, VALUES_FOLDER)


def _defined_in(fn: Callable[..., Any]) -> tuple[str, str]:
    """(absolute path of the file defining ``fn``, its qualified name), or a one-line error."""
    name = getattr(fn, "__qualname__", None)
    module = sys.modules.get(getattr(fn, "__module__", "") or "")
    path = getattr(module, "__file__", None)
    if not callable(fn) or name is None or path is None or "<" in name:
        raise TaskDefinitionError(f"sf.call: {fn!r} is not a function defined at the top level of a file "
                                  "(lambdas and nested functions cannot be called from another process)")
    return os.path.abspath(path), name


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
    """A task that runs ``fn(*args, **kwargs)`` in a separate process; ``t.value`` is its return value.

    Arguments and the return value must be JSON-serialisable. Set the task's uid, inputs,
    retries or resources with the usual setters (``.uid()``, ``.input()``, ``.set_retry()``).
    """
    path, qualname = _defined_in(fn)
    try:
        payload = json.dumps({"args": list(args), "kwargs": kwargs}, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise TaskDefinitionError(f"sf.call({qualname}): arguments must be JSON-serialisable: {exc}") from None
    digest = hashlib.sha256(f"{qualname}\0{payload}".encode()).hexdigest()[:10]
    uid = f"{qualname}-{digest}"
    out = os.path.join(VALUES_DIR, f"{file_stem(qualname)}-{digest}.json")
    rel = os.path.relpath(path)
    command = [sys.executable, "-m", "scriptflow.callee", rel, qualname, payload, out]
    return Task(command, outputs=out, inputs=[rel], name=uid, shell=False, value=out)
