"""``kill -9`` of the runner in the middle of a 50-task flow, then ``scriptflow resume``.

The flow: 49 workers ``tNN`` (each writes ``out/tNN.txt`` in two steps) and
``total``, which sums them. A worker that starts once ``pause_at`` holds a
number N and ``out/`` already holds N files writes a partial output, spawns a
child, leaves a marker in ``blocked/`` and waits (for a file that never
comes): so the test knows, from files and the ledger, that about N tasks are
done and every running task is stuck, and kills the runner with SIGKILL
there. The stuck tasks are orphans the next run must stop.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3

import pytest

from conftest import PY, kill_leftovers, process_gone, py_src, sha256_file, wait_until

WORKERS = 49
JOBS = 4

WORKER = (
    "import os, subprocess, sys, time\n"
    "i = int(sys.argv[1])\n"
    "out = 'out/t%02d.txt' % i\n"
    "if os.path.exists('pause_at') and len(os.listdir('out')) >= int(open('pause_at').read()):\n"
    "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
    "    open(out, 'w').write('partial')\n"
    "    open('blocked/%d.tmp' % i, 'w').write('%d %d' % (os.getpid(), child.pid))\n"
    "    os.replace('blocked/%d.tmp' % i, 'blocked/%d' % i)\n"
    "    deadline = time.time() + 120\n"
    "    while not os.path.exists('never') and time.time() < deadline:\n"
    "        time.sleep(0.05)\n"
    "    sys.exit(1)\n"
    "with open(out, 'w') as f:\n"
    "    f.write('part,')\n"
    "    f.flush()\n"
    "    f.write('%d\\n' % (i * i))\n"
)
TOTAL = (
    "import glob\n"
    "values = [int(open(p).read().split(',')[1]) for p in sorted(glob.glob('out/t*.txt'))]\n"
    "open('total.txt', 'w').write('%d %d\\n' % (len(values), sum(values)))\n"
)
EXPECTED_TOTAL = f"{WORKERS} {sum(i * i for i in range(WORKERS))}\n"


def _flow(project) -> None:
    project.flow(f"""
        import os
        WORKER = {WORKER!r}
        def flow_main():
            os.makedirs("out", exist_ok=True)
            os.makedirs("blocked", exist_ok=True)
            workers = [sf.Task([{PY!r}, "-c", WORKER, str(i)], outputs=f"out/t{{i:02d}}.txt",
                               name=f"t{{i:02d}}").start() for i in range({WORKERS})]
            sf.Task({py_src(TOTAL)}, inputs=workers, outputs="total.txt", name="total").result()
    """)


def _blocked(project) -> dict[str, tuple[int, int]]:
    """uid -> (task pid, child pid) of the workers stuck right now."""
    folder = project.path / "blocked"
    if not folder.exists():
        return {}
    out = {}
    for p in folder.iterdir():
        if p.name.isdigit():
            pid, child = map(int, p.read_text().split())
            out[f"t{int(p.name):02d}"] = (pid, child)
    return out


def _count(project, run_id: int, status: str) -> int:
    if not (project.path / ".scriptflow" / "ledger.db").exists():
        return 0
    try:
        return project.query("SELECT count(*) FROM tasks WHERE run_id = ? AND status = ?", (run_id, status))[0][0]
    except sqlite3.OperationalError:  # the run is still creating the schema
        return 0


def _kill_point_reached(project, n: int) -> bool:
    """At least n tasks recorded succeeded and every slot held by a stuck worker whose pid the ledger has."""
    blocked = _blocked(project)
    if not blocked:
        return False
    done = _count(project, 1, "succeeded")
    if done < n or (len(blocked) < JOBS and done + len(blocked) < WORKERS):
        return False
    rows = project.query("SELECT t.uid, a.pid, a.status FROM attempts a JOIN tasks t ON t.id = a.task_id "
                         "WHERE a.run_id = 1 AND a.status = 'running'")
    recorded = {r["uid"]: r["pid"] for r in rows}
    return all(recorded.get(uid) == pid for uid, (pid, _) in blocked.items())


def _check_every_recorded_output(project) -> None:
    """No task recorded succeeded (or cached) whose output is missing or differs from its recorded sha256."""
    rows = project.query(
        "SELECT t.uid, t.run_id, t.status, f.path, f.sha256 FROM files f JOIN tasks t ON t.id = f.task_id "
        "WHERE f.role = 'output' AND t.status IN ('succeeded', 'cached')")
    assert rows
    for row in rows:
        path = project.path / row["path"]
        assert path.exists(), f"{row['uid']} ({row['status']} in run {row['run_id']}): {row['path']} is missing"
        assert sha256_file(path) == row["sha256"], (
            f"{row['uid']} ({row['status']} in run {row['run_id']}): {row['path']} differs from its recorded hash")
    # and every task recorded succeeded has an output row for each declared output
    for task in project.query("SELECT * FROM tasks WHERE status IN ('succeeded', 'cached')"):
        recorded = {r["path"] for r in project.query(
            "SELECT path FROM files WHERE task_id = ? AND role = 'output'", (task["id"],))}
        assert recorded == set(json.loads(task["outputs"])), task["uid"]


@pytest.mark.parametrize("kill_after, stuck", [(5, True), (25, True), (45, True), (25, False)],
                         ids=["after-5", "after-25", "after-45", "after-25-while-busy"])
def test_kill_9_mid_run_then_resume(project, kill_after, stuck):
    """stuck: kill while every slot holds a stuck task; else kill as soon as the ledger shows
    ``kill_after`` successes, with tasks starting and finishing around the kill."""
    _flow(project)
    if stuck:
        project.write("pause_at", str(kill_after))
    reached = ((lambda: _kill_point_reached(project, kill_after)) if stuck
               else (lambda: _count(project, 1, "succeeded") >= kill_after))
    proc = project.popen("run", "main", "-j", str(JOBS), "--classic")
    try:
        wait_until(lambda: proc.poll() is not None or reached(), f"the kill point after {kill_after} tasks")
        assert proc.poll() is None, proc.communicate()
        blocked = _blocked(project)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        assert proc.returncode == -signal.SIGKILL
        killed = project.query("SELECT * FROM runs WHERE id = 1")[0]
        assert killed["pid"] == proc.pid
        assert killed["status"] == "running"  # nobody closed it
        statuses = project.statuses(1)
        done_before = {uid for uid, s in statuses.items() if s == "succeeded"}
        assert len(done_before) >= kill_after
        assert "total" not in done_before
        assert set(blocked) <= {uid for uid, s in statuses.items() if s == "running"}
        # the orphans are still there, stuck, with their partial outputs
        assert not any(process_gone(pid) for pid, _ in blocked.values())
        assert all(project.read(f"out/{uid}.txt") == "partial" for uid in blocked)

        # `runs` (read-only) already shows the dead run as lost
        shown = json.loads(project.run("runs", "--json", check=True).stdout)
        assert [(r["id"], r["status"]) for r in shown] == [(1, "lost")]
        table = project.run("runs", check=True).stdout
        assert re.search(r"^\s*1\s+main\s+lost\s", table, re.M), table

        if stuck:
            os.unlink(project.path / "pause_at")  # the rerun must not get stuck again
        proc = project.run("resume", timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr

        resumed = project.last_run()
        assert resumed["id"] == 2
        assert resumed["parent_run_id"] == 1
        assert resumed["status"] == "succeeded"
        assert project.read("total.txt") == EXPECTED_TOTAL
        for i in range(WORKERS):
            assert project.read(f"out/t{i:02d}.txt") == f"part,{i * i}\n"

        # what was done is cached; only the rest ran, once each
        all_uids = {f"t{i:02d}" for i in range(WORKERS)} | {"total"}
        after = project.tasks(2)
        assert set(after) == all_uids
        for uid in done_before:
            assert (after[uid]["status"], after[uid]["reason"]) == ("cached", "cached"), uid
        for uid in all_uids - done_before:
            assert after[uid]["status"] == "succeeded", (uid, after[uid]["status"])
        ran = [r["uid"] for r in project.query(
            "SELECT t.uid FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.run_id = 2")]
        assert sorted(ran) == sorted(all_uids - done_before)
        for uid in blocked:
            assert after[uid]["reason"] == "previous-failed", (uid, after[uid]["reason"])

        # the killed run is recorded lost, its stuck tasks and their attempts too
        assert project.query("SELECT status FROM runs WHERE id = 1")[0]["status"] == "lost"
        statuses = project.statuses(1)
        for uid in blocked:
            assert statuses[uid] == "lost"
        assert not any(s in ("running", "waiting", "deciding") for s in statuses.values()), statuses
        unfinished = project.query(
            "SELECT t.uid, t.status AS task_status, a.status, a.started_at FROM attempts a "
            "JOIN tasks t ON t.id = a.task_id WHERE a.run_id = 1 AND t.status != 'succeeded'")
        assert {r["uid"] for r in unfinished} >= set(blocked)
        for r in unfinished:
            assert (r["status"], r["task_status"]) == ("lost", "lost"), dict(r)
            if stuck and r["uid"] not in blocked:  # queued behind the stuck ones: never started
                assert r["started_at"] is None, dict(r)
        shown = {r["id"]: r["status"] for r in json.loads(project.run("runs", "--json", check=True).stdout)}
        assert shown == {1: "lost", 2: "succeeded"}

        # the orphans (each task's process group: the task and its child) were stopped by the resume
        for pid, child in blocked.values():
            wait_until(lambda pid=pid, child=child: process_gone(pid) and process_gone(child), f"orphans {pid}/{child} to be stopped",
                       timeout=30)

        _check_every_recorded_output(project)
    finally:
        kill_leftovers([pid for pair in _blocked(project).values() for pid in pair])
