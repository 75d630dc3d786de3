"""Flows without Python: scriptflow.toml / scriptflow.json run by the real CLI, into the real ledger.

A flow file's tasks are ordinary tasks of the one engine: the same ledger rows
as the Python flow that creates the same tasks, the same skip and resume.
"""
from __future__ import annotations

import json
import shutil

from conftest import ORIGINAL_EXAMPLE, REPO, Project, py

TOML_EXAMPLE = REPO / "examples" / "simple-toml" / "scriptflow.toml"


def toml_str(value) -> str:
    """A Python string or list of strings as TOML (JSON's escapes are TOML's)."""
    return json.dumps(value)


def ledger_shape(project, run_id: int) -> dict[str, dict]:
    """What a run recorded per task, without ids, times and hosts."""
    shape: dict[str, dict] = {}
    for row in project.query("SELECT * FROM run_tasks WHERE run_id = ?", (run_id,)):  # cached ones included
        files = project.query("SELECT role, path, sha256 FROM files WHERE task_id = ? ORDER BY role, path",
                              (row["id"],))
        attempts = project.query("SELECT status, exit_code FROM attempts WHERE task_id = ? AND run_id = ?",
                                 (row["id"], run_id))
        shape[row["uid"]] = {
            "command": json.loads(row["command"]), "shell": row["shell"], "cwd": row["cwd"], "env": row["env"],
            "executor": row["executor"], "resources": row["resources"], "max_retries": row["max_retries"],
            "inputs": json.loads(row["inputs"]), "outputs": json.loads(row["outputs"]),
            "fingerprint": row["fingerprint"], "status": row["status"], "reason": row["reason"],
            "files": [tuple(f) for f in files], "attempts": [tuple(a) for a in attempts],
        }
    return shape


WRITE_1 = py("open('test_1.txt', 'w').write('5')")
WRITE_2 = py("open('test_2.txt', 'w').write('4')")
SUM = py("a = int(open('test_1.txt').read()); b = int(open('test_2.txt').read()); "
         "open('final.txt', 'w').write(f'{a + b}\\n')")


def test_toml_flow_records_what_the_python_flow_records(tmp_path):
    """The README example's shape (two solvers, then their sum) as sflow.py and as scriptflow.toml:
    identical task rows (commands, fingerprints, inputs, outputs, statuses), files and attempts."""
    python = Project(tmp_path / "python")
    python.flow(f"""
        async def flow_sleepit():
            t1 = sf.Task({WRITE_1!r})
            t1.output("test_1.txt").uid("solve-1")
            t2 = sf.Task({WRITE_2!r})
            t2.output("test_2.txt").uid("solve-2")
            await sf.bag(t1, t2)
            tfinal = sf.Task({SUM!r})
            tfinal.output("final.txt").uid("final").add_deps([t1.output_file, t2.output_file])
            await tfinal
    """)
    toml = Project(tmp_path / "toml")
    toml.write("scriptflow.toml", f"""
        [flow.sleepit]
        description = "two solvers, then their sum"

        [[flow.sleepit.task]]
        name = "solve-1"
        cmd = {toml_str(WRITE_1)}
        outputs = "test_1.txt"

        [[flow.sleepit.task]]
        name = "solve-2"
        cmd = {toml_str(WRITE_2)}
        outputs = "test_2.txt"

        [[flow.sleepit.task]]
        name = "final"
        cmd = {toml_str(SUM)}
        inputs = ["test_1.txt", "test_2.txt"]
        outputs = "final.txt"
    """)
    for p in (python, toml):
        p.run("run", "sleepit", "--classic", check=True)
        assert p.read("final.txt") == "9\n"
    first = ledger_shape(toml, toml.last_run()["id"])
    assert first == ledger_shape(python, python.last_run()["id"])
    assert {uid: t["status"] for uid, t in first.items()} == dict.fromkeys(("solve-1", "solve-2", "final"),
                                                                        "succeeded")
    assert first["final"]["inputs"] == ["test_1.txt", "test_2.txt"]
    run = toml.last_run()
    assert (run["flow"], run["flow_file"], run["status"]) == ("sleepit", "scriptflow.toml", "succeeded")

    # A second run is all cached, for both, and again recorded alike.
    for p in (python, toml):
        out = p.run("run", "sleepit", "--classic", check=True)
        assert "up to date" in out.stdout
    second = ledger_shape(toml, toml.last_run()["id"])
    assert second == ledger_shape(python, python.last_run()["id"])
    assert {t["status"] for t in second.values()} == {"cached"}
    assert all(t["attempts"] == [] for t in second.values())

    listed = toml.run("list", check=True)
    assert listed.stdout.split() == ["sleepit", "two", "solvers,", "then", "their", "sum"]


def test_shipped_toml_example_matches_the_original_example(tmp_path):
    """examples/simple-toml is the README example: same uids, files, dependencies and skips."""
    original, project = Project(tmp_path / "original"), Project(tmp_path / "toml")
    for p in (original, project):
        p.path.mkdir()
    shutil.copy(ORIGINAL_EXAMPLE, original.path / "sflow.py")
    shutil.copy(TOML_EXAMPLE, project.path / "scriptflow.toml")
    for p in (original, project):
        p.run("run", "sleepit", "--classic", check=True)
        assert p.read("final.txt").strip() == "9"
    mine, theirs = (ledger_shape(p, p.last_run()["id"]) for p in (project, original))
    assert set(mine) == set(theirs) == {"solve-1", "solve-2", "final"}
    for uid in mine:
        for key in ("inputs", "outputs", "status", "reason", "files", "attempts", "shell", "executor"):
            assert mine[uid][key] == theirs[uid][key], (uid, key)
    assert mine["solve-1"]["command"] == theirs["solve-1"]["command"]
    project.run("run", "sleepit", "--classic", check=True)
    assert set(project.statuses().values()) == {"cached"}


def test_dependency_chain_from_files_and_after(project):
    """c reads b's output, b reads a's; d names a in `after`. Each starts after what it waits for,
    whatever the order in the file; d gets a's output as an input."""
    project.write("scriptflow.toml", f"""
        [[task]]
        name = "c"
        cmd = {toml_str(py("open('c.txt', 'w').write(open('b.txt').read() + 'c')"))}
        inputs = "b.txt"
        outputs = "c.txt"

        [[task]]
        name = "b"
        cmd = {toml_str(py("open('b.txt', 'w').write(open('a.txt').read() + 'b')"))}
        inputs = "a.txt"
        outputs = "b.txt"

        [[task]]
        name = "a"
        cmd = {toml_str(py("open('a.txt', 'w').write('a')"))}
        outputs = "a.txt"

        [[task]]
        name = "d"
        cmd = "echo d"
        after = ["a"]
    """)
    project.run("run", "main", "--classic", check=True)
    assert project.read("c.txt") == "abc"
    assert project.statuses() == dict.fromkeys("abcd", "succeeded")
    tasks = project.tasks()
    assert json.loads(tasks["d"]["inputs"]) == ["a.txt"]
    times = {r["uid"]: r for r in project.query(
        "SELECT t.uid, a.started_at, a.ended_at FROM attempts a JOIN tasks t ON t.id = a.task_id "
        "WHERE a.run_id = ?", (project.last_run()["id"],))}
    for later, earlier in (("b", "a"), ("c", "b"), ("d", "a")):
        assert times[later]["started_at"] >= times[earlier]["ended_at"], (later, earlier)

    # Edit a's command: a reruns, b and c rerun because their inputs changed, d too (a.txt is its input).
    text = project.read("scriptflow.toml").replace("write('a')", "write('A')")
    (project.path / "scriptflow.toml").write_text(text)
    project.run("run", "main", "--classic", check=True)
    assert project.read("c.txt") == "Abc"
    assert project.reasons()["a"] == "command-changed"
    assert project.reasons()["b"].startswith("input-changed")


def test_resume_of_a_failed_toml_run(project):
    """A failed task of a TOML flow is redone by `scriptflow resume`; what succeeded is cached."""
    project.write("scriptflow.toml", f"""
        [flow.build]
        [[flow.build.task]]
        name = "prepare"
        cmd = {toml_str(py("open('data.txt', 'w').write('x')"))}
        outputs = "data.txt"

        [[flow.build.task]]
        name = "fit"
        cmd = {toml_str(py("import os, sys; sys.exit(0 if os.path.exists('fixed') else 3); "))}
        inputs = "data.txt"
        retry = 1
    """)
    failed = project.run("run", "build", "--classic", check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    first = project.last_run()
    assert first["status"] == "failed"
    assert project.statuses() == {"prepare": "succeeded", "fit": "failed"}
    assert len(project.query("SELECT * FROM attempts WHERE run_id = ?", (first["id"],))) == 3  # fit retried once

    (project.path / "fixed").write_text("")
    project.run("resume", "--classic", check=True)
    second = project.last_run()
    assert (second["parent_run_id"], second["flow"], second["flow_file"]) == (first["id"], "build",
                                                                              "scriptflow.toml")
    assert project.statuses() == {"prepare": "cached", "fit": "succeeded"}


def test_json_flow_file(project):
    """scriptflow.json: the same keys as TOML, `$schema` allowed for editors."""
    (project.path / "scriptflow.json").write_text(json.dumps({
        "$schema": "../schema/flow.schema.json",
        "executors": {"local": {"maxsize": 2}},
        "task": [
            {"name": "one", "cmd": py("open('one.txt', 'w').write('1')"), "outputs": ["one.txt"]},
            {"name": "two", "cmd": "cat one.txt > two.txt", "inputs": "one.txt", "outputs": "two.txt",
             "env": {"X": "1"}, "timeout": "1m"},
        ],
    }, indent=2))
    assert project.run("list", check=True).stdout.split()[:2] == ["main", "2"]
    project.run("run", "main", "--classic", check=True)
    assert project.read("two.txt") == "1"
    tasks = project.tasks()
    assert tasks["two"]["shell"] == 2  # a redirection: through the shell, as a string command in Python
    assert json.loads(tasks["two"]["resources"]) == {"timeout": 60}
    assert json.loads(tasks["two"]["env"]) == {"X": "1"}
    assert project.last_run()["flow_file"] == "scriptflow.json"


def test_configuration_only_scriptflow_toml_beside_sflow_py_is_not_a_flow_file(project):
    """The usual project: sflow.py, and a scriptflow.toml of settings; plus the ambiguous case."""
    project.flow("def flow_hi():\n    sf.task('echo hi', name='hi').result()\n")
    project.write("scriptflow.toml", "[executors.local]\nmaxsize = 2\n")
    project.run("run", "hi", "--classic", check=True)
    project.write("scriptflow.toml", "[executors.local]\nmaxsize = 2\n[[task]]\nname = 'x'\ncmd = 'true'\n")
    both = project.run("run", "hi", check=False)
    assert both.returncode == 2 and "Traceback" not in both.stderr
    assert "sflow.py and scriptflow.toml both define flows" in both.stderr
    assert "--file" in both.stderr
    project.run("run", "hi", "--file", "sflow.py", "--classic", check=True)  # its settings still apply
    project.run("run", "main", "--file", "scriptflow.toml", "--classic", check=True)
    assert project.statuses() == {"x": "succeeded"}


def test_readme_shows_the_shipped_toml_example():
    """The README's TOML block is examples/simple-toml's flow, task for task."""
    import re
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Flows without Python", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    shown = tomllib.loads(block)
    shipped = tomllib.loads(TOML_EXAMPLE.read_text(encoding="utf-8"))
    assert shown["flow"] == shipped["flow"]
    assert shown["executors"] == shipped["executors"]


def test_a_flow_or_configuration_file_is_never_an_output(project):
    """A task may not declare its own flow file, nor the project's scriptflow.toml when another flow
    file runs: scriptflow removes outputs before a task runs. The error names the task's line."""
    project.write("scriptflow.toml", "[executors.local]\nmaxsize = 2\n")
    project.write("other.toml", '[[task]]\nname = "ok"\ncmd = "true"\n\n'
                                '[[task]]\nname = "bad"\ncmd = "true"\noutputs = "scriptflow.toml"\n')
    proc = project.run("run", "main", "--file", "other.toml", "--classic", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert ("scriptflow: error: other.toml:5: task 'bad': output scriptflow.toml is a flow or configuration file "
            "of the project") in proc.stderr
    assert project.read("scriptflow.toml") == "[executors.local]\nmaxsize = 2\n"
    project.write("other.toml", '[[task]]\nname = "bad"\ncmd = "true"\noutputs = "other.toml"\n')
    proc = project.run("run", "main", "--file", "other.toml", "--classic", check=False)
    assert "scriptflow: error: other.toml:1: task 'bad': output other.toml is the flow file" in proc.stderr
    assert project.exists("other.toml")
