"""Flows written for the original scriptflow (0.1-0.2 and its later branches) run unchanged, locally.

Real runs of the real ``scriptflow`` command; ``R`` and ``julia`` are stand-ins on PATH
(tests/compat_helpers.py). Cluster runs of the same flows are in test_compat_live.py.
"""
from __future__ import annotations

import json

import pytest

from compat_helpers import install_standins, julia_flow, r_flow, write_original
from scriptflow.core.shellsyntax import shell_syntax

LOCAL = {"executors": {"local": {"maxsize": 2}}, "debug": True}


# -- the original's examples -------------------------------------------------------------------------


def test_r_example_with_redirections_runs_unchanged(project):
    """`R --vanilla '--args 1 temp' < gen_results.R`: the `<` makes the command run through the shell."""
    env = install_standins(project)
    write_original(project, r_flow(LOCAL))
    project.run("run", "Rit", "--classic", env=env, check=True)
    assert project.read("results.csv") == "draw 0\ndraw 1\ndraw 2\n"
    tasks = project.tasks()
    assert {t["shell"] for t in tasks.values()} == {2}  # 2: shell chosen for shell syntax
    assert json.loads(tasks["sim-1"]["command"]) == "R --vanilla  '--args 1 temp' < gen_results.R"
    shown = project.run("show", "1", check=True).stdout
    assert "ran through /bin/sh because their command has shell syntax: " in shown and "agg-results" in shown
    report = project.run("report", "results.csv", check=True).stdout
    assert "through /bin/sh (the command has shell syntax)" in report
    # the shell chosen automatically fingerprints like shell=True: the second run is all cached
    project.run("run", "Rit", "--classic", env=env, check=True)
    assert set(project.statuses().values()) == {"cached"}


def test_julia_example_runs_unchanged(project):
    env = install_standins(project)
    write_original(project, julia_flow(LOCAL))
    project.run("run", "mysim", "--classic", env=env, check=True)
    assert project.read("results.csv") == "0\n1\n2\n"
    assert {t["shell"] for t in project.tasks().values()} == {0}  # plain words: no shell


# -- executor choice ------------------------------------------------------------------------------


def test_the_only_executor_listed_is_where_tasks_go(project):
    """`executors: {slurm: ...}` and no `executor`: tasks go to slurm, never silently to this machine.
    (A dry run builds the executor and decides, and submits nothing; the live test submits.)"""
    write_original(project, r_flow({"executors": {"slurm": {"maxsize": 2, "account": "", "partition": "x",
                                                            "modules": "R/3.6/3.6.2", "walltime": "00:01:00"}}}))
    out = project.run("run", "Rit", "--dry-run", check=True).stdout
    assert out.splitlines()[0].startswith("tasks run on slurm: the first executor listed under 'executors'")


def test_the_original_hpc_executor_is_pbs(project):
    write_original(project, julia_flow({"executors": {"hpc": {"maxsize": 3, "modules": "julia/1.8.3",
                                                              "walltime": "00:01:00"}}, "notify": "thomas"}))
    out = project.run("run", "mysim", "--dry-run", check=True).stdout
    assert out.splitlines()[0].startswith("tasks run on pbs: ")


def test_several_executors_first_listed_wins_and_the_first_line_says_so(project):
    env = install_standins(project)
    write_original(project, julia_flow({"executors": {"local": {"maxsize": 2}, "slurm": {"partition": "x"}}}))
    out = project.run("run", "mysim", "--classic", env=env, check=True).stdout
    assert out.splitlines()[0] == ("tasks run on local: the first executor listed under 'executors' "
                                   "(executors listed: local, slurm); set 'executor' to choose another")
    assert {t["executor"] for t in project.tasks().values()} == {"local"}


def test_executor_and_site_settings_from_the_command_line_and_toml(project):
    """The flow names slurm; `--set executor=local` runs it here, and a bad site setting in
    scriptflow.toml fails before anything runs, with a one-line error."""
    env = install_standins(project)
    write_original(project, julia_flow({"executors": {"slurm": {"maxsize": 2}}}))
    project.run("run", "mysim", "--classic", "--set", "executor=local", env=env, check=True)
    assert {t["executor"] for t in project.tasks().values()} == {"local"}
    project.write("scriptflow.toml", "[executors.slurm]\nwalltime = 'soon'\n")
    proc = project.run("run", "mysim", "--classic", "-s", "executor=slurm", env=env, check=False)
    assert proc.stderr.startswith("scriptflow: error: executors.slurm.walltime: time must be"), proc.stderr
    assert "Traceback" not in proc.stderr
    proc = project.run("run", "mysim", "--set", "executors.slurm", env=env, check=False)
    assert proc.returncode == 2 and "expected KEY=VALUE" in proc.stderr and "Traceback" not in proc.stderr


def test_hpc_and_pbs_together_is_a_clear_error(project):
    write_original(project, julia_flow({"executors": {"hpc": {}, "pbs": {}}}))
    proc = project.run("run", "mysim", check=False)
    assert "executors 'hpc' and 'pbs' are the same executor" in proc.stderr and "Traceback" not in proc.stderr


def test_notify_user_name_is_accepted_with_a_one_time_note(project):
    env = install_standins(project)
    write_original(project, julia_flow({**LOCAL, "notify": "thomas"}))
    first = project.run("run", "mysim", "--classic", env=env, check=True).stdout
    assert "notify='thomas' is accepted for compatibility; scriptflow contacts no central service" in first
    again = project.run("run", "mysim", "--classic", env=env, check=True).stdout
    assert "notify" not in again


# -- commands ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command, found", [
    ("R --vanilla '--args 1 temp' < gen_results.R", "<"),
    ("python run.py > out.txt", ">"),
    ("cat a | sort", "|"),
    ("make a; make b", ";"),
    ("make a && make b", "&"),
    ("echo $HOME", "$"),
    ('echo "$HOME"', "$"),
    ("echo `date`", "`"),
    ("ls *.csv", "*"),
    ("rm res_?.csv", "?"),
    ("cat ~/notes", "~"),
    ("OMP_NUM_THREADS=2 julia sim.jl", "VAR=value"),
    ("python -c 'import sflow; sflow.combine_file()'", None),
    ("python -c 'print(\"$HOME\")'", None),
    ("echo a\\;b", None),
    ("julia gen_results.jl 3", None),
    ("python -c \"import x; x.y()\"", None),
])
def test_shell_syntax_is_found_outside_single_quotes(command, found):
    assert shell_syntax(command) == found


def test_commands_with_and_without_shell_syntax_and_shell_lists(project):
    project.flow("""
        def flow_cmds():
            sf.bag(
                sf.Task(cmd="printf 'a;b' > semi.txt", outputs="semi.txt", name="auto"),
                sf.Task(cmd="python3 -c 'open(\\"q.txt\\", \\"w\\").write(\\"x; y\\")'", outputs="q.txt", name="plain"),
                sf.Task(cmd=["python3 -c 'print(42)' > list.txt"], shell=True, outputs="list.txt", name="list"),
                sf.Task(cmd=["printf", "%s", "one two"], shell=True, outputs=[], name="joined"),
                sf.Task(cmd="echo x > forced.txt", shell=False, name="forced-argv"),
            )
    """)
    project.run("run", "cmds", "--classic", check=True)
    tasks = project.tasks()
    assert project.read("semi.txt") == "a;b" and tasks["auto"]["shell"] == 2
    assert project.read("q.txt") == "x; y" and tasks["plain"]["shell"] == 0
    assert json.loads(tasks["plain"]["command"])[:2] == ["python3", "-c"]
    assert project.read("list.txt") == "42\n" and tasks["list"]["shell"] == 1
    # a list with shell=True is joined with spaces (the original's behaviour), not quoted
    assert json.loads(tasks["joined"]["command"]) == "printf %s one two" and tasks["joined"]["shell"] == 1
    # shell=False given: the string is split even though it has shell syntax
    assert json.loads(tasks["forced-argv"]["command"]) == ["echo", "x", ">", "forced.txt"]
    assert not project.exists("forced.txt")


# -- the original's Task API --------------------------------------------------------------------


def test_task_api_of_the_original(project):
    project.flow("""
        def flow_api():
            t = sf.Task(cmd="python3 -c 'open(\\"a.csv\\",\\"w\\").write(\\"1\\"); open(\\"b.log\\",\\"w\\")'",
                        outputs={"res": "a.csv", "logs": ["b.log"]}, props={"draw": 7})
            t.uid("solve-1").set_cpu(2).set_memory(4)
            t.set_prop("seed", 11)
            assert f"{t.uid}" == "solve-1" and t.uid == "solve-1" and t.uid() == "solve-1"
            assert t.get_outputs("res") == "a.csv" and t.get_outputs("logs") == ["b.log"]
            assert t.outputs == {"res": "a.csv", "logs": ["b.log"]}
            assert t.get_prop("draw") == 7 and t.get_prop("seed") == 11
            assert t.get_command() == ["python3", "-c", 'open("a.csv","w").write("1"); open("b.log","w")']
            s = sf.Task(cmd="echo hi > hi.txt", outputs="hi.txt", name="hi")
            assert s.get_command() == "echo hi > hi.txt" and s.get_command_str() == "echo hi > hi.txt"
            assert t.get_command_str().startswith("python3 -c ")
            sf.bag(t, s)
            later = sf.Task(["cat", t.get_outputs("res")], inputs=t.get_outputs("res"), outputs=[], name="read")
            later.result()
    """)
    project.run("run", "api", "--classic", check=True)
    row = project.tasks()["solve-1"]
    assert json.loads(row["resources"]) == {"cpus": 2, "mem": "4G"}
    assert sorted(json.loads(row["outputs"])) == ["a.csv", "b.log"]
    assert project.statuses()["read"] == "succeeded"


def test_unknown_output_group_is_a_one_line_error(project):
    project.flow("""
        def flow_bad():
            sf.Task(cmd="true", outputs={"res": "a.csv"}, name="t").get_outputs("nope")
    """)
    proc = project.run("run", "bad", check=False)
    assert "scriptflow: error: sflow.py:4: task t has no output group 'nope' (groups: res)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_setup_lines_run_in_the_commands_shell_and_count_in_the_fingerprint(project):
    project.flow("""
        import sys
        SETUP = open("setup.txt").read()
        def flow_setup():
            sf.Task(cmd="python3 -c 'import os; open(\\"v.txt\\",\\"w\\").write(os.environ[\\"SIM_V\\"])'",
                    setup=SETUP, outputs="v.txt", name="v").result()
    """)
    project.write("setup.txt", "export SIM_V=one\n")
    project.run("run", "setup", "--classic", check=True)
    assert project.read("v.txt") == "one"
    assert json.loads(project.tasks()["v"]["resources"]) == {"setup": ["export SIM_V=one"]}
    project.run("run", "setup", "--classic", check=True)
    assert project.statuses() == {"v": "cached"}
    project.write("setup.txt", "export SIM_V=two\n")
    project.run("run", "setup", "--classic", check=True)
    assert project.statuses() == {"v": "succeeded"} and project.read("v.txt") == "two"
    # a failing setup line stops the task before its command, with the line's exit code
    project.write("setup.txt", "false\nexport SIM_V=three\n")
    proc = project.run("run", "setup", "--classic", check=False)
    assert project.statuses() == {"v": "failed"} and "exit code 1" in proc.stdout
    assert not project.exists("v.txt")


def test_quiet_false_shows_the_output_as_it_runs(project):
    project.flow("""
        def flow_loud():
            sf.bag(sf.Task(cmd="echo visible-line; echo to-stderr >&2", quiet=False, name="loud"),
                   sf.Task(cmd="echo hidden-line", name="silent"))
    """)
    out = project.run("run", "loud", "--classic", check=True).stdout
    assert "[loud] visible-line" in out and "[loud] to-stderr" in out
    assert "hidden-line" not in out
