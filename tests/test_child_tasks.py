"""Tasks that create tasks: a script running as a task starts sf.Task in the run that started it.

Real runs of the installed command; the scripts are real Python processes talking to the
run over its Unix socket.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PY, Project, wait_until

FLOW = f"""
def flow_main():
    sf.Task([{PY!r}, "make.py"], inputs="make.py", outputs="all.txt", name="parent").result()
"""

#: The parent's script: three tasks, started, then waited for together.
MAKE = """
import scriptflow as sf

parts = [sf.Task(["{py}", "-c", f"open('part{{i}}.txt', 'w').write('{{i}}')"], outputs=f"part{{i}}.txt",
                 name=f"part-{{i}}") for i in range(3)]
for t in parts:
    t.start()
sf.bag(parts)
with open("all.txt", "w") as f:
    f.write("".join(open(f"part{{i}}.txt").read() for i in range(3)))
print("statuses", [t.status for t in parts])
"""


def write_project(project: Project) -> None:
    project.flow(FLOW)
    project.write("make.py", MAKE.format(py=PY))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_script_creates_three_tasks_and_waits_for_them(project: Project, jobs: str) -> None:
    """At -j 1 the waiting parent lends its slot: otherwise its children could never start."""
    write_project(project)
    project.run("run", "main", "-j", jobs, check=True, timeout=120)
    assert project.read("all.txt") == "012"
    tasks = project.tasks()
    assert {uid: r["status"] for uid, r in tasks.items()} == {
        "parent": "succeeded", "part-0": "succeeded", "part-1": "succeeded", "part-2": "succeeded"}
    parent_id = tasks["parent"]["id"]
    assert tasks["parent"]["parent_task_id"] is None
    assert [tasks[f"part-{i}"]["parent_task_id"] for i in range(3)] == [parent_id] * 3
    log = project.read(f".scriptflow/logs/{tasks['parent']['run_id']}/parent.1.out")
    assert "statuses ['succeeded', 'succeeded', 'succeeded']" in log

    show = project.run("show", "1", check=True).stdout
    assert "created by" in show
    assert [line.split()[-2] for line in show.splitlines() if line.startswith("part-")] == ["parent"] * 3
    shown = json.loads(project.run("show", "1", "--json", check=True).stdout)
    assert {t["uid"]: t["created_by"] for t in shown["tasks"]} == {
        "parent": None, "part-0": "parent", "part-1": "parent", "part-2": "parent"}
    report = project.run("report", "part1.txt", check=True).stdout
    assert "created by task parent" in report
    assert json.loads(project.run("report", "part1.txt", "--json", check=True).stdout)["tasks"][0][
        "created_by"] == "parent"
    assert "created by task parent" in project.run("why", "part-2", check=True).stdout

    # Second run: the parent is up to date, so its script does not run and creates nothing.
    project.run("run", "main", "-j", jobs, check=True, timeout=120)
    assert project.statuses() == {"parent": "cached"}
    # The script changes: the parent reruns, and its children are decided as any task is.
    project.write("make.py", MAKE.format(py=PY) + "# edited\n")
    project.run("run", "main", "-j", jobs, check=True, timeout=120)
    assert project.statuses() == {"parent": "succeeded", "part-0": "cached", "part-1": "cached",
                                  "part-2": "cached"}
    assert not list(project.path.rglob("*.sock")), "no socket in the project"


def test_a_failing_child_is_an_exception_in_the_script(project: Project) -> None:
    project.flow(FLOW)
    project.write("make.py", f"""
        import scriptflow as sf
        ok = sf.Task(["{PY}", "-c", "open('ok.txt', 'w').write('ok')"], outputs="ok.txt", name="ok")
        bad = sf.Task(["{PY}", "-c", "raise SystemExit(3)"], outputs="never.txt", name="bad", inputs=[ok])
        try:
            bad.result()
        except sf.TaskFailed as exc:
            message = str(exc)
        open("all.txt", "w").write(message)
        """)
    proc = project.run("run", "main", "-j", "1", check=False, timeout=120)
    assert proc.returncode == 1
    assert project.read("all.txt") == "task bad failed: exit code 3"
    assert project.statuses() == {"parent": "succeeded", "ok": "succeeded", "bad": "failed"}
    tasks = project.tasks()
    assert tasks["bad"]["parent_task_id"] == tasks["ok"]["parent_task_id"] == tasks["parent"]["id"]
    # the task input became a dependency: bad's input rows hold ok's output
    assert [r["path"] for r in project.query("SELECT path FROM files WHERE task_id = ? AND role = 'input'",
                                             (tasks["bad"]["id"],))] == ["ok.txt"]


def test_a_clash_with_a_task_of_the_flow_is_the_duplicate_uid_error(project: Project) -> None:
    project.flow(f"""
        def flow_main():
            sf.Task([{PY!r}, "-c", "open('a.txt', 'w').write('a')"], outputs="a.txt", name="a").result()
            sf.Task([{PY!r}, "make.py"], outputs="all.txt", name="parent").result()
        """)
    project.write("make.py", f"""
        import scriptflow as sf
        try:
            sf.Task(["{PY}", "-c", "pass"], outputs="b.txt", name="a").result()
        except Exception as exc:
            open("all.txt", "w").write(f"{{type(exc).__name__}}: {{exc}}")
        """)
    project.run("run", "main", check=True, timeout=120)
    text = project.read("all.txt")
    assert text.startswith("TaskDefinitionError: two different tasks are named 'a'"), text
    assert "in the command of task parent" in text and "\n" not in text


def test_outside_a_run_starting_a_task_is_one_clear_error(project: Project) -> None:
    write_project(project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTFLOW_")}
    proc = subprocess.run([sys.executable, "make.py"], cwd=project.path, capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last == ("scriptflow.errors.ScriptflowError: task part-0 started outside a run: "
                    "start flows with `scriptflow run FLOW`"), proc.stderr
    # a run that is gone (its socket refuses)
    env.update(SCRIPTFLOW_SOCKET=str(project.path / "gone.sock"), SCRIPTFLOW_KEY="x", SCRIPTFLOW_ATTEMPT="1")
    proc = subprocess.run([sys.executable, "make.py"], cwd=project.path, capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode != 0
    assert "the run that started this task is gone" in proc.stderr.strip().splitlines()[-1], proc.stderr


def test_only_running_attempts_of_the_run_may_talk(project: Project) -> None:
    """The parent's script sends raw requests: a wrong key, another attempt's id, garbage."""
    project.flow(FLOW)
    project.write("make.py", """
        import json, os, socket, stat
        path = os.environ["SCRIPTFLOW_SOCKET"]

        def ask(request):
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                s.sendall((request if isinstance(request, str) else json.dumps(request)) .encode() + b"\\n")
                return json.loads(s.makefile().readline())

        task = {"cmd": ["true"], "uid": "intruder"}
        me = int(os.environ["SCRIPTFLOW_ATTEMPT"])
        answers = [
            ask({"op": "create", "attempt": me, "key": "0" * 64, "task": task}),
            ask({"op": "create", "attempt": me + 100, "key": os.environ["SCRIPTFLOW_KEY"], "task": task}),
            ask({"op": "create", "task": task}),
            ask("not json"),
            ask({"op": "wait", "attempt": me, "key": os.environ["SCRIPTFLOW_KEY"], "uids": ["parent"]}),
        ]
        mode = stat.S_IMODE(os.stat(path).st_mode)
        json.dump({"answers": answers, "mode": mode}, open("all.txt", "w"))
        """)
    project.run("run", "main", check=True, timeout=120)
    seen = json.loads(project.read("all.txt"))
    assert seen["mode"] == 0o600
    answers = seen["answers"]
    assert [a["ok"] for a in answers] == [False] * 5
    assert answers[0]["error"] == answers[1]["error"] == answers[2]["error"] == "refused: not a task of this run"
    assert answers[3]["error"].startswith("bad request")
    assert answers[4]["error"] == "task parent cannot wait for parent: it waits for this task"
    assert set(project.statuses()) == {"parent"}, "nothing was created"


def test_a_parent_killed_while_it_waits_does_not_hang_the_run(project: Project) -> None:
    """kill -9 of the waiting script (by its own child): the run notices the closed connection."""
    project.flow(FLOW)
    project.write("make.py", f"""
        import os
        import scriptflow as sf
        kill = "import os, signal; open('k.txt', 'w').write('k'); os.kill({{}}, signal.SIGKILL)".format(os.getpid())
        sf.Task(["{PY}", "-c", kill], outputs="k.txt", name="killer").result()
        open("all.txt", "w").write("not reached")
        """)
    proc = project.run("run", "main", "-j", "1", check=False, timeout=120)
    assert proc.returncode == 1
    assert project.statuses() == {"parent": "failed", "killer": "succeeded"}
    assert not project.exists("all.txt")
    assert project.query("SELECT error FROM attempts a JOIN tasks t ON t.id = a.task_id "
                         "WHERE t.uid = 'parent'")[0]["error"] == "killed by signal 9"


def test_ctrl_c_while_a_script_waits_for_its_child_ends_the_run(project: Project) -> None:
    project.flow(FLOW)
    hold = ("import os, time\nopen('started', 'w').close()\nwhile os.path.exists('hold'):\n    time.sleep(0.02)\n"
            "open('slow.txt', 'w').write('done')\n")
    project.write("make.py", f"""
        import scriptflow as sf
        sf.Task(["{PY}", "-c", {hold!r}], outputs="slow.txt", name="slow").result()
        open("all.txt", "w").write("not reached")
        """)
    (project.path / "hold").touch()
    proc = project.popen("run", "main", "-j", "1")
    try:
        wait_until(lambda: project.exists("started"), "the child to start")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        (project.path / "hold").unlink(missing_ok=True)
    assert proc.returncode == 130
    assert project.statuses() == {"parent": "interrupted", "slow": "interrupted"}
    assert project.last_run()["status"] == "interrupted"
    assert not list(project.path.rglob("*.sock"))
    # and the next run does it all
    project.run("run", "main", "-j", "1", check=True, timeout=120)
    assert project.statuses() == {"parent": "succeeded", "slow": "succeeded"}


def test_a_long_project_path_and_a_socket_left_by_a_dead_run(tmp_path: Path) -> None:
    """AF_UNIX paths are limited (about 107 bytes): the socket lives in the project's private
    folder under the temporary folder, never in the project (a socket file there would break
    copying a live project). A socket a killed run left there does not stop the next run."""
    from scriptflow.run.children import socket_folder

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    project = Project(deep)
    write_project(project)
    folder = socket_folder(str(deep))
    assert folder is not None and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    stale = socket.socket(socket.AF_UNIX)
    try:
        stale.bind(os.path.join(folder, "run-7.sock"))
    finally:
        stale.close()
    project.write("make.py", MAKE.format(py=PY) + "import os\nprint('socket', os.environ['SCRIPTFLOW_SOCKET'])\n")
    project.run("run", "main", check=True, timeout=120)
    assert project.read("all.txt") == "012"
    out = project.read(".scriptflow/logs/1/parent.1.out")
    path = out.split("socket ", 1)[1].strip()
    assert path == os.path.join(folder, "run-1.sock")
    assert not os.path.exists(folder), "the stale socket, the run's own and the folder are removed"
    assert not list(deep.rglob("*.sock"))
