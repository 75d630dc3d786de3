"""The run's side of tasks that create tasks: a Unix socket their scripts talk to.

A script running as a local task may ``import scriptflow as sf`` and start
``sf.Task``s: with no engine in its process, ``Task.start()`` sends the task
to the run that started the script (``core/remote.py``), over the socket
named by ``SCRIPTFLOW_SOCKET``. The protocol is one JSON line each way per
connection::

    {"attempt": 12, "key": "...", "op": "create", "task": {...}, "site": "make.py:4"}
    -> {"ok": true, "uid": "part-1", "status": "deciding"}
    {"attempt": 12, "key": "...", "op": "wait", "uids": ["part-1"], "timeout": null}
    -> {"ok": true, "tasks": [{"uid": "part-1", "status": "succeeded", "error": null}]}
    -> {"ok": false, "error": "one line"}

Only attempts of this run whose command is still running may talk: ``key``
is an HMAC of the attempt id under a secret that never leaves this process
but through the attempt's environment, and the socket file is private
(0600). A created task is an ordinary task of the run, recorded with a link
to the task that created it. While a script waits, its attempt lends its
executor slot (``Executor.release_slot``), so ``-j 1`` cannot deadlock; a
waiting script that dies is noticed (its connection closes) and nothing
waits on it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import select
import socket
import stat
import tempfile
import threading
import time
from concurrent.futures import wait
from typing import Any, Optional

from ..core.engine import Engine
from ..core.runstate import TaskRecord
from ..core.task import Task
from ..errors import ScriptflowError
from ..executors.process_groups import KEY_ENV, SOCKET_ENV
from ..project import Project

log = logging.getLogger("scriptflow.children")

#: AF_UNIX paths longer than this (bytes) cannot be bound on Linux (108 with the final NUL) or macOS (104).
MAX_SOCKET_PATH = 100
#: How often a waiting request checks that its script is still there.
POLL_SECONDS = 0.5
#: The keywords of ``Task`` a created task may be given (``core/remote.py`` sends these).
TASK_KEYS = ("cmd", "outputs", "inputs", "uid", "shell", "quiet", "props", "retry", "executor", "cwd", "env",
             "version", "container", "resources")


class RequestError(Exception):
    """A request refused, with the one line the script sees."""


class TaskLink:
    """The socket server of one run (see the module docstring).

    Started by the first attempt that gets its variables, so a run that runs no local task
    (the no-op) opens no socket, starts no thread and reads no folder for it.
    """

    def __init__(self, engine: Engine, project: Project, run_id: int) -> None:
        self.engine = engine
        self.project = project
        self.run_id = run_id
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._listener: Optional[socket.socket] = None
        self._closed = False
        self.path = ""

    def environment(self, attempt_id: int) -> dict[str, str]:
        """What an attempt's command needs to create tasks (``Attempt.run_link``); empty when the
        socket cannot be created (the script then cannot create tasks; the run goes on)."""
        with self._lock:
            if self._listener is None and not self._closed:
                try:
                    self._listen()
                except OSError as exc:
                    log.warning("tasks cannot create tasks in this run: %s", exc)
                    self._closed = True
            if self._listener is None:
                return {}
        return {SOCKET_ENV: self.path, KEY_ENV: self._key(attempt_id)}

    def _listen(self) -> None:
        self.path = self._socket_path()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.path)
            os.chmod(self.path, 0o600)  # before listen(): no one else ever connects
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="sf-task-link", daemon=True).start()

    def _socket_path(self) -> str:
        """``run-ID.sock`` in this project's private folder under the temporary folder (never in
        the project: a socket file breaks ``cp -r`` and ``shutil.copytree`` of a live project,
        and a deep project's path is too long for a socket). Sockets a dead run left there are
        removed first (the project lock is held: they are all dead)."""
        folder = socket_folder(str(self.project.dir))
        if folder is None:
            folder = tempfile.mkdtemp(prefix="scriptflow-")  # mode 0700
        else:
            for name in os.listdir(folder):
                if name.startswith("run-") and name.endswith(".sock"):
                    try:
                        os.unlink(os.path.join(folder, name))
                    except OSError:
                        pass
        return os.path.join(folder, f"run-{self.run_id}.sock")

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if self._closed:
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), name="sf-task-request", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as rfile:
            answer = self.handle(conn, rfile)
            if answer is not None:  # None: the script went away while it waited
                try:
                    conn.sendall((json.dumps(answer) + "\n").encode())
                except OSError:
                    pass

    def _key(self, attempt_id: int) -> str:
        return hmac.new(self._secret, str(attempt_id).encode(), hashlib.sha256).hexdigest()

    def close(self) -> None:
        """Stop accepting and remove the socket (requests still waiting end with the process)."""
        with self._lock:
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is None:
            return
        try:  # wakes the accepting thread
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as wake:
                wake.connect(self.path)
        except OSError:
            pass
        listener.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            os.rmdir(os.path.dirname(self.path))
        except OSError:
            pass

    # -- one connection ---------------------------------------------------------------------

    def handle(self, conn: socket.socket, rfile: Any) -> Optional[dict[str, Any]]:
        """The answer to the one request on ``conn`` (None: no one is left to answer)."""
        try:
            line = rfile.readline(1 << 24)
            request = json.loads(line)
            if not isinstance(request, dict):
                raise RequestError("a request is a JSON object")
            parent = self._caller(request)
            if request.get("op") == "create":
                return self._create(parent, request)
            if request.get("op") == "wait":
                return self._wait(parent, request, conn)
            raise RequestError(f"unknown request {request.get('op')!r}")
        except (RequestError, ScriptflowError) as exc:
            return {"ok": False, "error": str(exc)}
        except ValueError as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        except Exception as exc:  # noqa: BLE001 - a bug here must not take the run down
            log.exception("task link request failed")
            return {"ok": False, "error": f"internal error: {exc!r}"}

    def _caller(self, request: dict[str, Any]) -> TaskRecord:
        """The task whose running attempt sent ``request``; anyone else is refused."""
        attempt, key = request.get("attempt"), request.get("key")
        if not isinstance(attempt, int) or not isinstance(key, str) \
                or not hmac.compare_digest(key, self._key(attempt)):
            raise RequestError("refused: not a task of this run")
        record = self.engine.running_attempts.get(attempt)
        if record is None:
            raise RequestError(f"refused: attempt {attempt} of this run is not running")
        return record

    def _create(self, parent: TaskRecord, request: dict[str, Any]) -> dict[str, Any]:
        definition = request.get("task")
        if not isinstance(definition, dict):
            raise RequestError("no task given")
        unknown = set(definition) - set(TASK_KEYS)
        if unknown:
            raise RequestError(f"unknown task keyword {sorted(unknown)[0]!r}")
        inputs: list[Any] = []
        for item in definition.get("inputs") or []:
            if isinstance(item, dict) and isinstance(item.get("task"), str):
                found = self.engine.record_of(item["task"])
                if found is None:
                    raise RequestError(f"input task {item['task']} is not a task of this run")
                inputs.append(found.task)
            elif isinstance(item, str):
                inputs.append(item)
            else:
                raise RequestError(f"input {item!r} is neither a path nor a task")
        kwargs = {k: v for k, v in definition.items() if k not in ("inputs", "resources")}
        resources = definition.get("resources") or {}
        if not isinstance(resources, dict):
            raise RequestError("resources must be an object")
        try:
            task = Task(inputs=inputs, **kwargs, **resources)
        except TypeError as exc:
            raise RequestError(f"bad task: {exc}") from None
        site = request.get("site")
        task._created_at = f"{site or 'a line'} in the command of task {parent.spec.uid}"
        task._started = True
        self.engine.submit(task, parent=parent)
        record = task._record
        return {"ok": True, "uid": task.name, "status": record.status if record is not None else "waiting"}

    def _wait(self, parent: TaskRecord, request: dict[str, Any], conn: socket.socket) -> Optional[dict[str, Any]]:
        uids = request.get("uids")
        if not isinstance(uids, list) or not all(isinstance(u, str) for u in uids):
            raise RequestError("uids must be a list of task uids")
        timeout = request.get("timeout")
        records = []
        for uid in uids:
            record = self.engine.record_of(uid)
            if record is None:
                raise RequestError(f"task {uid} is not a task of this run")
            ancestor: Optional[TaskRecord] = parent
            while ancestor is not None:
                if ancestor is record:
                    raise RequestError(f"task {parent.spec.uid} cannot wait for {uid}: it waits for this task")
                ancestor = ancestor.parent
            records.append(record)
        futures = [r.task for r in records]
        attempt = request["attempt"]
        executor = self.engine.executor(parent.spec.executor)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        executor.release_slot(attempt)  # its children may need the slot
        try:
            while True:
                left = POLL_SECONDS if deadline is None else min(POLL_SECONDS, deadline - time.monotonic())
                _, pending = wait(futures, timeout=max(left, 0))
                if not pending or (deadline is not None and time.monotonic() >= deadline):
                    break
                if _closed(conn):
                    return None
        finally:
            executor.reclaim_slot(attempt)
        return {"ok": True, "tasks": [{"uid": r.spec.uid, "status": r.status, "error": r.error} for r in records]}


def socket_folder(project_dir: str) -> Optional[str]:
    """The project's own folder for its run sockets, ``$TMPDIR/scriptflow-UID-HASH`` (mode 0700,
    the same for every run of the project, so the next run finds what a killed one left). None
    when it cannot be had safely (someone else's, not a folder, not private, path too long):
    the caller then takes a fresh private folder."""
    digest = hashlib.sha256(os.fsencode(project_dir)).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) > MAX_SOCKET_PATH - 50:
        base = "/tmp"
    folder = os.path.join(base, f"scriptflow-{uid}-{digest}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or stat.S_IMODE(st.st_mode) & 0o077:
        return None
    return folder


def _closed(conn: socket.socket) -> bool:
    """The script at the other end is gone (it sends nothing else while it waits)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def can_listen() -> bool:
    """Unix sockets exist here (not on Windows: there, scripts cannot create tasks)."""
    return hasattr(socket, "AF_UNIX")
