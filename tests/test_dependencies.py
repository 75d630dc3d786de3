"""Dependency inference: a task naming a producer (the task or its output path) waits for it.

The flows below only start their tasks and return; they never wait. The
producer sleeps before writing, so a consumer started too early would find no
input and fail.
"""
from __future__ import annotations

import hashlib

import pytest

from conftest import py_src

PRODUCE = "import time; time.sleep(1); open('p.txt', 'w').write('hello')"
CONSUME = "open('c.txt', 'w').write(open('p.txt').read().upper())"


def _check_consumer_waited(project) -> None:
    assert project.last_run()["status"] == "succeeded"
    assert project.statuses() == {"producer": "succeeded", "consumer": "succeeded"}
    assert project.read("c.txt") == "HELLO"
    rows = {r["uid"]: r for r in project.query(
        "SELECT t.uid, a.started_at, a.ended_at FROM attempts a JOIN tasks t ON t.id = a.task_id "
        "WHERE a.run_id = ?", (project.last_run()["id"],))}
    assert rows["consumer"]["started_at"] >= rows["producer"]["ended_at"]
    consumer = project.tasks()["consumer"]
    inputs = project.query("SELECT path, sha256 FROM files WHERE task_id = ? AND role = 'input'", (consumer["id"],))
    assert [(r["path"], r["sha256"]) for r in inputs] == [("p.txt", hashlib.sha256(b"hello").hexdigest())]


def test_input_naming_the_producer_task(project):
    project.flow(f"""
        def flow_main():
            p = sf.Task({py_src(PRODUCE)}, outputs="p.txt", name="producer").start()
            sf.Task({py_src(CONSUME)}, outputs="c.txt", inputs=[p], name="consumer").start()
    """)
    project.run("run", "main", check=True)
    _check_consumer_waited(project)


@pytest.mark.parametrize("spelling", ["p.txt", "./sub/../p.txt"])
def test_input_naming_the_producers_output_path(project, spelling):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(PRODUCE)}, outputs="p.txt", name="producer").start()
            sf.Task({py_src(CONSUME)}, outputs="c.txt", inputs=[{spelling!r}], name="consumer").start()
    """)
    project.run("run", "main", check=True)
    _check_consumer_waited(project)


def test_starting_the_consumer_starts_a_producer_task_it_names(project):
    project.flow(f"""
        def flow_main():
            p = sf.Task({py_src(PRODUCE)}, outputs="p.txt", name="producer")   # never started by the flow
            sf.Task({py_src(CONSUME)}, outputs="c.txt", name="consumer").add_deps([p]).start()
    """)
    project.run("run", "main", check=True)
    _check_consumer_waited(project)


def test_chain_through_paths_in_an_async_flow_without_waiting(project):
    project.flow(f"""
        async def flow_main():
            sf.Task({py_src(PRODUCE)}, outputs="p.txt", name="producer").start()
            sf.Task({py_src(CONSUME)}, outputs="c.txt", inputs=["p.txt"], name="consumer").start()
            sf.Task({py_src("open('d.txt', 'w').write(open('c.txt').read() + '!')")},
                    outputs="d.txt", inputs=["c.txt"], name="last").start()
    """)
    project.run("run", "main", check=True)
    assert project.read("d.txt") == "HELLO!"
    assert set(project.statuses().values()) == {"succeeded"}
