"""Which image a task runs in, resolved to an immutable id before the task is decided.

A task's image comes from ``Task(container=...)``, else its executor's
``container`` setting, else the top-level ``container`` key; the runtime,
its extra arguments and the pull policy from the executor's settings, else
the top level. The engine resolves the image once per run (``ImageResolver``)
in its decide step, not in the executor, because the image's id is part of
the task's fingerprint: a rebuilt image under the same tag reruns the task,
the same image under another tag does not. Attempts then run the image by
that id (``executors/container.py``), so the image that ran is the one the
ledger records even if the tag moves meanwhile.

Resolving may pull (``container_pull``: ``missing``, the default, pulls an
image that is not present; ``always`` pulls before the first task of a run
that uses it; ``never`` never does). Anything that keeps the image from
being known (no runtime, a runtime that fails, a bad reference, an image
that is not there) is an ``ImageUnavailable`` with one line naming the
image: the task fails without running, with that reason.

``subprocess``, ``shutil`` and ``executors/container.py`` are imported only
when a task asks for a container: every task's submission passes here
(``with_request``), but a run without containers never needs them.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any, Callable, Mapping, Optional

from ..config import container_args_list
from ..executors.base import Container
from ..project import Project
from .spec import ContainerRequest, TaskSpec

#: ``tasks.reason`` of a task whose image could not be resolved.
UNAVAILABLE_REASON = "container-unavailable"
#: How long asking the runtime about an image may take (pulling has no limit).
INSPECT_TIMEOUT = 120.0
#: Image references apptainer/singularity would fetch over the network.
REMOTE_SCHEMES = ("docker://", "docker-archive:", "library://", "oras://", "shub://", "http://", "https://")


class ImageUnavailable(Exception):
    """The task's image cannot be run; the message is one line naming the image. ``status`` is
    what the task becomes: ``failed``, or ``would-run`` in a dry run that would pull it."""

    def __init__(self, message: str, status: str = "failed") -> None:
        super().__init__(message)
        self.status = status


def container_request(task_container: Any, executor_settings: Any,
                      config: Mapping[str, Any]) -> Optional[ContainerRequest]:
    """The container a task asks for (None: it runs as is). ``Task(container=False)`` opts a
    task out of a configured default; settings left None fall back to the top level."""
    if task_container is False:
        return None

    def pick(key: str) -> Any:
        value = getattr(executor_settings, key, None)
        return value if value is not None else config.get(key)

    image = task_container if task_container else pick("container")
    if not image:
        return None
    args = pick("container_args")
    return ContainerRequest(image=str(image).strip(), runtime=pick("container_runtime"),
                            args=tuple(container_args_list(args)) if args else (),
                            pull=pick("container_pull") or "missing")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


class ImageResolver:
    """Resolves images once per run (a lock per image, so tasks sharing one pull it once).

    ``hash_file`` hashes an apptainer image file (the run's ``FileHasher``, with its stat
    cache); ``pull`` False never pulls (``--dry-run``: an image that would be pulled is
    reported, not fetched).
    """

    def __init__(self, project: Project, hash_file: Callable[[str], Any], pull: bool = True) -> None:
        self.project = project
        self._hash_file = hash_file
        self._pull = pull
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str, str, str], threading.Lock] = {}
        self._done: dict[tuple[str, str, str, str], "Container | ImageUnavailable"] = {}

    def resolve(self, request: ContainerRequest, cwd: str, local: bool) -> Container:
        """The container for a task asking for ``request`` in folder ``cwd`` (``local``: its
        executor runs here, so the runtime must be installed here), or ``ImageUnavailable``."""
        from ..executors.container import default_runtime, runtime_kind

        runtime = request.runtime or default_runtime()
        if runtime is None:
            raise ImageUnavailable(f"container image {request.image}: no container runtime is installed "
                                   "(looked for podman, docker, apptainer, singularity)")
        kind = runtime_kind(runtime)
        image = request.image
        if kind not in ("podman", "docker") and "://" not in image and not image.startswith("docker-archive:"):
            image = os.path.normpath(os.path.join(cwd, os.path.expanduser(image)))
        key = (runtime, image, request.pull, "local" if local else "remote")
        with self._lock:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            found = self._done.get(key)
            if found is None:
                try:
                    found = self._resolve(runtime, image, request, local)
                except ImageUnavailable as exc:
                    found = exc
                self._done[key] = found
        if isinstance(found, ImageUnavailable):
            raise found
        mounts = [str(self.project.dir)]
        if os.path.relpath(cwd, self.project.dir).startswith(".."):
            mounts.append(cwd)
        return Container(runtime=found.runtime, image=request.image, image_id=found.image_id,
                         run_ref=found.run_ref, args=request.args, mounts=tuple(mounts))

    def _resolve(self, runtime: str, image: str, request: ContainerRequest, local: bool) -> Container:
        from ..executors.container import runtime_kind

        if runtime_kind(runtime) in ("podman", "docker"):
            return self._resolve_oci(runtime, image, request.pull)
        return self._resolve_file(runtime, image, local)

    def _resolve_file(self, runtime: str, path: str, local: bool) -> Container:
        """Apptainer/Singularity: a local image file (or sandbox folder), identified by its sha256."""
        import shutil

        from ..executors.container import runtime_kind

        if path.startswith(REMOTE_SCHEMES):
            raise ImageUnavailable(
                f"container image {path}: {runtime_kind(runtime)} images must be local files here; "
                f"pull it once ({runtime_kind(runtime)} pull image.sif {path}) and name the file")
        if local and not shutil.which(runtime):
            raise ImageUnavailable(f"container image {path}: container runtime {runtime} is not installed")
        hashed = self._hash_file(path)
        if hashed is None:
            raise ImageUnavailable(f"container image {self.project.relative(path)}: no such image file")
        digest = hashed.sha256
        return Container(runtime=runtime, image=path, run_ref=path,
                         image_id=digest if digest.startswith("dir:") else f"sha256:{digest}")

    def _resolve_oci(self, runtime: str, image: str, pull: str) -> Container:
        """Podman/docker: the image id (``sha256:...``, the digest of its configuration, which
        covers every layer) of the local image, pulling it first as ``pull`` says."""
        import shutil

        if not shutil.which(runtime):
            raise ImageUnavailable(f"container image {image}: container runtime {runtime} is not installed")
        if pull == "always" and self._pull:
            self._run_pull(runtime, image)
        found, message = self._inspect(runtime, image)
        if found is None and pull == "missing" and self._pull and _not_found(message):  # not a broken runtime
            self._run_pull(runtime, image)
            found, message = self._inspect(runtime, image)
        if found is None:
            if _bad_reference(message):
                raise ImageUnavailable(f"container image {image!r}: not a valid image reference ({message})")
            if not _not_found(message):
                raise ImageUnavailable(f"container image {image}: {runtime} failed: {message}")
            if not self._pull and pull != "never":
                raise ImageUnavailable(f"container image {image}: not present here (a run would pull it)",
                                       status="would-run")
            raise ImageUnavailable(f"container image {image}: not present here and container_pull is 'never' "
                                   f"({runtime} pull {image}, or set container_pull)")
        image_id = found if found.startswith("sha256:") else f"sha256:{found}"
        return Container(runtime=runtime, image=image, image_id=image_id, run_ref=image_id)

    @staticmethod
    def _inspect(runtime: str, image: str) -> tuple[Optional[str], str]:
        """(the image id, "") or (None, the runtime's last line of error)."""
        import subprocess

        try:
            proc = subprocess.run([runtime, "image", "inspect", "--format", "{{.Id}}", image],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=INSPECT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ImageUnavailable(f"container image {image}: {runtime} did not answer within "
                                   f"{INSPECT_TIMEOUT:g} s") from None
        except OSError as exc:
            raise ImageUnavailable(f"container image {image}: cannot start {runtime}: "
                                   f"{exc.strerror or exc}") from None
        out = proc.stdout.strip().splitlines()
        if proc.returncode == 0 and out and out[0].strip():
            return out[0].strip(), ""
        return None, _last_line(proc.stderr or proc.stdout)

    @staticmethod
    def _run_pull(runtime: str, image: str) -> None:
        import subprocess

        try:
            proc = subprocess.run([runtime, "pull", "-q", image], stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, check=False)
        except OSError as exc:
            raise ImageUnavailable(f"container image {image}: cannot start {runtime}: "
                                   f"{exc.strerror or exc}") from None
        if proc.returncode != 0:
            message = _last_line(proc.stderr or proc.stdout)
            if _bad_reference(message):
                raise ImageUnavailable(f"container image {image!r}: not a valid image reference ({message})")
            raise ImageUnavailable(f"container image {image}: cannot pull it: {message}")


def _bad_reference(message: str) -> bool:
    text = message.lower()
    return "invalid reference format" in text or "repository name must" in text or "invalid image name" in text


def _not_found(message: str) -> bool:
    text = message.lower()
    return "image not known" in text or "no such image" in text or "no such object" in text


def with_request(spec: TaskSpec, task_container: Any, executor_settings: Any,
                 config: Mapping[str, Any]) -> TaskSpec:
    """``spec`` with the container its task asks for (at submission: the executor is known)."""
    request = container_request(task_container, executor_settings, config)
    return spec if request is None else dataclasses.replace(spec, container_request=request)


def resolve_spec(spec: TaskSpec, resolver: ImageResolver,
                 record: Callable[[Container], None] = lambda container: None) -> TaskSpec:
    """``spec`` with its image resolved (unchanged without one), handed to ``record`` (the
    ledger's ``tasks.container_*``), or ``ImageUnavailable``."""
    if spec.container_request is None:
        return spec
    container = resolver.resolve(spec.container_request, spec.cwd, local=spec.executor == "local")
    record(container)
    return dataclasses.replace(spec, container=container)
