"""Tasks inside a container image, with the real podman: what runs, what the ledger records, what skips.

Images are tiny busybox images made locally (``container_helpers``); the tests skip without
podman, and fail where ``SCRIPTFLOW_REQUIRE_SERVICES`` names it (CI).
"""
from __future__ import annotations

import json
import os
import signal

import pytest

from conftest import kill_leftovers, wait_until
from container_helpers import Images, containers_of, need_podman


@pytest.fixture
def images(tmp_path_factory):
    need_podman()
    made = Images(tmp_path_factory.mktemp("images"))
    yield made
    made.cleanup()


def run_token(project) -> str:
    rows = project.query("SELECT detail FROM events WHERE kind = 'started' ORDER BY id DESC LIMIT 1")
    return json.loads(rows[0]["detail"])["token"]


def reads_the_image(image: str, **extra: str) -> str:
    args = "".join(f", {k}={v!r}" for k, v in extra.items())
    return f"""
def flow_build():
    sf.Task(["sh", "-c", "cat /data/only-in-image.txt > sub/out.txt; pwd >> sub/out.txt; id -u >> sub/out.txt"],
            outputs="sub/out.txt", name="inside", container={image!r}{args}).result()
"""


def test_task_runs_inside_the_image_with_the_project_mounted(project, images) -> None:
    image_id = images.make("v1", {"/data/only-in-image.txt": "from the image\n"})
    (project.path / "sub").mkdir()
    project.flow(reads_the_image(images.ref("v1")))

    project.run("run", "build", check=True)
    lines = project.read("sub/out.txt").splitlines()
    assert lines[0] == "from the image"          # a file only the image has
    assert lines[1] == str(project.path)          # the project is mounted at the same path, cwd as the task's
    assert lines[2] == str(os.geteuid())          # the output belongs to whoever runs scriptflow
    assert (project.path / "sub" / "out.txt").stat().st_uid == os.geteuid()
    task = project.tasks()["inside"]
    assert (task["container_image"], task["container_image_id"], task["container_runtime"]) == (
        images.ref("v1"), image_id, "podman")
    assert containers_of(run_token(project)) == []  # --rm: nothing left behind

    report = project.run("report", "sub/out.txt", "--json", check=True)
    node = json.loads(report.stdout)["tasks"][0]
    assert node["container_image_id"] == image_id and node["container_runtime"] == "podman"
    assert image_id[:19] in project.run("report", "sub/out.txt", check=True).stdout
    assert image_id in project.run("why", "sub/out.txt", check=True).stdout


def test_rebuilt_image_reruns_and_retagged_identical_image_does_not(project, images) -> None:
    first = images.make("v1", {"/data/only-in-image.txt": "first build\n"})
    (project.path / "sub").mkdir()
    project.flow(reads_the_image(images.ref("v1")))
    project.run("run", "build", check=True)

    project.run("run", "build", check=True)
    assert project.statuses() == {"inside": "cached"}

    images.tag("v1", "other-name")  # the same image under another tag: same id, nothing to redo
    project.flow(reads_the_image(images.ref("other-name")))
    project.run("run", "build", check=True)
    assert project.statuses() == {"inside": "cached"}
    assert project.tasks()["inside"]["container_image"] == images.ref("other-name")

    second = images.make("other-name", {"/data/only-in-image.txt": "second build\n"})  # rebuilt, same tag
    assert second != first
    project.run("run", "build", check=True)
    task = project.tasks()["inside"]
    assert (task["status"], task["reason"], task["container_image_id"]) == ("succeeded", "container-changed", second)
    assert project.read("sub/out.txt").startswith("second build")
    why = project.run("why", "inside", check=True).stdout
    assert "container image changed" in why and first[:19] in why and second[:19] in why


def test_missing_image_fails_the_task_without_running_it(project, images) -> None:
    (project.path / "sub").mkdir()
    missing = images.ref("never-built")
    project.flow(reads_the_image(missing) + "sf.init({'container_pull': 'never'})\n")

    proc = project.run("run", "build", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    task = project.tasks()["inside"]
    assert (task["status"], task["reason"]) == ("failed", "container-unavailable")
    message = f"container image {missing}: not present here and container_pull is 'never'"
    assert message in proc.stdout + proc.stderr and "inside" in proc.stdout + proc.stderr
    assert project.query("SELECT count(*) FROM attempts")[0][0] == 0  # nothing ran
    assert message in project.run("why", "inside", check=True).stdout


def test_image_missing_everywhere_is_pulled_only_as_configured(project, images) -> None:
    """The default (``missing``) tries to pull; no registry answers here, so the pull fails
    with the runtime's own reason, on one line."""
    (project.path / "sub").mkdir()
    missing = images.ref("nowhere")
    project.flow(reads_the_image(missing))
    dry = project.run("run", "build", "--dry-run", check=True)  # a dry run never pulls
    assert "would run" in dry.stdout and "container-unavailable" in dry.stdout
    proc = project.run("run", "build", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    detail = json.loads(project.tasks()["inside"]["reason_detail"])
    assert detail["error"].startswith(f"container image {missing}: cannot pull it: ")
    assert "\n" not in detail["error"]


def test_bad_image_reference_and_missing_runtime_are_one_line(project, images) -> None:
    (project.path / "sub").mkdir()
    project.flow(reads_the_image("Not A Reference"))
    proc = project.run("run", "build", check=False)
    assert "container image 'Not A Reference': not a valid image reference" in proc.stdout + proc.stderr
    assert project.tasks()["inside"]["reason"] == "container-unavailable"

    project.flow(reads_the_image(images.ref("v1")) + "sf.init({'container_runtime': 'docker'})\n")
    env = {"PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                   if not os.path.exists(os.path.join(p, "docker")))}
    proc = project.run("run", "build", check=False, env=env)
    assert "container runtime docker is not installed" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_default_container_and_opting_out(project, images) -> None:
    images.make("v1", {"/data/only-in-image.txt": "configured\n"})
    project.write("scriptflow.toml", f"""
        [executors.local]
        container = "{images.ref('v1')}"
        container_args = "--network none"
    """)
    project.flow("""
        def flow_both():
            a = sf.Task("cat /data/only-in-image.txt > a.txt; echo $GREETING >> a.txt", outputs="a.txt", name="a",
                        env={"GREETING": "hello there"})
            b = sf.Task(["sh", "-c", "test -e /data/only-in-image.txt || echo host > b.txt"], outputs="b.txt",
                        name="b", container=False)
            sf.bag(a, b)
    """)
    project.run("run", "both", check=True)
    assert project.read("a.txt") == "configured\nhello there\n" and project.read("b.txt") == "host\n"
    tasks = project.tasks()
    assert tasks["a"]["container_image"] == images.ref("v1") and tasks["b"]["container_image"] is None


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_interrupt_or_kill_9_leaves_no_container_running(project, images, signal_name) -> None:
    """Ctrl-C stops the container (not only podman's client); after kill -9 of scriptflow, the next
    run stops the dead run's container before deciding anything. The command drops its
    environment (``env -i``), so its process cannot be found by the run's token: only
    stopping the container by its name or label ends it."""
    images.make("v1", {})
    project.flow(f"""
        sf.init({{"interrupt_grace": 1}})
        def flow_slow():
            sf.Task(["env", "-i", "sh", "-c", "echo up > started; sleep 300; echo done > out.txt"], outputs="out.txt",
                    name="slow", container={images.ref('v1')!r}).result()
        def flow_noop():
            pass
    """)
    proc = project.popen("run", "slow")
    try:
        wait_until(lambda: project.exists("started"), "the task to start inside its container", timeout=120)
        token = run_token(project)
        assert len(containers_of(token)) == 1
        proc.send_signal(getattr(signal, signal_name))
        proc.wait(timeout=120)
        if signal_name == "SIGKILL":
            project.run("run", "noop", check=True)
            assert project.query("SELECT status FROM runs WHERE id = 1")[0][0] == "lost"
        else:
            assert proc.returncode == 130
            assert project.statuses(1) == {"slow": "interrupted"}
        assert containers_of(token) == []
        assert not project.exists("out.txt")
    finally:
        kill_leftovers([proc.pid])


def test_timeout_stops_the_container(project, images) -> None:
    """``timeout=`` on a task in a container: at the limit the container itself is stopped (not only
    podman's client), the attempt is ``timed-out``, and no container of the run is left."""
    images.make("v1", {})
    project.flow(f"""
        def flow_slow():
            sf.Task(["env", "-i", "sh", "-c", "echo up > started; sleep 300; echo done > out.txt"], outputs="out.txt",
                    name="slow", timeout=3, container={images.ref('v1')!r}).result()
    """)
    proc = project.run("run", "slow", check=False, timeout=240)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    token = run_token(project)
    attempts = project.query("SELECT status FROM attempts")
    assert [a["status"] for a in attempts] == ["timed-out"]
    wait_until(lambda: containers_of(token) == [], "the timed-out task's container to be gone", timeout=60)
    assert project.exists("started") and not project.exists("out.txt")


def test_runtime_that_cannot_start_fails_the_task_in_one_line(project, tmp_path_factory) -> None:
    """A broken runtime (its storage unreadable, its daemon down) cannot be produced on demand with
    the real podman: a stand-in ``podman`` first on PATH fails the way podman does (exit 125 and
    an ``Error:`` line). Fault injection only; no podman is needed."""
    bin_dir = tmp_path_factory.mktemp("broken-bin")
    fake = bin_dir / "podman"
    fake.write_text("#!/bin/sh\necho 'Error: could not get runtime: database is locked' >&2\nexit 125\n")
    fake.chmod(0o755)
    project.flow(reads_the_image("localhost/anything:1"))
    (project.path / "sub").mkdir()
    proc = project.run("run", "build", check=False, env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    line = ("inside: container image localhost/anything:1: podman failed: "
            "Error: could not get runtime: database is locked")
    assert line in proc.stdout + proc.stderr
    assert project.tasks()["inside"]["reason"] == "container-unavailable"
    assert project.query("SELECT count(*) FROM attempts")[0][0] == 0


def test_a_watched_task_in_a_container_calls_back_while_it_runs(project, images) -> None:
    """t.watch on a task inside a container: its stdout reaches the attempt's log file, followed while
    it runs (the command waits for a file only the callback makes)."""
    images.make("v1", {})
    script = "echo loss=0.9; while [ ! -e go ]; do sleep 0.1; done; echo loss=0.1"
    project.flow(f"""
        seen = []
        def on_loss(event):
            seen.append(event.groups[0])
            open("go", "w").close()
        def flow_main():
            sf.Task(["sh", "-c", {script!r}], name="boxed", container={images.ref('v1')!r},
                    watch={{r"loss=(\\S+)": on_loss}}).result()
            open("seen.txt", "w").write(",".join(seen))
    """)
    project.run("run", "main", check=True, timeout=240)
    assert project.read("seen.txt") == "0.9,0.1"
    rows = project.query("SELECT detail FROM events WHERE kind = 'watch' ORDER BY id")
    assert [json.loads(r["detail"])["groups"] for r in rows] == [["0.9"], ["0.1"]]
