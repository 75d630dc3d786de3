"""Containers in cluster job scripts: a live SLURM job through podman, a job script's own stop path,
and an apptainer job script.

SLURM is the one tests/services/slurm_up.sh starts; podman the one podman_up.sh installs.
Apptainer/Singularity is not packaged for this machine's Debian, so its test checks the script
and the image's identity only, without running it.
"""
from __future__ import annotations

import hashlib
import json
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import wait_until
from container_helpers import Images, containers_of, need_podman
from hpc_helpers import attempts, finish, need_scheduler, tag, write_flow
from scriptflow.core.images import ImageResolver, container_request
from scriptflow.core.fingerprint import FileHasher
from scriptflow.executors.base import Attempt, Container
from scriptflow.executors.cluster.jobscript import read_exit_file, render_job_script
from scriptflow.project import Project


@pytest.fixture
def images(tmp_path_factory):
    need_podman()
    made = Images(tmp_path_factory.mktemp("images"))
    yield made
    made.cleanup()


@pytest.mark.slurm
def test_slurm_job_runs_its_task_through_podman(project, images) -> None:
    need_scheduler("slurm")
    image_id = images.make("v1", {"/data/only-in-image.txt": "from the image\n"})
    t = tag()
    write_flow(project, "slurm", f"""
        def flow_job():
            sf.Task(["sh", "-c", "cat /data/only-in-image.txt > out.txt"], outputs="out.txt", name="{t}-in",
                    executor=EX).result()
    """, settings={"container": images.ref("v1")})
    project.run("run", "job", "--classic", check=True, timeout=300)
    assert project.read("out.txt") == "from the image\n"
    row = attempts(project)[0]
    assert row["job_id"] and row["executor"] == "slurm"
    script = project.path / row["job_script"]
    assert "podman run --rm --name scriptflow-" in script.read_text() and image_id in script.read_text()
    assert project.tasks()[f"{t}-in"]["container_image_id"] == image_id


@pytest.mark.slurm
def test_cancelled_slurm_job_stops_its_container(project, images) -> None:
    """Ctrl-C cancels the job (scancel); the job script's trap kills the container, which is no
    process of the job and would otherwise keep running."""
    need_scheduler("slurm")
    images.make("v1", {})
    t = tag()
    write_flow(project, "slurm", f"""
        def flow_long():
            sf.Task(["env", "-i", "sh", "-c", "echo up > started; sleep 300; echo x > out.txt"], outputs="out.txt",
                    name="{t}-long", executor=EX).result()
    """, settings={"container": images.ref("v1")})
    proc = project.popen("run", "long", "--classic")
    try:
        wait_until(lambda: project.exists("started"), "the job's container to start", 180, 0.1)
        token = json.loads(project.query("SELECT detail FROM events WHERE kind = 'started'")[0][0])["token"]
        assert len(containers_of(token)) == 1
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc, 120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, out + err
    wait_until(lambda: containers_of(token) == [], "the cancelled job's container to be gone", 60, 0.2)
    assert not project.exists("out.txt")


def _attempt(tmp_path: Path, container: Container, command: list[str]) -> Attempt:
    return Attempt(run_id=1, attempt_id=5, task_uid="t", number=1, command=command, shell=False, cwd=tmp_path,
                   env={"GREETING": "a b"}, stdout_path=tmp_path / "o", stderr_path=tmp_path / "e",
                   run_token="1-feedc0de", container=container)


def test_job_script_stops_its_container_on_sigterm(tmp_path, images) -> None:
    """What a scheduler does when it cancels a job (SIGTERM to the script), without a scheduler:
    the script is run by bash itself."""
    image_id = images.make("v1", {})
    container = Container("podman", images.ref("v1"), image_id, image_id, mounts=(str(tmp_path),))
    attempt = _attempt(tmp_path, container, ["sh", "-c", 'echo "$GREETING" > started; sleep 300'])
    exit_file = tmp_path / "job.exit"
    script = tmp_path / "job.sh"
    script.write_text(render_job_script(attempt, shell="/bin/bash", directive_prefix="#SBATCH", directives=[],
                                        exit_path=exit_file, modules=[], setup=[]))
    job = subprocess.Popen(["bash", str(script)], stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: (tmp_path / "started").exists(), "the container to start", 120, 0.05)
        assert (tmp_path / "started").read_text() == "a b\n"
        assert containers_of("scriptflow-1-feedc0de-5") == ["scriptflow-1-feedc0de-5"]
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=120) == 143
    finally:
        if job.poll() is None:
            job.kill()
    assert containers_of("scriptflow-1-feedc0de-5") == []
    info = read_exit_file(exit_file)
    assert info is not None and info["exit_code"] == "143" and "container stopped" in info["error"]


def test_apptainer_job_script_and_image_identity(tmp_path) -> None:
    """Apptainer is not packaged here: the script is checked, not run. The image is a file, its id
    the sha256 of its bytes (no runtime is needed to know it, so a login node without apptainer
    can still submit)."""
    project = Project(tmp_path)
    sif = tmp_path / "images" / "env.sif"
    sif.parent.mkdir()
    sif.write_bytes(b"not really a SIF image, but bytes to hash")
    request = container_request("images/env.sif", None, {"container_runtime": "apptainer",
                                                          "container_args": "--nv --cleanenv"})
    assert request is not None
    resolver = ImageResolver(project, FileHasher().hash)
    container = resolver.resolve(request, str(tmp_path), local=False)
    assert container.image_id == "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()
    assert (container.run_ref, container.args, container.mounts) == (str(sif), ("--nv", "--cleanenv"),
                                                                     (str(tmp_path),))
    attempt = _attempt(tmp_path, container, ["Rscript", "fit.R", "it's"])
    text = render_job_script(attempt, shell="/bin/bash", directive_prefix="#SBATCH", directives=[],
                             exit_path=tmp_path / "job.exit", modules=["apptainer"], setup=[])
    assert (f"apptainer exec --bind {tmp_path} --pwd {tmp_path} --env 'GREETING=a b' "
            f"--env SCRIPTFLOW_RUN=1-feedc0de --env SCRIPTFLOW_ATTEMPT=5 --nv --cleanenv {sif} "
            "Rscript fit.R 'it'\"'\"'s' </dev/null") in text
    assert "trap" not in text  # its processes are the job's own: the scheduler stops them
    assert text.index("module load apptainer") < text.index("apptainer exec")
    with pytest.raises(Exception, match="images must be local files here"):
        resolver.resolve(container_request("docker://r-base:4.3", None, {"container_runtime": "apptainer"}),
                         str(tmp_path), local=False)


@pytest.mark.parametrize("config, message", [
    ({"container_pull": "sometimes"},
     "sf.init: 'container_pull' must be one of always, missing, never, got 'sometimes'"),
    ({"container_runtime": "rkt"},
     "sf.init: 'container_runtime' must be one of podman, docker, apptainer, singularity, got 'rkt'"),
    ({"container": ""}, "sf.init: 'container' must be an image name (a non-empty string), got ''"),
    ({"executors": {"local": {"container_pull": "sometimes"}}},
     "executors.local.container_pull must be one of 'always', 'missing', 'never', got 'sometimes'"),
    ({"executors": {"local": {"container_args": 3}}},
     "executors.local.container_args: container_args must be a string or a list of strings, got 3"),
])
def test_bad_container_settings_are_one_line_before_anything_runs(project, config, message) -> None:
    project.flow(f"""
        sf.init({config!r})
        def flow_x():
            sf.Task(["sh", "-c", "echo x > x.txt"], outputs="x.txt", name="x").result()
    """)
    proc = project.run("run", "x", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert message in proc.stderr
    assert not project.exists("x.txt")


def test_bad_container_argument_of_a_task_is_one_line(project) -> None:
    project.flow("""
        def flow_x():
            sf.Task(["true"], outputs="x.txt", name="x", container=42).result()
    """)
    proc = project.run("run", "x", check=False)
    assert "container must be an image name (a non-empty string) or False, got 42" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.returncode != 0
