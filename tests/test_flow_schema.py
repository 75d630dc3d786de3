"""schema/flow.schema.json: a valid JSON Schema that scriptflow's own validator reads the same way
``jsonschema`` does, and one-line errors naming the file, the line and the key, before anything
is recorded."""
from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest

from scriptflow import config
from scriptflow.errors import ScriptflowError
from scriptflow.run import flowschema, taskfile
from scriptflow.run.keylines import json_lines, toml_lines


def test_schema_is_valid_json_schema_shipped_in_the_package():
    schema = flowschema.schema()  # read through importlib.resources, as an installed scriptflow does
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_names_every_configuration_key_and_task_keyword():
    """The schema cannot drift from what scriptflow accepts: configuration keys and Task keywords."""
    schema = flowschema.schema()
    assert set(schema["properties"]) == set(config.KNOWN_KEYS) | set(config.FLOW_FILE_KEYS)
    assert set(schema["$defs"]["task"]["properties"]) == set(taskfile.TASK_KEYWORDS) | {"after"}


GOOD = [
    {"task": [{"name": "a", "cmd": "echo a"}]},
    {"task": [{"name": "a", "cmd": ["echo", "a"], "inputs": "x", "outputs": ["y", "z"], "retry": 2,
               "executor": "slurm", "cwd": "sub", "env": {"A": "1"}, "container": False, "cpus": 2,
               "mem": "4G", "time": 90, "gpus": 0, "timeout": 1.5, "setup": ["module load R"],
               "directives": "--qos=low", "after": "b", "quiet": True, "shell": False, "version": "1"}]},
    {"flow": {"fit": {"description": "d", "task": []}, "x.y-2": {"task": [{"name": "a", "cmd": "x"}]}}},
    {"executors": {"local": {"maxsize": 2}}, "force": ["a*"], "container": "alpine", "interrupt_grace": 0,
     "notify": {"url": "http://x"}, "$schema": "s", "task": []},
    {"task": [{"name": "a", "cmd": "x", "retry": 1.0}]},  # 1.0 is an integer to JSON Schema
]
BAD = [
    {"task": [{"name": "a", "cmd": "x", "ouputs": "y"}]},
    {"task": [{"name": "a"}]},
    {"task": [{"cmd": "x"}]},
    {"task": [{"name": "a", "cmd": 3}]},
    {"task": [{"name": "a", "cmd": []}]},
    {"task": [{"name": "a", "cmd": ""}]},
    {"task": [{"name": "a", "cmd": "x", "retry": -1}]},
    {"task": [{"name": "a", "cmd": "x", "retry": "2"}]},
    {"task": [{"name": "a", "cmd": "x", "retry": True}]},
    {"task": [{"name": "a", "cmd": "x", "outputs": [1]}]},
    {"task": [{"name": "a", "cmd": "x", "env": {"A": 1}}]},
    {"task": [{"name": "a", "cmd": "x", "container": True}]},
    {"task": {"name": "a", "cmd": "x"}},
    {"tasks": []},
    {"flow": {"bad name": {"task": []}}},
    {"flow": {"fit": {"tasks": []}}},
    {"flow": {"fit": {}}},
    {"container_pull": "sometimes"},
    {"interrupt_grace": -1},
]


@pytest.mark.parametrize("document", GOOD + BAD, ids=[f"good{i}" for i in range(len(GOOD))]
                         + [f"bad{i}" for i in range(len(BAD))])
def test_validator_agrees_with_jsonschema(document):
    expected = jsonschema.Draft202012Validator(flowschema.schema()).is_valid(document)
    assert (not flowschema.problems(document)) == expected
    assert expected == any(document is good for good in GOOD)


def test_validator_refuses_a_keyword_it_does_not_implement():
    with pytest.raises(ScriptflowError, match="'maxLength' is not supported"):
        flowschema.check_keywords({"properties": {"x": {"type": "string", "maxLength": 3}}})


def test_key_lines_of_toml_and_json():
    toml = toml_lines(textwrap.dedent('''\
        debug = true
        [[task]]
        name = "a"
        cmd = [
          "x = 1",
        ]
        [task.env]
        A = "1"
        [[task]]
        name = """
        b = 2
        """
        "cmd" = "y"
        [flow.fit]
        [[flow.fit.task]]
        name = "c"
    '''))
    assert toml.line(("debug",)) == 1
    assert toml.line(("task", 0)) == 2
    assert toml.line(("task", 0, "cmd")) == 4
    assert toml.line(("task", 0, "env", "A")) == 8
    assert toml.line(("task", 1, "cmd")) == 13
    assert toml.line(("task", 1, "b")) == 9  # not a key (inside a string): its table's line
    assert toml.line(("flow", "fit", "task", 0, "name")) == 16
    js = json_lines('{\n "task": [\n  {"name": "a",\n   "cmd": ["x", {"y": 1}]},\n  {"name": "b"}\n ]\n}')
    assert js.line(("task",)) == 2
    assert js.line(("task", 0, "cmd")) == 4
    assert js.line(("task", 1, "name")) == 5


ERRORS = [
    # (file text, the error's line, what it says)
    ('[[task]]\nname = "a"\ncmd = "true"\n\n[[task]]\nname = "b"\ncmd = "true"\nouputs = "x"\n',
     'scriptflow.toml:8: task "b": unknown key "ouputs" (did you mean "outputs"?)'),
    ('[[task]]\nname = "a"\ncmd = "true"\nretry = "two"\n',
     'scriptflow.toml:4: task "a": "retry" must be an integer, got "two"'),
    ('[[task]]\nname = "a"\ncmd = "true"\n[[task]]\nname = "b"\n',
     'scriptflow.toml:4: task "b": missing key "cmd"'),
    ('[[task]]\nname = "a"\ncmd = "true"\n[[task]]\nname = "a"\ncmd = "false"\n',
     'scriptflow.toml:4: task "a": a task of this name is already defined at line 1'),
    ('[[task]]\nname = "a"\ncmd = "true"\ninputs = ["x.txt"]\noutputs = ["./x.txt"]\n',
     'scriptflow.toml:5: task "a": "x.txt" is both an input and an output'),
    ('[[task]]\nname = "a"\ncmd = "true"\nafter = ["b"]\n',
     'scriptflow.toml:4: task "a": "after" names no task of flow "main": "b"'),
    ('[[task]]\nname = "a"\ncmd = "true"\ninputs = "y"\noutputs = "x"\n'
     '[[task]]\nname = "b"\ncmd = "true"\ninputs = "x"\noutputs = "y"\n',
     'scriptflow.toml:1: task "a": dependency cycle: a -> b -> a'),
    ('[[task]]\nname = "a"\ncmd = "true"\noutputs = "x"\n[[task]]\nname = "b"\ncmd = "true"\noutputs = "x"\n',
     'scriptflow.toml:5: task "b": output "x" is already an output of task "a" (line 1)'),
    ('[[task]]\nname = "a"\ncmd = "true"\ntimeout = "soon"\n',
     "scriptflow.toml:4: task a: timeout must be seconds"),
    ('tasks = []\n', 'scriptflow.toml:1: unknown key "tasks" (did you mean "task"?)'),
    ('[flow.fit]\ndescription = "x"\n[[flow.fit.task]]\nname = "a"\ncommand = "true"\n',
     'scriptflow.toml:5: flow "fit": task "a": unknown key "command"'),
    ('[flow.fit]\ndescription = "x"\n[[flow.fit.task]]\nname = "a"\n',
     'scriptflow.toml:3: flow "fit": task "a": missing key "cmd"'),
    ('[[task]]\nname = "a"\ncmd = "true"\nretry = \n', "scriptflow.toml:4: invalid TOML: Invalid value"),
    ('executors = {}\n', "scriptflow.toml defines no tasks"),
]


@pytest.mark.parametrize("text, message", ERRORS, ids=[m[16:56] for _, m in ERRORS])
def test_errors_name_file_line_and_key_and_record_nothing(project, text, message):
    project.write("scriptflow.toml", text)
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"scriptflow: error: {message}"), lines[0]
    assert not (project.path / ".scriptflow" / "ledger.db").exists()


def test_errors_leave_an_existing_ledger_untouched(project):
    project.write("scriptflow.toml", '[[task]]\nname = "a"\ncmd = "true"\n')
    project.run("run", "main", "--classic", check=True)
    before = (project.path / ".scriptflow" / "ledger.db").read_bytes()
    project.write("scriptflow.toml", '[[task]]\nname = "a"\ncmd = "true"\nretyr = 2\n')
    proc = project.run("run", "main", check=False)
    assert 'scriptflow.toml:4: task "a": unknown key "retyr" (did you mean "retry"?)' in proc.stderr
    proc = project.run("resume", "1", "--force", check=False)
    assert proc.returncode == 2 and "unknown key" in proc.stderr
    assert (project.path / ".scriptflow" / "ledger.db").read_bytes() == before


def test_json_errors_name_the_line(project):
    (project.path / "scriptflow.json").write_text(json.dumps(
        {"task": [{"name": "a", "cmd": "true"}, {"name": "b", "cmd": "true", "retry": -1}]}, indent=1))
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'scriptflow: error: scriptflow.json:10: task "b": "retry" must be at least 0, got -1'
    (project.path / "scriptflow.json").write_text('{"task": [\n{"name": "a",, "cmd": "x"}]}')
    proc = project.run("run", "main", check=False)
    assert proc.stderr.strip().startswith("scriptflow: error: scriptflow.json:2: invalid JSON: ")
