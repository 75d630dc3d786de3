"""The quick lane (core/quicklane.py): a no-op's tasks are found up to date in one pass, and
whatever that pass cannot vouch for takes the general path, which answers as before.

The other no-op tests (test_skip.py, test_reuses.py, test_fast_paths.py, test_input_changes.py)
run through the lane too; these cover the cases where it must step aside.
"""
from __future__ import annotations

from conftest import py_src

COPY_FLOW = "open('gen.py', 'w').write(open('sflow.py').read())"


def test_a_cached_task_whose_output_is_now_the_flow_file_is_still_refused(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(COPY_FLOW)}, outputs="gen.py", name="gen").result()
    """)
    project.run("run", "main", check=True)
    again = project.run("run", "main", check=True)
    assert "all 1 tasks up to date" in again.stdout
    runs = len(project.query("SELECT id FROM runs"))
    # gen.py now holds the same flow: run from it, the up-to-date task declares the flow file as output
    refused = project.run("run", "--file", "gen.py", "main", check=False)
    assert "output gen.py is the flow file" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert project.read("gen.py") == project.read("sflow.py")  # nothing removed
    reuses = project.query("SELECT r.run_id FROM reuses r JOIN runs ON runs.id = r.run_id WHERE runs.id > ?",
                           (runs,))
    assert reuses == []


def test_an_input_that_a_created_task_produces_starts_that_task_on_a_no_op(project):
    def flow(producer_text: str) -> None:
        project.flow(f"""
            def flow_main():
                sf.Task({py_src(f"open('a.txt', 'w').write({producer_text!r})")}, outputs="a.txt", name="p")
                sf.Task({py_src("open('b.txt', 'w').write(open('a.txt').read() + '!')")}, inputs="a.txt",
                        outputs="b.txt", name="c").result()
        """)

    flow("one")
    project.run("run", "main", check=True)
    assert project.read("b.txt") == "one!"
    noop = project.run("run", "main", check=True)
    assert project.statuses() == {"p": "cached", "c": "cached"}
    assert "never started" not in noop.stdout + noop.stderr
    flow("two")  # the producer changed: Make's rule must still start it before its consumer
    project.run("run", "main", check=True)
    assert project.reasons() == {"p": "command-changed", "c": "input-changed:a.txt"}
    assert project.read("b.txt") == "two!"


def test_a_second_task_of_a_reused_uid_is_bound_or_refused_as_in_any_run(project):
    """The lane lets go of a reused task's earlier row (history.forget): a second task of that
    uid in the same run must still be the same task (one run, one row) or a clear error, never
    decided afresh against a row that is gone."""
    def flow(second: str) -> None:
        project.flow(f"""
            def flow_main():
                a = sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="t").start()
                b = sf.Task({second}, inputs="in.txt", outputs="out.txt", name="t").start()
                sf.bag(a, b)
        """)

    project.write("in.txt", "data\n")
    flow('["cp", "in.txt", "out.txt"]')
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    assert project.statuses() == {"t": "cached"}
    assert len(project.query("SELECT * FROM reuses WHERE run_id = (SELECT max(id) FROM runs)")) == 1
    flow('["cp", "-p", "in.txt", "out.txt"]')
    refused = project.run("run", "main", check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "two different tasks are named 't' (command differs)" in refused.stderr
    assert project.read("out.txt") == "data\n"
