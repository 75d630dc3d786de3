"""Per-task ``timeout=``: a real hanging command is stopped (its whole process group), the attempt
is recorded ``timed-out``, retries apply, and the timeout is not part of the fingerprint."""
from __future__ import annotations

import pytest
from conftest import PY, kill_leftovers, process_gone, py_src, wait_until

# A task that starts a child in its process group, writes both pids, and hangs.
HANGS = (
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "n = len([f for f in os.listdir('.') if f.startswith('pids')])\n"
    "open(f'pids{n}', 'w').write(f'{os.getpid()} {child.pid}')\n"
    "time.sleep(120)\n"
)
IGNORES_TERM = (
    "import os, signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open('pids0', 'w').write(str(os.getpid()))\n"
    "time.sleep(120)\n"
)


def _pids(project) -> list[int]:
    return [int(p) for f in sorted(project.path.glob("pids*")) for p in f.read_text().split()]


def _attempts(project, uid: str) -> list:
    return project.query("SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.uid = ? "
                         "AND a.run_id = ? ORDER BY a.number", (uid, project.last_run()["id"]))


@pytest.mark.parametrize("timeout", ["1", "'0:01'"])
def test_a_hanging_task_is_stopped_at_its_timeout_and_retried(project, timeout):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(HANGS)}, outputs="never.txt", name="hangs", timeout={timeout}, retry=1).start()
            sf.Task({py_src("open('other.txt', 'w').write('ok')")}, outputs="other.txt", name="other").start()
    """)
    try:
        proc = project.run("run", "main", "-k", check=False, timeout=120)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        rows = _attempts(project, "hangs")
        assert [(r["status"], r["error"]) for r in rows] == [("timed-out", "timed out after 1 s")] * 2
        assert project.statuses() == {"hangs": "failed", "other": "succeeded"}
        assert "timed out after 1 s" in proc.stdout
        pids = _pids(project)
        assert len(pids) == 4
        for pid in pids:  # the task and the child it started: the whole process group is gone
            wait_until(lambda pid=pid: process_gone(pid), f"process {pid} to be gone", timeout=10)
    finally:
        kill_leftovers(_pids(project))


def test_a_task_ignoring_sigterm_is_killed_after_the_grace(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(IGNORES_TERM)}, name="stubborn", timeout=0.5).start()
    """)
    try:
        project.run("run", "main", check=False, timeout=120)
        [row] = _attempts(project, "stubborn")
        assert row["status"] == "timed-out" and row["exit_code"] == -9
        assert all(process_gone(pid) for pid in _pids(project))
    finally:
        kill_leftovers(_pids(project))


def test_time_is_enforced_locally_as_the_timeout(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(HANGS)}, name="walltime", time="0:01").start()
    """)
    try:
        project.run("run", "main", check=False, timeout=120)
        assert [r["status"] for r in _attempts(project, "walltime")] == ["timed-out"]
    finally:
        kill_leftovers(_pids(project))


def test_timeout_is_not_part_of_the_fingerprint_and_a_fast_task_is_unaffected(project):
    write = py_src("open('out.txt', 'w').write('done')")
    project.flow(f"""
        def flow_main():
            sf.Task({write}, outputs="out.txt", name="quick", timeout=60).start()
    """)
    project.run("run", "main", check=True)
    assert [r["status"] for r in _attempts(project, "quick")] == ["succeeded"]
    assert '"timeout":60' in project.tasks()["quick"]["resources"]
    project.flow(f"""
        def flow_main():
            sf.Task({write}, outputs="out.txt", name="quick", timeout="2:00:00").start()
    """)
    project.run("run", "main", check=True)
    assert project.statuses() == {"quick": "cached"}


@pytest.mark.parametrize("value, message", [
    ("'soon'", "timeout must be seconds (a number) or 'MM:SS' / 'H:MM:SS' text, got 'soon'"),
    ("0", "timeout must be positive, got 0"),
    ("True", "timeout must be seconds"),
])
def test_a_bad_timeout_is_one_line_naming_the_task(project, value, message):
    project.write("sflow.py", f"import scriptflow as sf\ndef flow_main():\n    sf.Task([{PY!r}], name='t', "
                              f"timeout={value}).start()\n")
    proc = project.run("run", "main", check=False)
    assert proc.stderr.strip() == f"scriptflow: error: sflow.py:3: task t: {message}" or \
        proc.stderr.startswith(f"scriptflow: error: sflow.py:3: task t: {message}"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_slow_hook_of_the_task_before_never_times_out_the_next_one(project) -> None:
    """At -j 1 the one slot thread records the first task's success and runs its 3 s hook; the
    next task's 2 s limit covers its own 0.5 s command only, never that hook (recording on the
    slot thread while a command with a limit runs would let the hook's time count against it)."""
    project.flow("""
        import time

        @sf.on("task_finished")
        def slow(event):
            if event.uid == "first":
                time.sleep(3)

        def flow_main():
            first = sf.Task(["sleep", "1"], name="first").start()  # the second is queued meanwhile
            second = sf.Task(["sleep", "0.5"], name="second", timeout=2).start()
            sf.bag(first, second)
    """)
    project.run("run", "main", "-j", "1")
    [second] = _attempts(project, "second")
    assert second["status"] == "succeeded" and second["error"] is None
    [first] = _attempts(project, "first")
    assert second["started_at"] > first["ended_at"]
