"""sf.task, @sf.flow and sf.on hooks, in real runs of the real CLI."""
from __future__ import annotations

import json

from conftest import py_src

HOOKED = f'''
import json
events = []

def record(event):
    events.append([event.event, event.uid, event.status, event.attempt])
    if event.event == "run_finished":
        open("events.json", "w").write(json.dumps(events))

for name in ("task_started", "task_failed", "task_finished", "run_finished"):
    sf.on(name, record)

@sf.on("task_finished")
def broken(event):
    raise ValueError("hook bug")

@sf.flow(name="go", description="Two tasks, one fails once.", params={{"n": "how many"}})
def anything(n: int = 1):
    a = sf.task({py_src("open('a.txt', 'w').write('a')")}, outputs="a.txt", name="a")
    b = sf.task({py_src("import os, sys; os.path.exists('b.flag') or (open('b.flag', 'w').close(), sys.exit(3)); "
                        "open('b.txt', 'w').write('b')")}, outputs="b.txt", inputs=a, name="b", retry=1)
    bad = sf.Task({py_src("import sys; sys.exit(4)")}, name="bad")
    b.result()
    try:
        bad.result()
    except sf.TaskFailed:
        pass
'''


def test_hooks_are_called_in_order_and_a_raising_hook_breaks_nothing(project):
    project.flow(HOOKED)
    proc = project.run("run", "go", "--classic", "-j", "1", "-k", check=False)
    assert proc.returncode == 1, proc.stderr  # "bad" failed, on purpose
    events = json.loads(project.read("events.json"))
    by_task: dict = {}
    for event, uid, status, attempt in events[:-1]:
        by_task.setdefault(uid, []).append((event, status, attempt))
    assert by_task["a"] == [("task_started", "running", 1), ("task_finished", "succeeded", 1)]
    assert by_task["b"] == [("task_started", "running", 1), ("task_started", "running", 2),
                            ("task_finished", "succeeded", 2)]
    assert by_task["bad"] == [("task_started", "running", 1), ("task_failed", "failed", 1),
                              ("task_finished", "failed", 1)]
    assert events.index(["task_finished", "a", "succeeded", 1]) < events.index(["task_started", "b", "running", 1])
    assert events[-1] == ["run_finished", None, "failed", None]
    # the raising hook: one warning on the terminal, the traceback in the run log, the run unharmed
    assert proc.stdout.count("warning: hook broken for task_finished raised ValueError: hook bug") == 1
    assert "Traceback" not in proc.stderr
    assert "ValueError: hook bug" in project.read(".scriptflow/scriptflow.log")
    assert project.statuses() == {"a": "succeeded", "b": "succeeded", "bad": "failed"}


def test_run_finished_hook_sees_a_cached_run(project):
    project.flow(HOOKED.replace('bad.result()', 'pass'))
    project.run("run", "go", check=True)
    project.run("run", "go", check=True)
    events = json.loads(project.read("events.json"))
    assert [e[:3] for e in events] == [["task_finished", "a", "cached"], ["task_finished", "b", "cached"],
                                       ["run_finished", None, "succeeded"]]


def test_flow_decorator_is_listed_with_description_and_param_help(project):
    project.flow(HOOKED + "\n@sf.flow\ndef flow_plain():\n    '''Plain one.'''\n")
    out = project.run("list", "--params", check=True).stdout
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["go", "Two", "tasks,", "one", "fails", "once."]
    assert out.splitlines()[1] == "    n: int = 1  how many"
    assert lines[2] == ["plain", "Plain", "one."]
    assert "anything" not in out


def test_two_flows_of_one_name_and_bad_hook_are_one_line_errors(project):
    project.flow("@sf.flow(name='x')\ndef a(): pass\n\ndef flow_x(): pass\n")
    proc = project.run("run", "x", check=False)
    assert proc.returncode == 2 and "two flows are named 'x': a and flow_x" in proc.stderr, proc.stderr
    project.flow("sf.on('task_exploded', print)\ndef flow_x(): pass\n")
    proc = project.run("run", "x", check=False)
    assert proc.returncode == 2 and "sflow.py:2: sf.on: unknown event 'task_exploded'" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
