"""t.value from a JSON output or parse=, and sf.call function tasks cached across runs (real runs)."""
from __future__ import annotations

import json

from conftest import py_src

FLOW = f'''
import json, os

def fit(n, scale=1):
    """Runs in its own process: the side-effect file counts the calls."""
    with open("calls.txt", "a") as f:
        f.write(f"{{os.getpid()}}\\n")
    return {{"n": n, "total": sum(range(n)) * scale}}

def crash():
    os._exit(9)

def flow_main():
    r = sf.Task({py_src("import json; json.dump({'loss': 0.25}, open('r.json', 'w'))")},
                outputs="r.json", value="r.json", name="r")
    p = sf.Task({py_src("open('p.txt', 'w').write('7')")}, outputs="p.txt", name="p",
                parse=lambda t: int(open(t.output_file).read()))
    a = sf.call(fit, 4, scale=10)
    b = sf.call(fit, 5)
    sf.bag(a, b)
    open("values.json", "w").write(json.dumps([r.value, p.value, a.value, b.value, os.getpid()]))

def flow_crash():
    sf.call(crash).result()
'''


def test_values_and_function_tasks_cached_on_the_second_run(project):
    project.flow(FLOW)
    project.run("run", "main", check=True)
    values = json.loads(project.read("values.json"))
    assert values[:4] == [{"loss": 0.25}, 7, {"n": 4, "total": 60}, {"n": 5, "total": 10}]
    calls = project.read("calls.txt").split()
    assert len(calls) == 2 and str(values[4]) not in calls  # separate processes, not the engine's
    project.run("run", "main", check=True)
    assert json.loads(project.read("values.json"))[:4] == values[:4]
    assert len(project.read("calls.txt").split()) == 2  # not called again: the value came from the ledger's output
    assert set(project.statuses().values()) == {"cached"}
    # the flow file is an input: editing it runs the functions again
    project.write("sflow.py", project.read("sflow.py") + "\n# edited\n")
    project.run("run", "main", check=True)
    assert len(project.read("calls.txt").split()) == 4


def test_a_crashing_function_fails_its_task_not_the_engine(project):
    project.flow(FLOW)
    proc = project.run("run", "crash", "--classic", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (status,) = project.statuses().values()
    assert status == "failed"
    assert project.last_run()["status"] == "failed"


def test_value_errors_are_one_line(project):
    project.flow('''
        def flow_main():
            sf.Task("true", outputs="a.json", value="b.json", name="a")
    ''')
    proc = project.run("run", "main", check=False)
    assert "task a: value= 'b.json' is not one of its outputs" in proc.stderr, proc.stderr
    project.flow('''
        def flow_main():
            sf.call(lambda: 1)
    ''')
    proc = project.run("run", "main", check=False)
    assert "sf.call: <function" in proc.stderr and "lambdas and nested functions" in proc.stderr, proc.stderr
