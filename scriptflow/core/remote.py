"""The task side of tasks that create tasks: ``sf.Task`` in a script that runs as a task.

When ``Task.start()`` finds no engine in its process but ``SCRIPTFLOW_SOCKET``
in its environment (put there by the run for each local attempt), the task is
sent to that run (``run/children.py`` has the protocol) and ``result()``
asks the run to wait for it. Standard library only, imported only then, so
a script importing scriptflow stays fast.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any, Iterable, Optional

from ..errors import ScriptflowError, TaskDefinitionError, task_error

SOCKET_ENV, KEY_ENV, ATTEMPT_ENV = "SCRIPTFLOW_SOCKET", "SCRIPTFLOW_KEY", "SCRIPTFLOW_ATTEMPT"
#: Statuses after which a task's future is settled.
FINAL_OK = ("succeeded", "cached")
OPEN = ("waiting", "deciding", "running")

_engine: Optional["RemoteEngine"] = None
_lock = threading.Lock()


class RemoteStatus:
    """What ``Task.status`` reads for a task sent to the run (the engine's TaskRecord stands here)."""

    def __init__(self, status: str) -> None:
        self.status = status


class RemoteEngine:
    """The run that started this process, reached over its socket (``core.current.Engine``)."""

    def __init__(self, path: str, attempt: int, key: str) -> None:
        self.path, self.attempt, self.key = path, attempt, key

    def created(self, task: Any) -> None:
        """Nothing to remember here: the run applies Make's rule to what it is sent."""

    def submit(self, task: Any) -> None:
        answer = self._call({"op": "create", "task": definition(task), "site": task._created_at})
        task._remote = self
        task._record = RemoteStatus(answer.get("status") or "waiting")

    def wait(self, tasks: Iterable[Any], timeout: Optional[float] = None) -> None:
        """Block until the run has finished ``tasks`` (or ``timeout`` passed), and settle their futures.

        While this waits, the run lets another task use this task's slot (``-j``)."""
        pending = [t for t in tasks if not t.done()]
        if not pending:
            return
        answer = self._call({"op": "wait", "uids": [t.name for t in pending], "timeout": timeout})
        for task, state in zip(pending, answer.get("tasks") or []):
            status = state.get("status")
            task._record = RemoteStatus(status)
            if status in OPEN or task.done():
                continue
            if status in FINAL_OK:
                task.set_result(task)
            else:
                task.set_exception(task_error(task.name, status, state.get("error") or ""))

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request, one answer, on a connection of its own (so threads may wait at once)."""
        request.update(attempt=self.attempt, key=self.key)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(self.path)
                conn.sendall((json.dumps(request) + "\n").encode())
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as exc:
            raise ScriptflowError(f"the run that started this task is gone ({self.path}: "
                                  f"{exc.strerror or exc})") from None
        if not data:
            raise ScriptflowError("the run that started this task stopped answering (interrupted?)")
        answer = json.loads(data)
        if not answer.get("ok"):
            raise TaskDefinitionError(answer.get("error") or "refused by the run")
        return answer


def remote_engine() -> Optional[RemoteEngine]:
    """The run this process is a task of, when it may create tasks in it; None otherwise."""
    global _engine
    with _lock:
        if _engine is None:
            path, key, attempt = (os.environ.get(SOCKET_ENV), os.environ.get(KEY_ENV),
                                  os.environ.get(ATTEMPT_ENV))
            if path and key and attempt and attempt.isdigit():
                _engine = RemoteEngine(path, int(attempt), key)
        return _engine


def definition(task: Any) -> dict[str, Any]:
    """The task as JSON keywords of ``Task`` (``run/children.py`` builds it again).

    Relative paths stay relative to the task's folder, which is this process's working folder
    unless ``cwd=`` says otherwise (as in a flow, where it is the project's)."""
    inputs: list[Any] = []
    for item in task.get_inputs():
        if hasattr(item, "_remote"):  # a Task: started first (Task.start), known to the run by uid
            inputs.append({"task": item.name})
        elif isinstance(item, (str, os.PathLike)):
            inputs.append(os.fspath(item))
        else:
            raise TaskDefinitionError(f"task {task.name}: input {item!r} cannot be sent to the run "
                                      "(in a task's script, inputs are paths or tasks)")
    cwd = os.path.abspath(os.fspath(task.cwd)) if task.cwd is not None else os.getcwd()
    out: dict[str, Any] = {
        "cmd": task.cmd, "outputs": list(task.get_outputs()), "inputs": inputs, "uid": task.name,
        "shell": task.shell if task.shell_given else None,
        "quiet": False if task.show_output else (True if task.quiet else None),
        "props": task.props or None, "retry": task.retry, "executor": task.executor, "cwd": cwd,
        "env": task.env or None, "version": task.version, "container": task.container,
        "resources": task.resources or None,
    }
    try:
        json.dumps(out)
    except (TypeError, ValueError) as exc:
        raise TaskDefinitionError(f"task {task.name} cannot be sent to the run: {exc}") from None
    return out
