"""Inputs that change while their task runs: the result is not trusted, recorded, and rerun later."""
from __future__ import annotations

from conftest import py_src, sha256_file, wait_for_file

# The consumer announces it started, waits until its input was edited, then copies it.
CONSUMER = (
    "open('consumer-started', 'w').close()\n"
    + wait_for_file("edited", "open('out.txt', 'w').write(open('in.txt').read())")
)
# A sibling edits the consumer's input while the consumer runs.
EDITOR = wait_for_file("consumer-started", "open('in.txt', 'w').write('B'); open('edited', 'w').close()")


def _attempts(project, uid: str) -> list:
    return project.query(
        "SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.uid = ? AND a.run_id = ? "
        "ORDER BY a.number", (uid, project.last_run()["id"]))


def test_input_edited_by_a_sibling_while_the_consumer_runs_fails_it_and_a_later_run_reruns_it(project):
    project.write("in.txt", "A")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(CONSUMER)}, inputs="in.txt", outputs="out.txt", name="consumer").start()
            sf.Task({py_src(EDITOR)}, name="editor").start()
    """)
    proc = project.run("run", "main", "-j", "2", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert project.statuses() == {"consumer": "failed", "editor": "succeeded"}
    [attempt] = _attempts(project, "consumer")
    assert attempt["status"] == "failed"
    assert "input in.txt changed while the task ran" in attempt["error"]
    assert project.tasks()["consumer"]["reason"] == "input-changed-while-running:in.txt"
    assert "in.txt changed while the task ran" in proc.stdout
    assert not project.exists("out.txt")  # an untrusted output is not left behind

    # The input is put back as it was when the consumer was decided: it must run again.
    for name in ("in.txt", "consumer-started", "edited"):
        (project.path / name).unlink()
    project.write("in.txt", "A")
    project.write("edited", "")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(CONSUMER)}, inputs="in.txt", outputs="out.txt", name="consumer").start()
    """)
    project.run("run", "main", check=True)
    assert project.statuses() == {"consumer": "succeeded"}
    assert project.read("out.txt") == "A"
    report = project.run("report", "out.txt", check=True).stdout
    assert "consumer" in report


def test_task_editing_its_own_input_is_retried_and_the_ledger_records_what_the_retry_read(project):
    # The first attempt appends to its own input (once), so its output is not trusted; the retry
    # reads the edited input and succeeds: the input rows and the fingerprint describe that content.
    edit_once = (
        "import os\n"
        "data = open('in.txt').read()\n"
        "if not os.path.exists('edited'):\n"
        "    open('in.txt', 'a').write('+edit'); open('edited', 'w').close()\n"
        "open('out.txt', 'w').write(data)\n"
    )
    project.write("in.txt", "A")
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(edit_once)}, inputs="in.txt", outputs="out.txt", name="self-editor", retry=1).start()
    """)
    project.run("run", "main", check=True)
    assert [(a["status"], "in.txt changed" in (a["error"] or "")) for a in _attempts(project, "self-editor")] == [
        ("failed", True), ("succeeded", False)]
    assert project.read("out.txt") == "A+edit"
    rows = project.query("SELECT sha256 FROM files WHERE role = 'input' AND path = 'in.txt' AND run_id = ?",
                         (project.last_run()["id"],))
    assert [r["sha256"] for r in rows] == [sha256_file(project.path / "in.txt")]
    project.run("run", "main", check=True)
    assert project.statuses() == {"self-editor": "cached"}


def test_task_that_always_edits_its_input_fails_without_looping(project):
    project.write("in.txt", "A")
    append = "open('in.txt', 'a').write('x'); open('out.txt', 'w').write('done')"
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(append)}, inputs="in.txt", outputs="out.txt", name="appender", retry=2).start()
    """)
    project.run("run", "main", check=False)
    assert [a["status"] for a in _attempts(project, "appender")] == ["failed", "failed", "failed"]
    assert project.read("in.txt") == "Axxx"
    project.run("run", "main", check=False)
    assert project.reasons()["appender"] != "cached"


def test_output_of_an_upstream_task_edited_while_the_consumer_runs(project):
    # The consumer's input is another task's output, edited behind the engine's back by a sibling.
    project.flow(f"""
        def flow_main():
            up = sf.Task({py_src("open('in.txt', 'w').write('A')")}, outputs="in.txt", name="up")
            sf.Task({py_src(CONSUMER)}, inputs=up, outputs="out.txt", name="consumer").start()
            up.result()
            sf.Task({py_src(EDITOR)}, name="editor").start()
    """)
    project.run("run", "main", "-j", "2", check=False)
    assert project.statuses()["consumer"] == "failed"
    assert "in.txt changed while the task ran" in _attempts(project, "consumer")[0]["error"]
