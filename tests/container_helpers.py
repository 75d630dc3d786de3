"""Real podman for the container tests: is it usable here, tiny images made locally, what is left running.

No registry is reachable on test machines, so images are made from the busybox binary
(``busybox-static``) with ``podman import``; each test makes its own tags (removed after it).
``tests/services/podman_up.sh`` installs podman and works around the test machines' quirk.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

from conftest import need_service

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "cat", "echo", "cp", "ls", "mkdir", "sleep", "id", "pwd", "env", "touch")


def _probe() -> tuple[bool, str]:
    if not shutil.which("podman"):
        return False, "podman is not installed (tests/services/podman_up.sh installs it)"
    if not Path(BUSYBOX).exists():
        return False, f"{BUSYBOX} is missing (apt-get install busybox-static) to build test images"
    proc = subprocess.run(["podman", "info", "--format", "json"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return False, f"`podman info` failed: {proc.stderr.strip()[:200]}"
    return True, ""


_STATE: dict[str, tuple[bool, str]] = {}


def need_podman() -> None:
    """Skip without a working podman (fail where SCRIPTFLOW_REQUIRE_SERVICES names podman)."""
    if "probe" not in _STATE:
        _STATE["probe"] = _probe()
    ok, why = _STATE["probe"]
    need_service("podman", ok, why)


class Images:
    """Images made by one test (``make``), all removed by ``cleanup``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.repo = f"localhost/sftest-{uuid.uuid4().hex[:10]}"
        self.tags: set[str] = set()

    def make(self, tag: str, files: dict[str, str]) -> str:
        """A busybox image holding ``files`` (path in the image -> text) as ``REPO:tag``; its id."""
        root = self.workdir / f"rootfs-{uuid.uuid4().hex[:8]}"
        (root / "bin").mkdir(parents=True)
        (root / "tmp").mkdir()
        shutil.copy(BUSYBOX, root / "bin" / "busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        for path, text in files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        archive = root.with_suffix(".tar")
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        name = self.ref(tag)
        subprocess.run(["podman", "import", "-q", str(archive), name], check=True, capture_output=True, timeout=120)
        self.tags.add(name)
        return self.image_id(name)

    def ref(self, tag: str) -> str:
        return f"{self.repo}:{tag}"

    def tag(self, source: str, tag: str) -> None:
        subprocess.run(["podman", "tag", self.ref(source), self.ref(tag)], check=True, timeout=60)
        self.tags.add(self.ref(tag))

    @staticmethod
    def image_id(name: str) -> str:
        out = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", name], check=True,
                             capture_output=True, text=True, timeout=60).stdout.strip()
        return out if out.startswith("sha256:") else f"sha256:{out}"

    def cleanup(self) -> None:
        for name in containers_of("scriptflow-"):
            subprocess.run(["podman", "rm", "-f", name], capture_output=True, timeout=60)
        if self.tags:
            subprocess.run(["podman", "rmi", "-f", *sorted(self.tags)], capture_output=True, timeout=120)


def containers_of(name_part: str) -> list[str]:
    """Names of every container (running or not) whose name contains ``name_part``."""
    proc = subprocess.run(["podman", "ps", "-a", "--format", "json"], check=True, capture_output=True, text=True,
                          timeout=60)
    found = []
    for entry in json.loads(proc.stdout or "[]"):
        for name in entry.get("Names") or []:
            if name_part in name:
                found.append(name)
    return found
