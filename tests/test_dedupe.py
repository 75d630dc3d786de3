"""One task, one execution: the same task created twice runs once; a uid clash names both lines."""
from __future__ import annotations

from conftest import py_src

PREP = py_src("import os; open('count.txt', 'a').write('x'); open('clean.csv', 'w').write('c')")


def test_the_same_task_created_twice_runs_once(project):
    project.flow(f'''
        def prep():
            return sf.Task({PREP}, outputs="clean.csv", name="prep")

        def flow_main():
            a = prep().start()
            b = prep()            # created again elsewhere in the flow: the same task
            fit = sf.Task({py_src("open('fit.txt', 'w').write('f')")}, inputs=[b], outputs="fit.txt", name="fit")
            assert b.result() is b and a.result() is a
            assert b.status == "succeeded", b.status
            fit.result()
            unnamed = [sf.Task({py_src("open('u.txt', 'w').write('u')")}, outputs="u.txt") for _ in range(3)]
            sf.bag(*unnamed)
    ''')
    proc = project.run("run", "main", "--classic", check=True)
    assert project.read("count.txt") == "x", proc.stdout
    statuses = project.statuses()
    assert statuses["prep"] == "succeeded" and statuses["fit"] == "succeeded"
    assert len(statuses) == 3  # prep, fit, and the unnamed task once
    assert project.query("SELECT COUNT(*) AS n FROM attempts")[0]["n"] == 3


def test_a_failed_duplicate_raises_like_the_first(project):
    project.flow(f'''
        def flow_main():
            a = sf.Task({py_src("import sys; sys.exit(3)")}, name="bad").start()
            b = sf.Task({py_src("import sys; sys.exit(3)")}, name="bad")
            try:
                b.result()
            except sf.TaskFailed as exc:
                open("caught.txt", "w").write(exc.uid)
    ''')
    project.run("run", "main", check=False)
    assert project.read("caught.txt") == "bad"
    assert project.query("SELECT COUNT(*) AS n FROM attempts")[0]["n"] == 1


def test_same_uid_different_definition_names_both_lines(project):
    project.flow(f'''
        def make(n):
            return sf.Task({py_src("pass")} + [str(n)], name="solve")

        def flow_main():
            make(1).start()
            make(2).start()
    ''')
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 1, proc.stderr  # the flow failed: the run is recorded failed
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert ("two different tasks are named 'solve' (command differs): created at sflow.py:4 and at sflow.py:4"
            in line), line
    project.flow(f'''
        def flow_main():
            sf.Task({py_src("pass")}, name="s", retry=1).start()
            sf.Task({py_src("pass")}, name="s").start()
    ''')
    line = project.run("run", "main", check=False).stderr
    assert "(retry differs): created at sflow.py:4 and at sflow.py:5" in line, line
    assert project.last_run()["status"] == "failed"
