"""One run at a time per project: a second run waits (or fails with --no-wait), readers never wait,
and a lock left by a killed run does not block the next one."""
from __future__ import annotations

import json
import queue
import signal
import socket
import threading

from conftest import kill_leftovers, process_gone, py_src, wait_until

# The task says it started, prints a line, then (if 'hold' existed when it started) waits for 'release'.
HELD = (
    "import os, sys, time\n"
    "held = os.path.exists('hold')\n"
    "open('pid', 'w').write(str(os.getpid()))\n"
    "print('hello from the held task', flush=True)\n"
    "open('started', 'w').close()\n"
    "deadline = time.time() + 120\n"
    "while held and not os.path.exists('release') and time.time() < deadline:\n"
    "    time.sleep(0.02)\n"
    "open('held.txt', 'w').write('done')\n"
)


def _flow(project) -> None:
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(HELD)}, outputs="held.txt", name="held").result()
    """)


class Lines:
    """Read a process's stdout line by line in a thread, so a test can wait for one line."""

    def __init__(self, stream) -> None:
        self.lines: "queue.Queue[str]" = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        def found():
            while not self.lines.empty():
                self.seen.append(self.lines.get())
            return next((line for line in self.seen if text in line), None)
        return wait_until(found, f"a line containing {text!r}", timeout=timeout)

    def text(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _running(project):
    """The first run, once it has recorded its task as running."""
    rows = project.query("SELECT t.status FROM tasks t WHERE t.run_id = 1 AND t.uid = 'held'") \
        if project.exists("started") else []
    return rows and rows[0]["status"] == "running"


def test_second_run_waits_naming_the_holder_then_runs(project):
    _flow(project)
    project.write("hold", "")
    first = project.popen("run", "main", "--classic")
    second = None
    try:
        wait_until(lambda: project.exists("started"), "the first run's task to start")
        second = project.popen("run", "main", "--classic")
        out = Lines(second.stdout)
        line = out.wait_for("waiting")
        # the message names the run, the pid and the host holding the project
        assert "run 1" in line, line
        assert f"pid {first.pid}" in line, line
        assert socket.gethostname() in line, line
        assert second.poll() is None
        assert project.query("SELECT count(*) FROM runs")[0][0] == 1  # the second has not started a run
        project.write("release", "")
        first_out, first_err = first.communicate(timeout=120)
        assert first.returncode == 0, first_out + first_err
        second.wait(timeout=120)
        assert second.returncode == 0, out.text() + second.stderr.read()
    finally:
        project.write("release", "")  # never leave a held task behind
        _stop(first)
        if second is not None:
            _stop(second)
    runs = project.query("SELECT * FROM runs ORDER BY id")
    assert [(r["id"], r["status"], r["pid"]) for r in runs] == [(1, "succeeded", first.pid),
                                                                 (2, "succeeded", second.pid)]
    assert runs[1]["started_at"] >= runs[0]["ended_at"]  # it ran after the first one, not beside it
    assert project.statuses(2) == {"held": "cached"}


def test_ctrl_c_while_waiting_for_the_lock(project):
    _flow(project)
    project.write("hold", "")
    first = project.popen("run", "main", "--classic")
    second = None
    try:
        wait_until(lambda: project.exists("started"), "the first run's task to start")
        second = project.popen("run", "main", "--classic")
        Lines(second.stdout).wait_for("waiting")
        second.send_signal(signal.SIGINT)
        second.wait(timeout=60)
        assert second.returncode == 130
        assert "Traceback" not in second.stderr.read()
        assert first.poll() is None  # the holder is not disturbed
        assert project.query("SELECT count(*) FROM runs")[0][0] == 1
        project.write("release", "")
        first.communicate(timeout=120)
    finally:
        project.write("release", "")  # never leave a held task behind
        _stop(first)
        if second is not None:
            _stop(second)
    assert first.returncode == 0
    assert project.query("SELECT status FROM runs")[0]["status"] == "succeeded"


def test_no_wait_fails_at_once_with_exit_3(project):
    _flow(project)
    project.write("hold", "")
    first = project.popen("run", "main", "--classic")
    try:
        wait_until(lambda: project.exists("started"), "the first run's task to start")
        busy = project.run("run", "main", "--no-wait", timeout=60)
        assert busy.returncode == 3, busy.stdout + busy.stderr
        lines = busy.stderr.strip().splitlines()
        assert len(lines) == 1, busy.stderr
        assert "run 1" in lines[0] and f"pid {first.pid}" in lines[0], lines[0]
        assert "Traceback" not in busy.stdout + busy.stderr
        # resume --no-wait too
        busy = project.run("resume", "1", "--no-wait", timeout=60)
        assert busy.returncode == 3, busy.stdout + busy.stderr
        assert project.query("SELECT count(*) FROM runs")[0][0] == 1
        assert first.poll() is None
        project.write("release", "")
        first.communicate(timeout=120)
    finally:
        project.write("release", "")  # never leave a held task behind
        _stop(first)
    assert first.returncode == 0
    assert project.query("SELECT id, status FROM runs")[0]["status"] == "succeeded"


def test_readers_work_while_a_run_is_live(project):
    _flow(project)
    project.write("hold", "")
    first = project.popen("run", "main", "--classic", "--name", "live")
    try:
        wait_until(lambda: _running(project), "the task to be recorded running")
        # none of these may wait for the lock (the run holds it until 'release')
        runs = json.loads(project.run("runs", "--json", check=True, timeout=60).stdout)
        assert [(r["id"], r["name"], r["status"]) for r in runs] == [(1, "live", "running")]
        table = project.run("runs", check=True, timeout=60).stdout
        assert "running" in table
        shown = json.loads(project.run("show", "live", "--json", check=True, timeout=60).stdout)
        assert shown["status"] == "running"
        assert [(t["uid"], t["status"]) for t in shown["tasks"]] == [("held", "running")]
        assert "held" in project.run("show", "1", check=True, timeout=60).stdout
        logs = project.run("logs", "live", "held", check=True, timeout=60)
        assert logs.stdout == "hello from the held task\n"
        why = project.run("why", "held", check=True, timeout=60)
        assert "never-run" in why.stdout
        why = project.run("why", "held.txt", check=True, timeout=60)
        assert "held" in why.stdout
        # a dry run records nothing and needs no lock either
        dry = project.run("run", "main", "-n", check=True, timeout=60)
        assert "held" in dry.stdout
        assert project.query("SELECT count(*) FROM runs")[0][0] == 1
        assert first.poll() is None
        project.write("release", "")
        first.communicate(timeout=120)
    finally:
        project.write("release", "")  # never leave a held task behind
        _stop(first)
    assert first.returncode == 0
    assert project.statuses(1) == {"held": "succeeded"}


def test_lock_of_a_killed_run_does_not_block_the_next_run(project):
    _flow(project)
    project.write("hold", "")
    first = project.popen("run", "main", "--classic")
    try:
        wait_until(lambda: _running(project), "the task to be recorded running")
        orphan = int(project.read("pid"))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        project.write("release", "")  # never leave a held task behind
        _stop(first)
    assert not process_gone(orphan)  # the killed run's task lives on
    (project.path / "hold").unlink()
    try:
        nxt = project.run("run", "main", "--no-wait", "--classic", timeout=120)
        assert nxt.returncode == 0, nxt.stdout + nxt.stderr
        # the next run stopped the process the killed run left behind
        wait_until(lambda: process_gone(orphan), f"orphan {orphan} to be stopped", timeout=30)
    finally:
        kill_leftovers([orphan])
    runs = {r["id"]: r["status"] for r in project.query("SELECT * FROM runs")}
    assert runs == {1: "lost", 2: "succeeded"}
    assert project.statuses(2) == {"held": "succeeded"}
    assert project.reasons(2) == {"held": "previous-failed"}
