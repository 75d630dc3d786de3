"""Ctrl-C, SIGTERM and SIGHUP sent to a real ``scriptflow run`` process: exit codes, process groups, the ledger, the files.

Each slow task spawns a child, writes both pids and part of its output, then a
``started`` marker, and waits while the file ``hold`` exists; the tests wait
for the markers (never for a fixed time) before sending the signal.
"""
from __future__ import annotations

import json
import signal

import pytest

from conftest import PY, kill_leftovers, process_gone, py_src, wait_until

WAIT_WHILE_HELD = (
    "import os, time\n"
    "deadline = time.time() + 120\n"
    "while os.path.exists('hold') and time.time() < deadline:\n"
    "    time.sleep(0.02)\n"
)
# {i} is the task's number; the child is a second process in the task's process group.
SLOW = (
    "import os, subprocess, sys\n"
    f"child = subprocess.Popen([sys.executable, '-c', {WAIT_WHILE_HELD!r}])\n"
    "open('child_{i}.pid', 'w').write(str(child.pid))\n"
    "open('task_{i}.pid', 'w').write(str(os.getpid()))\n"
    "f = open('out_{i}.txt', 'w')\n"
    "f.write('partial output'); f.flush()\n"
    "open('started_{i}', 'w').close()\n"
    + WAIT_WHILE_HELD +
    "child.wait()\n"
    "f.write(' and the rest'); f.close()\n"
)

IGNORES_TERM = (
    "import os, signal\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open('stubborn.pid', 'w').write(str(os.getpid()))\n"
    "f = open('stubborn.txt', 'w')\n"
    "f.write('partial'); f.flush()\n"
    "open('started_stubborn', 'w').close()\n"
    + WAIT_WHILE_HELD
)

# The task itself stops on SIGTERM, but a process it started ignores it.
CHILD_IGNORING_TERM = (
    "import os, signal\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open('child.tmp', 'w').write(str(os.getpid()))\n"
    "os.replace('child.tmp', 'child.pid')\n"
    + WAIT_WHILE_HELD
)
STUBBORN_CHILD = (
    "import os, subprocess, sys, time\n"
    f"child = subprocess.Popen([sys.executable, '-c', {CHILD_IGNORING_TERM!r}])\n"
    "while not os.path.exists('child.pid'):\n"
    "    time.sleep(0.01)\n"
    "open('started_parent', 'w').close()\n"
    + WAIT_WHILE_HELD
)


def _slow_flow(project, n: int = 5) -> None:
    project.write("hold", "")
    project.flow(f"""
        SLOW = {SLOW!r}
        def flow_main():
            slow = [sf.Task([{PY!r}, "-c", SLOW.replace("{{i}}", str(i))], outputs=f"out_{{i}}.txt",
                            name=f"slow{{i}}").start() for i in range({n})]
            after = sf.Task({py_src("open('after.txt', 'w').write('after')")}, outputs="after.txt",
                            inputs=[slow[0]], name="after").start()
            sf.bag(*slow, after)
    """)


def _one_task_flow(project, code: str, output: str, grace: float | None = None) -> None:
    project.write("hold", "")
    init = f"sf.init({{'interrupt_grace': {grace}}})" if grace is not None else ""
    project.flow(f"""
        {init}
        def flow_main():
            sf.Task({py_src(code)}, outputs={output!r}, name="stubborn").result()
    """)


def _started(project) -> list[int]:
    return sorted(int(p.name.split("_")[1]) for p in project.path.glob("started_*") if p.name[8:].isdigit())


def _pid(project, name: str) -> int:
    return int((project.path / name).read_text())


def _pids(project) -> list[int]:
    """Every pid a task of these tests wrote down (to clean up after a failure)."""
    return [int(p.read_text()) for p in project.path.glob("*.pid") if p.read_text().strip().isdigit()]


def _stop(project, proc) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    kill_leftovers(_pids(project))


def _run_row(project, proc):
    rows = project.query("SELECT * FROM runs WHERE pid = ?", (proc.pid,))
    assert len(rows) == 1, [dict(r) for r in rows]
    return rows[0]


def _no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in out + err, out + err


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_stops_running_tasks_and_records_the_run(project, signum, code):
    _slow_flow(project, 5)
    proc = project.popen("run", "main", "-j", "2", "--classic")
    try:
        started = wait_until(lambda: len(_started(project)) == 2 and _started(project), "two tasks to start")
        task_pids = [_pid(project, f"task_{i}.pid") for i in started]
        child_pids = [_pid(project, f"child_{i}.pid") for i in started]
        assert all(project.exists(f"out_{i}.txt") for i in started)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == code, out + err
        _no_traceback(out, err)

        # every running task's whole process group is gone: the task and the child it spawned
        for pid in task_pids + child_pids:
            wait_until(lambda pid=pid: process_gone(pid), f"process {pid} of an interrupted task to end", timeout=30)
    finally:
        _stop(project, proc)

    run = _run_row(project, proc)
    assert run["status"] == "interrupted"
    assert run["exit_code"] == code
    statuses = project.statuses(run["id"])
    running = {f"slow{i}" for i in started}
    assert {uid for uid, s in statuses.items() if s == "interrupted"} == running
    assert {uid: s for uid, s in statuses.items() if uid not in running} == {
        uid: "not-started" for uid in ({f"slow{i}" for i in range(5)} - running) | {"after"}}

    attempts = project.query(
        "SELECT t.uid, a.status, a.started_at FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.run_id = ?",
        (run["id"],))
    # a queued task that never started has no attempt that started
    assert not [dict(a) for a in attempts if a["uid"] not in running and a["started_at"] is not None]
    by_uid: dict[str, list[str]] = {}
    for a in attempts:
        by_uid.setdefault(a["uid"], []).append(a["status"])
    for uid in running:
        assert by_uid[uid] == ["interrupted"], by_uid
    assert not any(s == "succeeded" for states in by_uid.values() for s in states), by_uid

    # partial outputs removed; nothing else written; no output recorded
    for i in range(5):
        assert not project.exists(f"out_{i}.txt"), f"partial output out_{i}.txt left behind"
    assert not project.exists("after.txt")
    assert not project.query("SELECT * FROM files WHERE role = 'output' AND run_id = ?", (run["id"],))
    shown = json.loads(project.run("runs", "--json", check=True).stdout)
    assert [(r["id"], r["status"]) for r in shown] == [(run["id"], "interrupted")]


def test_interrupted_run_is_resumed(project):
    _slow_flow(project, 3)
    proc = project.popen("run", "main", "-j", "2", "--classic")
    try:
        started = wait_until(lambda: len(_started(project)) == 2 and _started(project), "two tasks to start")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        _stop(project, proc)
    assert proc.returncode == 130
    first = _run_row(project, proc)
    running = {f"slow{i}" for i in started}
    # interrupted tasks must run again (previous-failed), the others were never run
    (project.path / "hold").unlink()
    dry = project.run("run", "main", "-n", check=True).stdout
    for uid in running:
        assert any(line.split()[:1] == [uid] and "previous-failed" in line for line in dry.splitlines()), dry
    assert "cached" not in dry
    resumed = project.run("resume", "--classic")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    run = project.last_run()
    assert (run["parent_run_id"], run["status"]) == (first["id"], "succeeded")
    assert set(project.statuses(run["id"]).values()) == {"succeeded"}
    for uid in running:
        assert project.reasons(run["id"])[uid] == "previous-failed"
    for i in range(3):
        assert project.read(f"out_{i}.txt") == "partial output and the rest"


def test_task_ignoring_sigterm_is_killed_after_the_grace_period(project):
    """With interrupt_grace 1 (config), SIGKILL follows SIGTERM once the grace period is over."""
    _one_task_flow(project, IGNORES_TERM, "stubborn.txt", grace=1)
    proc = project.popen("run", "main", "--classic")
    try:
        wait_until(lambda: project.exists("started_stubborn"), "the task to start")
        pid = _pid(project, "stubborn.pid")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, out + err
        _no_traceback(out, err)
        wait_until(lambda: process_gone(pid), "the task ignoring SIGTERM to be killed", timeout=30)
    finally:
        _stop(project, proc)
    run = _run_row(project, proc)
    assert run["status"] == "interrupted"
    assert project.statuses(run["id"]) == {"stubborn": "interrupted"}
    attempt, = project.query("SELECT * FROM attempts WHERE run_id = ?", (run["id"],))
    assert attempt["status"] == "interrupted"
    assert attempt["exit_code"] == -signal.SIGKILL  # it ignored SIGTERM: only SIGKILL could end it
    assert not project.exists("stubborn.txt")


def test_second_sigint_kills_at_once(project):
    _one_task_flow(project, IGNORES_TERM, "stubborn.txt")
    proc = project.popen("run", "main", "--classic")
    try:
        wait_until(lambda: project.exists("started_stubborn"), "the task to start")
        pid = _pid(project, "stubborn.pid")
        proc.send_signal(signal.SIGINT)
        # the first Ctrl-C has been handled once the run has recorded the interrupt
        wait_until(lambda: project.query(
            "SELECT 1 FROM events e JOIN runs r ON r.id = e.run_id WHERE e.kind = 'interrupt' AND r.pid = ?",
            (proc.pid,)), "the interrupt to be recorded")
        assert proc.poll() is None and not process_gone(pid)  # still in the grace period
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, out + err
        _no_traceback(out, err)
        wait_until(lambda: process_gone(pid), "the task to be killed", timeout=30)
    finally:
        _stop(project, proc)
    run = _run_row(project, proc)
    assert run["status"] == "interrupted"
    assert project.statuses(run["id"]) == {"stubborn": "interrupted"}
    assert not project.exists("stubborn.txt")


def test_interrupt_stops_a_group_member_that_ignores_sigterm(project):
    """The task ends on SIGTERM but a process it started ignores it: the group must still be killed."""
    _one_task_flow(project, STUBBORN_CHILD, "never.txt")
    proc = project.popen("run", "main", "--classic")
    try:
        wait_until(lambda: project.exists("started_parent"), "the task and its child to start")
        child = _pid(project, "child.pid")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, out + err
        assert project.statuses(_run_row(project, proc)["id"]) == {"stubborn": "interrupted"}
        wait_until(lambda: process_gone(child), f"the task's child {child} (ignoring SIGTERM) to be killed",
                   timeout=10)
    finally:
        _stop(project, proc)


def test_terminal_hangup_stops_the_run_like_sigterm(project):
    """A dropped ssh session: the run's controlling terminal (a real pty) goes away. The kernel sends
    SIGHUP; the live display can no longer write; the run still stops its tasks and is recorded."""
    import fcntl
    import os
    import pty
    import select
    import subprocess
    import termios
    import threading

    _slow_flow(project, 3)
    master, slave = pty.openpty()

    def take_terminal() -> None:  # the run becomes the session leader of this terminal, as over ssh
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(["scriptflow", "run", "main", "-j", "2"], cwd=project.path, stdin=slave,
                            stdout=slave, stderr=slave, preexec_fn=take_terminal)
    os.close(slave)
    stop_draining = threading.Event()

    def drain() -> None:  # read what the live display shows, so that it never blocks on a full terminal
        while not stop_draining.is_set():
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        started = wait_until(lambda: len(_started(project)) == 2 and _started(project), "two tasks to start")
        pids = [_pid(project, f"task_{i}.pid") for i in started] + [_pid(project, f"child_{i}.pid") for i in started]
        stop_draining.set()
        reader.join()
        os.close(master)  # hang up
        master = -1
        assert proc.wait(timeout=120) == 129
        for pid in pids:
            wait_until(lambda pid=pid: process_gone(pid), f"process {pid} of an interrupted task to end", timeout=30)
    finally:
        stop_draining.set()
        if master >= 0:
            os.close(master)
        _stop(project, proc)
    run = _run_row(project, proc)
    assert (run["status"], run["exit_code"]) == ("interrupted", 129)
    assert {uid for uid, s in project.statuses(run["id"]).items() if s == "interrupted"} == {
        f"slow{i}" for i in started}
    assert not any(project.exists(f"out_{i}.txt") for i in range(3))
    log = (project.path / ".scriptflow" / "scriptflow.log").read_text(errors="replace")
    assert "Traceback" not in log, log


def test_sighup_is_ignored_under_nohup(project):
    """``nohup scriptflow run``: SIGHUP was ignored when the run started, so the run goes on."""
    _slow_flow(project, 2)
    proc = project.popen("run", "main", "-j", "2", "--classic",
                         preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        wait_until(lambda: len(_started(project)) == 2, "both tasks to start")
        proc.send_signal(signal.SIGHUP)
        (project.path / "hold").unlink()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        _stop(project, proc)
    assert _run_row(project, proc)["status"] == "succeeded"
    assert project.read("out_0.txt") == "partial output and the rest"
