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


# Fails its first attempt leaving two stale writers on its output, one in its process group and
# one that left it (setsid); the retry records which still run, then writes the output.
RETRIED_TASK = (
    "import os, subprocess, sys\n"
    "if not os.path.exists('failed_once'):\n"
    "    open('failed_once', 'w').close()\n"
    f"    a = subprocess.Popen([sys.executable, '-c', {STALE_WRITER!r}, 'out.txt'])\n"
    f"    b = subprocess.Popen([sys.executable, '-c', {STALE_WRITER!r}, 'out.txt'], start_new_session=True)\n"
    "    open('writer.pids', 'w').write('%d %d' % (a.pid, b.pid))\n"
    "    sys.exit(1)\n"
    "def alive(pid):\n"
    "    try:\n"
    "        return open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()[0] not in 'ZX'\n"
    "    except OSError:\n"
    "        return False\n"
    "pids = [int(p) for p in open('writer.pids').read().split()]\n"
    "open('alive_at_retry', 'w').write(repr([p for p in pids if alive(p)]))\n"
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
        assert project.read("alive_at_retry") == "[]"
        assert project.read("out.txt") == "done\n"
        assert all(process_gone(int(pid)) for pid in project.read("writer.pids").split())
        attempts = project.query("SELECT number, status FROM attempts ORDER BY number")
        assert [(a["number"], a["status"]) for a in attempts] == [(1, "failed"), (2, "succeeded")]
        assert project.query("SELECT sha256 FROM files WHERE role = 'output'")[0]["sha256"] == sha256_file(
            project.path / "out.txt")
    finally:
        if project.exists("writer.pids"):
            kill_leftovers(map(int, project.read("writer.pids").split()))


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


# The soak flow's task: a start marker (the test kills right after one appears, in some cycles),
# a first attempt that fails for every tenth task, a background process in its group that would
# corrupt the output a second later if it survived, and the output written in two steps.
SOAK_TASK = (
    'i=$1\n'
    ': > "started/$i.$$"\n'
    'if [ $((i % 10)) -eq 3 ] && [ ! -e "failed/$i" ]; then : > "failed/$i"; exit 1; fi\n'
    '(sleep 1; echo stale >> "out/$i.txt") &\n'
    'printf "part," > "out/$i.txt"\n'
    'sleep 0.15\n'
    'echo "$i" >> "out/$i.txt"\n'
)
SOAK_TASKS = 200
SOAK_KILLS = 20


@needs_proc
def test_soak_kill_9_at_random_moments_then_resume_until_done(project):
    """20+ SIGKILLs of the runner (seeded: SOAK_SEED=N reproduces a failure's moments), some right as
    a task starts, over 200 tasks with retries; resumed until done; then every output is exact, the
    last run holds one success per task whose outputs match their recorded hashes, and nothing runs."""
    import random
    import time

    seed = int(os.environ.get("SOAK_SEED", random.randrange(2**32)))
    print(f"soak seed: SOAK_SEED={seed}")
    rng = random.Random(seed)
    project.flow(f"""
        import os
        def flow_main():
            for d in ("out", "started", "failed"):
                os.makedirs(d, exist_ok=True)
            sf.bag(*[sf.Task(["sh", "-c", {SOAK_TASK!r}, "sh", str(i)], outputs=f"out/{{i}}.txt",
                             name=f"t{{i:03d}}", retry=1).start() for i in range({SOAK_TASKS})])
    """)
    started = project.path / "started"

    def markers() -> int:
        return len(os.listdir(started)) if started.exists() else 0

    kills, cycles = 0, 0
    while kills < SOAK_KILLS:
        cycles += 1
        assert cycles < 4 * SOAK_KILLS, f"seed {seed}: too many runs ended on their own"
        has_run = (project.path / ".scriptflow" / "ledger.db").exists() and project.query(
            "SELECT name FROM sqlite_master WHERE name = 'runs'") and project.query("SELECT 1 FROM runs")
        proc = project.popen(*(["resume", "--classic"] if has_run else ["run", "main", "-j", "4", "--classic"]))
        try:
            if rng.random() < 0.4:  # right as a task starts
                before = markers()
                deadline = time.monotonic() + 30
                while markers() == before and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.001)
            else:
                time.sleep(rng.uniform(0.0, 1.2))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            out, err = proc.communicate(timeout=120)
            assert "Traceback" not in out + err, f"seed {seed}:\n{out}{err}"
            assert proc.returncode in (0, 1, -signal.SIGKILL), f"seed {seed}: exit {proc.returncode}\n{out}{err}"
            assert proc.returncode != 0 or kills >= SOAK_KILLS, (
                f"seed {seed}: the flow finished after only {kills} kills")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    for _ in range(5):
        done = project.run("resume", "--classic")
        if done.returncode == 0:
            break
    assert done.returncode == 0, f"seed {seed}:\n{done.stdout}{done.stderr}"

    for i in range(SOAK_TASKS):
        assert project.read(f"out/{i}.txt") == f"part,{i}\n", f"seed {seed}: out/{i}.txt"
    last = project.last_run()
    assert last["status"] == "succeeded"
    tasks = project.tasks(last["id"])
    assert set(tasks) == {f"t{i:03d}" for i in range(SOAK_TASKS)}
    assert {t["status"] for t in tasks.values()} <= {"succeeded", "cached"}, f"seed {seed}"
    outputs = project.query("SELECT t.uid, f.path, f.sha256 FROM run_files f JOIN tasks t ON t.id = f.task_id "
                            "WHERE f.role = 'output' AND f.run_id = ?", (last["id"],))  # reused tasks too
    assert sorted(r["uid"] for r in outputs) == sorted(tasks), f"seed {seed}"
    for r in outputs:
        assert sha256_file(project.path / r["path"]) == r["sha256"], f"seed {seed}: {r['uid']}"
    assert project.query("PRAGMA integrity_check")[0][0] == "ok"
    assert not project.query("SELECT id FROM runs WHERE status = 'running'"), f"seed {seed}"
    assert not project.query("SELECT id FROM attempts WHERE status IN ('queued', 'running')"), f"seed {seed}"
    assert not _processes_with_tokens(_tokens(project)), f"seed {seed}"
