"""Failures: retries, missing outputs, removed outputs, upstream failure, stopping, --keep-going."""
from __future__ import annotations

import json

from conftest import py_src, wait_for_file

COUNTED = (
    "import os, sys\n"
    "n = int(open('count').read()) + 1 if os.path.exists('count') else 1\n"
    "open('count', 'w').write(str(n))\n"
    "print(f'attempt {n} found out.txt: {os.path.exists(\"out.txt\")}', file=sys.stderr)\n"
    "if n <= FAILURES: open('out.txt', 'w').write('partial'); sys.exit(1)\n"
    "open('out.txt', 'w').write(str(n))\n"
)


def _attempts(project, uid: str) -> list:
    return project.query(
        "SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.uid = ? AND a.run_id = ? "
        "ORDER BY a.number", (uid, project.last_run()["id"]))


def test_task_failing_twice_then_succeeding_with_retry_2(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(COUNTED.replace("FAILURES", "2"))}, outputs="out.txt", name="flaky", retry=2).result()
    """)
    project.run("run", "main", check=True)
    rows = _attempts(project, "flaky")
    assert [(r["number"], r["status"], r["exit_code"]) for r in rows] == [
        (1, "failed", 1), (2, "failed", 1), (3, "succeeded", 0)]
    assert project.statuses() == {"flaky": "succeeded"}
    assert project.read("out.txt") == "3"
    # each attempt has its own log
    assert len({r["stderr_path"] for r in rows}) == 3
    # and what a failed attempt wrote to its output was removed before the next one
    assert [(project.path / r["stderr_path"]).read_text() for r in rows] == [
        f"attempt {n} found out.txt: False\n" for n in (1, 2, 3)]


def test_retries_exhausted_fail_the_task(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(COUNTED.replace("FAILURES", "5"))}, outputs="out.txt", name="flaky").set_retry(1).start()
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    assert [r["status"] for r in _attempts(project, "flaky")] == ["failed", "failed"]
    assert project.statuses() == {"flaky": "failed"}
    assert project.last_run()["status"] == "failed"
    assert project.read("count") == "2"
    assert not project.exists("out.txt")


def test_exit_0_without_the_declared_output_fails(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('other.txt', 'w').write('not the output')")}, outputs="out.txt", name="lazy").start()
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    assert project.statuses() == {"lazy": "failed"}
    attempt, = _attempts(project, "lazy")
    assert attempt["status"] == "failed"
    assert attempt["exit_code"] == 0
    assert "out.txt" in attempt["error"]
    assert "lazy" in proc.stdout + proc.stderr
    assert not project.query("SELECT * FROM files WHERE role = 'output'")


def test_exit_0_with_one_of_two_outputs_missing_names_it_by_its_ledger_path(project):
    """The missing-output check names the first missing output as the ledger spells it (project-relative,
    whatever the task's cwd), and removes the output that was written."""
    (project.path / "sub").mkdir()
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('made.txt', 'w').write('x')")}, outputs=["made.txt", "out/never.txt"],
                    cwd="sub", name="half").start()
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    attempt, = _attempts(project, "half")
    assert (attempt["status"], attempt["exit_code"]) == ("failed", 0)
    assert attempt["error"] == "exit code 0 but declared output sub/out/never.txt was not written"
    assert not project.exists("sub/made.txt")


def test_exit_1_after_writing_the_output_fails_and_removes_it(project):
    code = "import sys; open('out.txt', 'w').write('half done'); sys.exit(1)"
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(code)}, outputs="out.txt", name="broken").start()
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    assert project.statuses() == {"broken": "failed"}
    attempt, = _attempts(project, "broken")
    assert (attempt["status"], attempt["exit_code"]) == ("failed", 1)
    assert not project.exists("out.txt")
    # and a later run does not take it as done
    project.run("run", "main", check=False)
    assert project.reasons() == {"broken": "previous-failed"}


def test_upstream_failure_propagates_and_is_reported(project):
    fail = ("import sys\nprint('some output')\nprint('first words', file=sys.stderr)\n"
            "print('the last words', file=sys.stderr)\nsys.exit(3)")
    project.flow(f"""
        import json
        def flow_main():
            a = sf.Task({py_src(fail)}, outputs="a.txt", name="a")
            b = sf.Task({py_src("open('b.txt', 'w').write('b')")}, outputs="b.txt", inputs=[a], name="b").start()
            c = sf.Task({py_src("open('c.txt', 'w').write('c')")}, outputs="c.txt", inputs=["b.txt"], name="c").start()
            seen = {{}}
            for t in (a, b, c):
                try:
                    t.result()
                    seen[t.name] = "ok"
                except sf.UpstreamFailed as e:
                    seen[t.name] = ["upstream", e.uid, isinstance(e, sf.TaskError)]
                except sf.TaskFailed as e:
                    seen[t.name] = ["failed", e.uid, isinstance(e, sf.TaskError)]
            json.dump(seen, open("seen.json", "w"))
            c.result()   # let the failure escape the flow: reported as the task, not a traceback
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    assert project.statuses() == {"a": "failed", "b": "upstream-failed", "c": "upstream-failed"}
    assert json.loads(project.read("seen.json")) == {
        "a": ["failed", "a", True], "b": ["upstream", "b", True], "c": ["upstream", "c", True]}
    assert {r["uid"] for r in project.query(
        "SELECT t.uid FROM attempts a JOIN tasks t ON t.id = a.task_id")} == {"a"}
    assert not project.exists("b.txt") and not project.exists("c.txt")
    assert project.last_run()["status"] == "failed"
    # the terminal names the task, its exit code, the last lines of stderr and the log's path
    shown = proc.stdout + proc.stderr
    attempt, = _attempts(project, "a")
    assert attempt["stderr_path"] == ".scriptflow/logs/1/a.1.err"
    assert (project.path / attempt["stderr_path"]).exists()
    failure_lines = [line for line in shown.splitlines() if "FAILED" in line or "failed" in line]
    assert any(" a" in line and "exit code 3" in line for line in failure_lines), shown
    assert "the last words" in shown
    assert "first words" in shown
    assert attempt["stderr_path"] in shown
    assert "Traceback" not in shown


def test_no_new_task_starts_after_a_failure(project):
    _failure_flow(project)
    proc = project.run("run", "main", "-j", "2", check=False)
    assert proc.returncode == 1
    statuses = project.statuses()
    # the task running when the failure happened finished; nothing new started
    assert statuses["slow"] == "succeeded" and project.exists("slow.txt")
    assert statuses["bad"] == "failed"
    assert statuses["dependant"] == "upstream-failed"
    assert statuses["later"] == "not-started" and statuses["after"] == "not-started"
    assert statuses["slow-next"] == "not-started" and not project.exists("next.txt")
    ran = {r["uid"] for r in project.query("SELECT t.uid FROM attempts a JOIN tasks t ON t.id = a.task_id")}
    assert ran == {"slow", "bad"}
    assert not project.exists("later.txt") and not project.exists("after.txt")
    assert json.loads(project.read("seen.json")) == {"later": "TaskNotStarted", "after": "TaskNotStarted"}


def test_keep_going_runs_independent_branches(project):
    _failure_flow(project)
    proc = project.run("run", "main", "-j", "2", "--keep-going", check=False)
    assert proc.returncode == 1
    assert project.statuses() == {"slow": "succeeded", "slow-next": "succeeded", "bad": "failed",
                                  "dependant": "upstream-failed", "later": "succeeded", "after": "succeeded"}
    assert project.read("after.txt") == "later+after"
    assert project.read("next.txt") == "slow+next"
    assert json.loads(project.read("seen.json")) == {"later": "ok", "after": "ok"}
    assert project.last_run()["status"] == "failed"
    # the short -k spelling too
    proc = project.run("run", "main", "-j", "2", "-k", check=False)
    assert proc.returncode == 1
    assert project.statuses()["after"] == "cached"
    assert project.statuses()["dependant"] == "upstream-failed"


def _failure_flow(project) -> None:
    """'bad' fails while 'slow' runs; 'later' and 'after' are started after the failure.

    'bad' starts failing only once 'slow' runs, and 'slow' ends only once the flow has seen
    the failure (they meet through files), so 'slow-next' becomes ready after the failure.
    """
    slow = ("open('slow.started', 'w').close()\n"
            + wait_for_file("failure.seen", "open('slow.txt', 'w').write('slow')"))
    bad = wait_for_file("slow.started", "import sys; sys.exit(1)")
    project.flow(f"""
        import json
        import concurrent.futures as cf
        def flow_main():
            slow = sf.Task({py_src(slow)}, outputs="slow.txt", name="slow").start()
            # waits on a task that is running when the failure happens
            slow_next = sf.Task({py_src("open('next.txt', 'w').write(open('slow.txt').read() + '+next')")},
                                outputs="next.txt", inputs=[slow], name="slow-next").start()
            bad = sf.Task({py_src(bad)}, name="bad").start()
            sf.Task({py_src("open('dep.txt', 'w').write('dep')")}, outputs="dep.txt", inputs=[bad],
                    name="dependant").start()
            cf.wait([bad])
            open("failure.seen", "w").close()
            later = sf.Task({py_src("open('later.txt', 'w').write('later')")}, outputs="later.txt",
                            name="later").start()
            after = sf.Task({py_src("open('after.txt', 'w').write(open('later.txt').read() + '+after')")},
                            outputs="after.txt", inputs=[later], name="after").start()
            cf.wait([slow, slow_next, later, after])
            seen = {{}}
            for t in (later, after):
                exc = t.exception()
                seen[t.name] = type(exc).__name__ if exc else "ok"
            json.dump(seen, open("seen.json", "w"))
    """)


def test_missing_source_input_fails_the_task_without_running_it(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('out.txt', 'w').write(open('absent.txt').read())")}, outputs="out.txt",
                    inputs=["absent.txt"], name="needs-input").start()
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    task = project.tasks()["needs-input"]
    assert task["status"] == "failed"
    assert task["reason"] == "input-missing:absent.txt"
    assert not project.query("SELECT * FROM attempts")
    assert "absent.txt" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bag_in_a_plain_flow_waits_for_all_and_raises_the_failure(project):
    slow_ok = wait_for_file("bad.done", "open('ok.txt', 'w').write('ok')")
    project.flow(f"""
        import json
        def flow_main():
            ok = sf.Task({py_src(slow_ok)}, outputs="ok.txt", name="ok")
            bad = sf.Task({py_src("import sys; open('bad.done', 'w').close(); sys.exit(2)")}, name="bad")
            try:
                sf.bag(ok, bad)
                seen = "no exception"
            except sf.TaskFailed as e:
                seen = [type(e).__name__, e.uid, ok.done(), bad.done()]
            json.dump(seen, open("seen.json", "w"))
    """)
    proc = project.run("run", "main", "-j", "2", check=False)
    assert proc.returncode == 1
    assert json.loads(project.read("seen.json")) == ["TaskFailed", "bad", True, True]
    assert project.statuses() == {"ok": "succeeded", "bad": "failed"}


def test_bag_of_tasks_already_settled_returns_them_or_raises_the_first_failure_in_its_order(project):
    """``sf.bag`` reads settled tasks' results directly (``bag.settled_results``): what it returns
    and raises must be what waiting for them gives."""
    project.flow(f"""
        import json
        def flow_main():
            ok = sf.Task({py_src("open('ok.txt', 'w').write('ok')")}, outputs="ok.txt", name="ok")
            a = sf.Task({py_src("import sys; sys.exit(3)")}, name="a")
            b = sf.Task({py_src("import sys; sys.exit(4)")}, name="b")
            for t in (ok, a, b):
                t.exception()  # each settled before sf.bag is called
            seen = [[t.uid for t in sf.bag(ok)], sf.bag([ok])[0] is ok]
            for order in ((ok, b, a), (a, ok, b)):
                try:
                    sf.bag(*order)
                except sf.TaskFailed as e:
                    seen.append(e.uid)
            json.dump(seen, open("seen.json", "w"))
    """)
    proc = project.run("run", "main", "-j", "2", "--keep-going", check=False)  # b starts after a failed
    assert proc.returncode == 1
    assert json.loads(project.read("seen.json")) == [["ok"], True, "b", "a"]


def test_command_that_cannot_start_fails_with_a_clear_message(project):
    project.flow("""
        def flow_main():
            sf.Task(["no-such-command-for-scriptflow-tests", "x"], outputs="o.txt", name="nocmd").start()
    """)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1
    assert project.statuses() == {"nocmd": "failed"}
    attempt, = _attempts(project, "nocmd")
    assert attempt["status"] == "failed"
    assert "no-such-command-for-scriptflow-tests" in attempt["error"]
    shown = proc.stdout + proc.stderr
    assert "nocmd" in shown and "no-such-command-for-scriptflow-tests" in shown
    assert "Traceback" not in shown
