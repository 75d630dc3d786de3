"""Flow parameters: typed conversion, one-line errors, listing, recording and resume (real CLI runs)."""
from __future__ import annotations

import json

FLOW = '''
from pathlib import Path

def flow_p(n: int, rate: float = 0.5, fast: bool = False, xs: list[int] = [1], where: Path = Path("a"),
           model="probit"):
    """Write the parameters, with their types."""
    values = {"n": n, "rate": rate, "fast": fast, "xs": xs, "where": str(where), "model": model}
    types = {k: type(v).__name__ for k, v in dict(values, where=where).items()}
    import json
    sf.Task(["python", "-c", f"open('out.json','w').write({json.dumps(json.dumps([values, types]))})"],
            outputs="out.json", name="write").result()
'''


def test_params_are_converted_by_annotation(project):
    project.flow(FLOW)
    project.run("run", "p", "--param", "n=10", "--param", "fast=yes", "-p", "xs=1,2,3", "-p", "where=d/e",
                "-p", "rate=2.5", check=True)
    values, types = json.loads(project.read("out.json"))
    assert values == {"n": 10, "rate": 2.5, "fast": True, "xs": [1, 2, 3], "where": "d/e", "model": "probit"}
    assert types == {"n": "int", "rate": "float", "fast": "bool", "xs": "list", "where": "PosixPath",
                     "model": "str"}
    run = project.last_run()
    assert json.loads(run["flow_args"]) == ["n=10", "fast=yes", "xs=1,2,3", "where=d/e", "rate=2.5"]


def test_old_form_is_converted_too(project):
    project.flow(FLOW)
    project.run("run", "p", "7", "model=logit", check=True)
    values, _ = json.loads(project.read("out.json"))
    assert values["n"] == 7 and values["model"] == "logit"


def test_bad_parameters_are_one_line_errors_and_record_nothing(project):
    project.flow(FLOW)
    cases = {
        ("-p", "n=ten"): "flow p: parameter n expects int, got 'ten'",
        ("-p", "n=1", "-p", "nope=3"): "flow p has no parameter 'nope' (parameters: n, rate, fast, xs, where, model)",
        ("-p", "rate=1"): "flow p: missing parameter n",
        ("-p", "n=1", "-p", "fast=maybe"): "flow p: parameter fast expects bool, got 'maybe'",
        ("-p", "n=1", "-p", "xs=1,x"): "flow p: parameter xs expects list[int], got '1,x'",
        ("-p", "n"): "--param 'n': expected NAME=VALUE",
        ("1", "-p", "n=2"): "flow p: parameter n given twice",
    }
    for args, message in cases.items():
        proc = project.run("run", "p", *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("scriptflow: error: ") and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not project.exists(".scriptflow/ledger.db") or project.query("SELECT * FROM runs") == []


def test_list_params_shows_types_and_defaults(project):
    project.flow(FLOW + "\ndef flow_plain():\n    pass\n")
    out = project.run("list", "--params", check=True).stdout
    assert "    n: int (required)" in out
    assert "    rate: float = 0.5" in out
    assert "    fast: bool = false" in out
    assert "    xs: list[int] = 1" in out
    assert "    model: str = probit" in out
    assert "plain" in out
    assert "n: int" not in project.run("list", check=True).stdout


def test_resume_reuses_the_recorded_parameters(project):
    project.flow('''
import os
def flow_r(n: int):
    sf.Task(f"python -c \\"open('r.txt','w').write(str({n} * 2))\\"", outputs="r.txt", name="r").result()
    if not os.path.exists("ok"):
        raise RuntimeError("not yet")
''')
    project.run("run", "r", "-p", "n=21", check=False)
    assert project.read("r.txt") == "42"
    project.write("ok", "")
    proc = project.run("resume", check=True)
    assert json.loads(project.last_run()["flow_args"]) == ["n=21"]
    assert project.statuses() == {"r": "cached"}, proc.stdout
