"""Bad task definitions: one line naming the flow file line and the task, no traceback, and nothing
the ledger held before is lost. They surface while the flow runs, so the run is recorded failed (exit 1)."""
from __future__ import annotations

import pytest
from conftest import py_src


def _error_line(project, body: str, line: int) -> str:
    """Write a flow whose ``body`` starts on sflow.py line ``line``, run it, return the error (which
    must name the body's last line)."""
    project.write("sflow.py", "import scriptflow as sf\n" + "\n" * (line - 3) + "def flow_main():\n" + body + "\n")
    proc = project.run("run", "main")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    last = line + body.count("\n")
    assert lines[0].startswith(f"scriptflow: error: sflow.py:{last}: task "), lines[0]
    return lines[0]


@pytest.mark.parametrize("body, expected", [
    ("    sf.Task('').start()", "the command is empty"),
    ("    sf.Task('   ', shell=True, name='blank').start()", "task blank: the command is empty"),
    ("    sf.Task([], name='nothing').start()", "task nothing: the command is empty"),
    ("    sf.Task(['', 'x'], name='noprog').start()", "task noprog: the program name (argument 1) is empty"),
    ("    sf.Task({'python': 'x.py'}, name='d').start()",
     "task d: the command must be a string or a list of arguments, not a dict"),
    ("    sf.Task({'python', 'x.py'}, name='s').start()",
     "task s: the command must be a string or a list of arguments, not a set"),
    ("    sf.Task(None, name='n').start()", "task n: has no command"),
    ("    sf.Task(['echo', None], name='none-item').start()", "task none-item: argument 2 of the command is None"),
    ("    sf.Task(['echo', ['a', 'b']], name='nested').start()",
     "task nested: argument 2 of the command is a list"),
    ("    sf.Task(['echo', b'x'], name='raw').start()", "task raw: argument 2 of the command is a bytes"),
    ("    sf.Task('echo \"unbalanced', name='quote').start()", "task quote: cannot split the command"),
    ("    sf.Task(['echo'], outputs=[None], name='noout').start()", "task noout: output 1 is None"),
    ("    sf.Task(['echo'], inputs=['a', 3.5], name='badin').start()", "task badin: input 2 is a float"),
])
def test_bad_command_or_paths_is_one_line_naming_line_and_task(project, body, expected):
    assert expected in _error_line(project, body, 7)


def test_a_cycle_of_task_objects_is_named(project):
    body = (
        f"    a = sf.Task({py_src('pass')}, name='a')\n"
        f"    b = sf.Task({py_src('pass')}, name='b', inputs=a)\n"
        f"    c = sf.Task({py_src('pass')}, name='c', inputs=b)\n"
        "    a.input(c)\n"
        "    a.start()"
    )
    assert "task a: dependency cycle: a -> c -> b -> a" in _error_line(project, body, 9)


def test_a_task_listing_itself_as_input_is_a_cycle(project):
    body = f"    a = sf.Task({py_src('pass')}, name='a')\n    a.input(a)\n    a.result()"
    assert "task a: dependency cycle: a -> a" in _error_line(project, body, 9)


def test_a_task_consuming_its_own_output_is_refused(project):
    body = f"    sf.Task({py_src('pass')}, inputs='data.txt', outputs='./data.txt', name='loop').start()"
    assert "output data.txt is also an input of the task" in _error_line(project, body, 5)


def test_a_bad_task_keeps_what_the_ledger_already_holds(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('ok.txt', 'w').write('ok')")}, outputs="ok.txt", name="ok").start()
    """)
    project.run("run", "main", check=True)
    _error_line(project, "    sf.Task([None], name='bad').start()", 5)
    assert project.query("SELECT uid, status FROM tasks WHERE run_id = 1")[0]["status"] == "succeeded"
    project.flow(f"""
        def flow_main():
            sf.Task({py_src("open('ok.txt', 'w').write('ok')")}, outputs="ok.txt", name="ok").start()
    """)
    project.run("run", "main", check=True)
    assert project.statuses() == {"ok": "cached"}


def test_a_long_chain_started_from_its_end_does_not_overflow_the_stack(project):
    project.flow(f"""
        def flow_main():
            prev = None
            for i in range(3000):
                prev = sf.Task({py_src('pass')}, name=f"t{{i}}", inputs=prev, quiet=True)
            prev.start()
            print("started", prev.status)
    """)
    proc = project.run("run", "main", "--dry-run", check=True)
    assert "3000 tasks would run" in proc.stdout or "3000 of 3000" in proc.stdout
