"""Running an attempt's command inside a container image: a transformation of its argv.

The engine resolves a task's image to an immutable id before the task runs
(``core/images.py``: the id is part of the fingerprint) and puts the result,
a ``Container``, on the ``Attempt``. Any executor then runs ``wrap(attempt)``
instead of the bare command: the local executor as its subprocess, the
cluster executors as the job script's command line, a plug-in however it
starts processes. The image is run by its id, never by its tag, so the
image that ran is the one recorded even if the tag moves meanwhile.

OCI runtimes (podman, docker) run the container under their own daemon or
``conmon``, not as a child of the command that started it: killing that
client leaves the container running. So every container gets a name derived
from the run's token and the attempt id, and a ``scriptflow.run`` label, and
``stop`` (what an interrupt, a timeout or the recovery of a dead run calls)
kills and removes it by that name. Apptainer/Singularity containers are
ordinary child processes and die with the attempt's process group.

This module knows nothing of the ledger (executors never touch it).
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from typing import Iterable, Optional, Sequence, Union

from ..config import CONTAINER_PULL, CONTAINER_RUNTIMES
from .base import OCI_RUNTIMES, Attempt, Container
from .process_groups import attempt_environment

log = logging.getLogger("scriptflow.container")

#: Runtimes scriptflow knows, in the order the default is chosen (the first one installed).
RUNTIMES = CONTAINER_RUNTIMES
#: ``container_pull``: when the image is pulled before the task runs.
PULL_POLICIES = CONTAINER_PULL
#: The label every OCI container of a run carries (value: the run's token).
RUN_LABEL = "scriptflow.run"
#: How long a runtime command that stops or lists containers may take.
RUNTIME_TIMEOUT = 60.0


def runtime_kind(runtime: str) -> str:
    """``/opt/bin/podman`` -> ``podman``: which of ``RUNTIMES`` a configured program is."""
    return os.path.basename(runtime)


def default_runtime() -> Optional[str]:
    """The first of ``RUNTIMES`` installed here (podman first), or None."""
    return next((name for name in RUNTIMES if shutil.which(name)), None)


_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_name(attempt: Attempt) -> str:
    """``scriptflow-<run token>-<attempt id>``: unique per attempt, and findable from the token."""
    token = attempt.run_token or f"run{attempt.run_id}"
    return _NAME_UNSAFE.sub("_", f"scriptflow-{token}-{attempt.attempt_id}")


def user_args(runtime: str) -> list[str]:
    """Arguments that make files written in the container belong to the user running scriptflow.

    Rootless podman maps the user's id into the container (``--userns=keep-id``); docker runs
    the command as ``--user UID:GID``. As root (rootful podman or docker) the container's root
    is the host's root, which is who runs scriptflow: nothing to add.
    """
    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return []
    kind = runtime_kind(runtime)
    if kind == "podman":
        return ["--userns=keep-id"]
    if kind == "docker":
        return ["--user", f"{os.geteuid()}:{os.getegid()}"]
    return []


def _inner_command(command: Union[list[str], str], shell: bool) -> list[str]:
    if shell:
        return ["/bin/sh", "-c", command if isinstance(command, str) else " ".join(command)]
    return [command] if isinstance(command, str) else list(command)


def wrap(attempt: Attempt, container: Optional[Container] = None) -> list[str]:
    """The argv that runs ``attempt``'s command inside its container (``attempt.container``).

    The project folder is mounted at the same path and the task's folder is the working
    directory, so every path in the command means what it means outside. The task's ``env``
    overrides and the run's token (``SCRIPTFLOW_RUN``/``SCRIPTFLOW_ATTEMPT``) are passed in;
    for podman/docker nothing else of the host's environment is (the image is the
    environment), apptainer/singularity pass the host's environment as they always do.
    """
    container = container or attempt.container
    if container is None:
        raise ValueError(f"attempt {attempt.attempt_id} has no container")
    env = dict(attempt.env)
    env.update(attempt_environment(attempt.run_token, attempt.attempt_id))
    cwd = str(attempt.cwd)
    inner = _inner_command(attempt.command, attempt.shell)
    if container.oci:
        argv = [container.runtime, "run", "--rm", "--name", container_name(attempt)]
        if attempt.run_token:
            argv += ["--label", f"{RUN_LABEL}={attempt.run_token}"]
        for mount in container.mounts:
            argv += ["-v", f"{mount}:{mount}"]
        argv += ["-w", cwd]
        for name, value in env.items():
            argv += ["-e", f"{name}={value}"]
        if container.keep_user:
            argv += user_args(container.runtime)
        return argv + list(container.args) + [container.run_ref] + inner
    argv = [container.runtime, "exec"]
    for mount in container.mounts:
        argv += ["--bind", mount]
    argv += ["--pwd", cwd]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    return argv + list(container.args) + [container.run_ref] + inner


def stop_argvs(runtime: str, name: str) -> list[list[str]]:
    """The commands that stop and remove container ``name`` at once (none for apptainer, whose
    processes are the attempt's own children)."""
    if runtime_kind(runtime) not in OCI_RUNTIMES:
        return []
    return [[runtime, "kill", name], [runtime, "rm", "-f", name]]


def _quiet(argv: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=RUNTIME_TIMEOUT, check=False)


def stop(container: Container, name: str) -> None:
    """Kill and remove container ``name`` now (SIGKILL: the grace period, if any, is over).

    What an interrupt, a timeout and a failed client call: killing the runtime's client alone
    leaves an OCI container running. A container that is already gone is fine; errors are
    logged, never raised (stopping runs on paths that must finish).
    """
    for argv in stop_argvs(container.runtime, name):
        try:
            _quiet(argv)
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("cannot stop container %s: %s", name, exc)


def stop_run_containers(tokens: Iterable[str], runtimes: Optional[Iterable[str]] = None) -> list[str]:
    """Kill and remove every container labelled with one of the (dead) runs' ``tokens``, with
    every OCI runtime installed here; return their names. Used when a run that died is
    recovered, so no container of it keeps writing outputs the next run is about to make."""
    stopped: list[str] = []
    tokens = [t for t in tokens if t]
    for runtime in runtimes if runtimes is not None else OCI_RUNTIMES:
        if not tokens or not shutil.which(runtime):
            continue
        for token in tokens:
            try:
                found = _quiet([runtime, "ps", "-a", "--filter", f"label={RUN_LABEL}={token}",
                                "--format", "{{.Names}}"])
            except (OSError, subprocess.SubprocessError) as exc:
                log.warning("cannot list the containers of run %s with %s: %s", token, runtime, exc)
                continue
            if found.returncode != 0:
                continue
            for name in found.stdout.split():
                for argv in stop_argvs(runtime, name):
                    try:
                        _quiet(argv)
                    except (OSError, subprocess.SubprocessError) as exc:
                        log.warning("cannot stop container %s: %s", name, exc)
                stopped.append(name)
    return stopped


class RunningContainers:
    """The containers an executor has in flight (attempt id -> (container, name)), so that an
    interrupt or a timeout can stop them by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, tuple[Container, str]] = {}

    def add(self, attempt: Attempt) -> None:
        if attempt.container is not None and attempt.container.oci:
            with self._lock:
                self._running[attempt.attempt_id] = (attempt.container, container_name(attempt))

    def discard(self, attempt_id: int) -> None:
        with self._lock:
            self._running.pop(attempt_id, None)

    def stop(self, attempt_id: int) -> None:
        """Stop one attempt's container (a timeout, or its client ended abnormally)."""
        with self._lock:
            entry = self._running.get(attempt_id)
        if entry is not None:
            stop(*entry)

    def stop_all(self) -> None:
        with self._lock:
            entries = list(self._running.values())
        for entry in entries:
            stop(*entry)
