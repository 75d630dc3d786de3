"""How many tasks run at once, measured from the ledger's attempt start and end times."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone

from conftest import PY, py_src, wait_for_file

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _parse(text: str) -> datetime:
    assert ISO_UTC.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def max_overlap(rows) -> int:
    """Most attempts running at one instant (an attempt ending at t does not overlap one starting at t)."""
    events = []
    for row in rows:
        events.append((_parse(row["started_at"]), 1))
        events.append((_parse(row["ended_at"]), -1))
    events.sort(key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def _trivial_flow(project, n: int, init: str = "") -> None:
    # python -S: a trivial task that starts fast
    project.flow(f"""
        {init}
        def flow_many():
            tasks = [sf.Task([{PY!r}, "-S", "-c", "pass"], name=f"t{{i:03d}}").start() for i in range({n})]
            sf.bag(*tasks)
    """)


def test_200_tasks_with_j2_never_exceed_2_at_once(project):
    _trivial_flow(project, 200)
    project.run("run", "many", "-j", "2", check=True)
    rows = project.query("SELECT started_at, ended_at, status FROM attempts WHERE run_id = ?",
                         (project.last_run()["id"],))
    assert len(rows) == 200
    assert {r["status"] for r in rows} == {"succeeded"}
    assert max_overlap(rows) == 2


def test_maxsize_from_sf_init(project):
    _trivial_flow(project, 12, init='sf.init({"executors": {"local": {"maxsize": 1}}})')
    project.run("run", "many", check=True)
    rows = project.query("SELECT started_at, ended_at FROM attempts")
    assert len(rows) == 12
    assert max_overlap(rows) == 1


def test_command_line_jobs_override_sf_init(project):
    # three tasks that can only finish if all three run at the same time
    names = ["a", "b", "c"]
    tasks = []
    for name in names:
        code = f"open('{name}.ready', 'w').close()\n"
        for other in names:
            if other != name:
                code += wait_for_file(f"{other}.ready")
        code += f"open('{name}.txt', 'w').write('{name}')\n"
        tasks.append(f"sf.Task({py_src(code)}, outputs='{name}.txt', name='{name}').start()")
    body = "\n            ".join(tasks)
    project.flow(f"""
        sf.init({{"executors": {{"local": {{"maxsize": 1}}}}}})
        def flow_meet():
            {body}
    """)
    project.run("run", "meet", "-j", "3", check=True)
    assert project.statuses() == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    rows = project.query("SELECT started_at, ended_at FROM attempts")
    assert max_overlap(rows) == 3


def test_each_task_runs_in_its_own_process_group(project):
    code = ("import json, os\n"
            "json.dump({'pid': os.getpid(), 'pgid': os.getpgid(0), 'sid': os.getsid(0)}, open('me.json', 'w'))")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(code)}, outputs="me.json", name="me").result()
    """)
    project.run("run", "main", check=True)
    me = json.loads(project.read("me.json"))
    assert me["pgid"] == me["pid"]
    assert me["sid"] != os.getsid(0)
    attempt, = project.query("SELECT pid FROM attempts")
    assert attempt["pid"] == me["pid"]
