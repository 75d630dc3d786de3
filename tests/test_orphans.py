"""No process of an earlier attempt ever runs beside a new one: ``kill -9`` of the runner, retries, leftovers.

Every test here uses real processes: the ``scriptflow`` command, tasks that
start background writers (in their process group, and out of it with
``setsid``), and real signals. Handshakes are files the tasks write, never
sleeps.
"""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from conftest import PY, kill_leftovers, process_gone, sha256_file, wait_until

# A process that appends to the file in argv[1] forever: the stale writer an orphan would be.
STALE_WRITER = (
    "import sys, time\n"
    "while True:\n"
    "    with open(sys.argv[1], 'a') as f:\n"
    "        f.write('stale\\n')\n"
    "    time.sleep(0.01)\n"
)

# While the file `first_run` exists a task starts two stale writers on its output (one in its
# process group, one that left it with setsid), writes the three pids, then waits; the test kills
# the runner with SIGKILL then. The resumed attempt records which of those pids still run.
KILLED_TASK = (
    "import os, subprocess, sys, time\n"
    "i = sys.argv[1]\n"
    "out = 'out/%s.txt' % i\n"
    "def alive(pid):\n"
    "    try:\n"
    "        return open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] not in 'ZX'\n"
    "    except OSError:\n"
    "        return False\n"
    "if os.path.exists('first_run'):\n"
    f"    a = subprocess.Popen([sys.executable, '-c', {STALE_WRITER!r}, out])\n"
    f"    b = subprocess.Popen([sys.executable, '-c', {STALE_WRITER!r}, out], start_new_session=True)\n"
    "    open('pids/%s.tmp' % i, 'w').write('%d %d %d' % (os.getpid(), a.pid, b.pid))\n"
    "    os.replace('pids/%s.tmp' % i, 'pids/%s' % i)\n"
    "    time.sleep(300)\n"
    "    sys.exit(1)\n"
    "pids = [int(p) for p in open('pids/%s' % i).read().split()]\n"
    "still = [p for p in pids if alive(p)]\n"
    "if still:\n"
    "    open('alive/%s' % i, 'w').write(repr(still))\n"
    "open(out, 'w').write('%s\\n' % i)\n"
)
TASKS = 4


def _started(project) -> int:
    folder = project.path / "pids"
    return sum(1 for f in folder.iterdir() if f.name.isdigit()) if folder.exists() else 0


def _pids(project) -> list[int]:
    folder = project.path / "pids"
    if not folder.exists():
        return []
    return [int(p) for f in folder.iterdir() if f.name.isdigit() for p in f.read_text().split()]


def _tokens(project) -> set[str]:
    rows = project.query("SELECT detail FROM events WHERE kind = 'started'")
    return {json.loads(r["detail"])["token"] for r in rows}


def _processes_with_tokens(tokens: set[str]) -> list[int]:
    """pids of live processes whose environment carries SCRIPTFLOW_RUN=<one of tokens>."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(item.startswith(b"SCRIPTFLOW_RUN=") and item[15:].decode() in tokens for item in env):
            if not process_gone(int(entry.name)):
                found.append(int(entry.name))
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")


@needs_proc
@pytest.mark.parametrize("pids_in_ledger", [True, False], ids=["pids-recorded", "pids-not-recorded"])
def test_kill_9_as_tasks_start_then_resume_stops_every_orphan_first(project, pids_in_ledger):
    """pids-not-recorded erases attempts.pid after the kill (fault injection): it stands for a kill
    landing before the batched writer committed the pids, which a real kill hits only by chance."""
    project.flow(f"""
        import os
        CODE = {KILLED_TASK!r}
        def flow_main():
            for d in ("out", "pids", "alive"):
                os.makedirs(d, exist_ok=True)
            sf.bag(*[sf.Task([{PY!r}, "-c", CODE, str(i)], outputs=f"out/{{i}}.txt", name=f"t{{i}}").start()
                     for i in range({TASKS})])
    """)
    project.write("first_run", "")
    proc = project.popen("run", "main", "-j", str(TASKS), "--classic")
    try:
        wait_until(lambda: proc.poll() is not None or _started(project) == TASKS, "every task to start")
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        orphans = _pids(project)
        assert len(orphans) == 3 * TASKS
        assert not any(process_gone(pid) for pid in orphans)  # the runner's death stopped nothing
        if not pids_in_ledger:
            with project.ledger() as conn:
                conn.execute("UPDATE attempts SET pid = NULL")
        os.unlink(project.path / "first_run")

        resumed = project.run("resume", "--classic")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "Traceback" not in resumed.stdout + resumed.stderr

        # no new attempt saw a process of the killed attempts, and none is left now
        assert not list((project.path / "alive").iterdir()), {
            p.name: p.read_text() for p in (project.path / "alive").iterdir()}
        assert all(process_gone(pid) for pid in orphans)
        for i in range(TASKS):
            assert project.read(f"out/{i}.txt") == f"{i}\n"
        assert [r["status"] for r in project.query("SELECT status FROM runs ORDER BY id")] == ["lost", "succeeded"]
        lost = project.query("SELECT a.status FROM attempts a WHERE a.run_id = 1")
        assert [r["status"] for r in lost] == ["lost"] * TASKS
        assert project.statuses(2) == {f"t{i}": "succeeded" for i in range(TASKS)}
        assert len(project.query("SELECT * FROM attempts WHERE run_id = 2 AND status = 'succeeded'")) == TASKS
        assert not _processes_with_tokens(_tokens(project))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers(_pids(project))


# Fails its first attempt leaving a stale writer on its output in its process group; the retry
# records whether that writer still runs, then writes the output.
RETRIED_TASK = (
    "import os, subprocess, sys\n"
    "if not os.path.exists('failed_once'):\n"
    "    open('failed_once', 'w').close()\n"
    f"    w = subprocess.Popen([sys.executable, '-c', {STALE_WRITER!r}, 'out.txt'])\n"
    "    open('writer.pid', 'w').write(str(w.pid))\n"
    "    sys.exit(1)\n"
    "pid = int(open('writer.pid').read())\n"
    "try:\n"
    "    alive = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] not in 'ZX'\n"
    "except OSError:\n"
    "    alive = False\n"
    "open('writer_alive_at_retry', 'w').write(str(alive))\n"
    "open('out.txt', 'w').write('done\\n')\n"
)


@needs_proc
def test_retry_never_starts_beside_the_failed_attempts_leftovers(project):
    project.flow(f"""
        def flow_main():
            sf.Task([{PY!r}, "-c", {RETRIED_TASK!r}], outputs="out.txt", name="flaky", retry=1).result()
    """)
    try:
        project.run("run", "main", "--classic", check=True)
        assert project.read("writer_alive_at_retry") == "False"
        assert project.read("out.txt") == "done\n"
        assert process_gone(int(project.read("writer.pid")))
        attempts = project.query("SELECT number, status FROM attempts ORDER BY number")
        assert [(a["number"], a["status"]) for a in attempts] == [(1, "failed"), (2, "succeeded")]
        assert project.query("SELECT sha256 FROM files WHERE role = 'output'")[0]["sha256"] == sha256_file(
            project.path / "out.txt")
    finally:
        if project.exists("writer.pid"):
            kill_leftovers([int(project.read("writer.pid"))])


# Succeeds at once, leaving one background process in its group and one that left it (setsid).
LEAVES_BACKGROUND = (
    "import os, subprocess, sys\n"
    "a = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
    "b = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n"
    "open('bg.pids', 'w').write('%d %d' % (a.pid, b.pid))\n"
    "open('out.txt', 'w').write('ok\\n')\n"
)


@needs_proc
def test_processes_a_task_leaves_behind_end_with_it_or_with_the_run(project):
    """In its group: killed when the task's process exits; out of it (setsid): when the run ends."""
    project.flow(f"""
        def flow_main():
            sf.Task([{PY!r}, "-c", {LEAVES_BACKGROUND!r}], outputs="out.txt", name="bg").result()
    """)
    try:
        project.run("run", "main", "--classic", check=True)
        in_group, out_of_group = map(int, project.read("bg.pids").split())
        assert process_gone(in_group) and process_gone(out_of_group)
        assert project.statuses() == {"bg": "succeeded"}
    finally:
        if project.exists("bg.pids"):
            kill_leftovers(map(int, project.read("bg.pids").split()))
