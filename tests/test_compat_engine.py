"""What the original scriptflow (and Make) did that the engine now does too: tasks without outputs
always run, the producer of a needed file runs even if the flow never started it, forgotten tasks
are named, and a project built without the ledger can be adopted instead of recomputed.
Real runs of the real ``scriptflow`` command.
"""
from __future__ import annotations

import os
import time

from compat_helpers import install_standins, r_flow, write_original


def test_a_task_without_outputs_always_runs_with_its_own_reason(project):
    project.flow("""
        def flow_phony():
            sf.Task(cmd="echo ran >> count.txt", name="note").result()
    """)
    project.run("run", "phony", "--classic", check=True)
    project.run("run", "phony", "--classic", check=True)
    assert project.read("count.txt") == "ran\nran\n"
    assert project.reasons() == {"note": "no-outputs"} and project.statuses() == {"note": "succeeded"}
    why = project.run("why", "note", check=True).stdout
    assert "it declares no outputs: such a task always runs" in why
    dry = project.run("run", "phony", "--dry-run", check=True).stdout
    assert "no-outputs" in dry


def test_the_producer_of_a_needed_file_runs_even_if_never_started(project):
    """Make's rule: `gen` is created, never started; `use` names its output as an input."""
    project.flow("""
        def flow_make():
            sf.Task(cmd="echo 5 > data/x.txt", outputs="data/x.txt", name="gen")
            sf.Task(cmd="cat data/x.txt > y.txt", inputs="data/x.txt", outputs="y.txt", name="use").result()
    """)
    (project.path / "data").mkdir()
    out = project.run("run", "make", "--classic", check=True).stdout
    assert project.read("y.txt") == "5\n"
    assert project.statuses() == {"gen": "succeeded", "use": "succeeded"}
    assert "never started" not in out
    tasks = project.tasks()
    assert tasks["gen"]["id"] < tasks["use"]["id"]  # recorded as the dependency it is


def test_tasks_created_and_never_started_are_named_in_a_warning(project):
    project.flow("""
        def flow_forgot():
            sf.Task(cmd="echo a > a.txt", outputs="a.txt", name="forgotten-1")
            sf.Task(cmd="echo b > b.txt", outputs="b.txt", name="forgotten-2")
            sf.Task(cmd="echo c > c.txt", outputs="c.txt", name="used").result()
    """)
    out = project.run("run", "forgot", "--classic", check=True).stdout
    assert "warning: 2 task(s) created but never started: forgotten-1, forgotten-2" in out
    assert not project.exists("a.txt") and set(project.statuses()) == {"used"}


def test_adopt_takes_an_existing_projects_results_as_done(project):
    """A project the original built: outputs exist and are newer than inputs. `--adopt` records them
    as done (reason adopted), `why` and `report` say so, and later an edit reruns as usual."""
    env = install_standins(project)
    write_original(project, r_flow({"executors": {"local": {"maxsize": 2}}}))
    (project.path / "temp").mkdir()
    for i in range(3):
        project.write(f"temp/res_{i}.RData", f"old draw {i}\n")
    project.write("results.csv", "old results\n")
    project.run("run", "Rit", "--classic", "--adopt", env=env, check=True)
    assert set(project.statuses().values()) == {"cached"}
    assert set(project.reasons().values()) == {"adopted"}
    assert project.read("temp/res_1.RData") == "old draw 1\n"  # never recomputed
    assert project.read("results.csv") == "old results\n"
    why = project.run("why", "sim-1", check=True).stdout
    assert "adopted (run --adopt)" in why and "scriptflow did not make temp/res_1.RData" in why
    report = project.run("report", "temp/res_1.RData", check=True).stdout
    assert "adopted by run 1 as output of sim-1" in report
    # from now on, the content rules: a second run (no --adopt) is all cached; an edit reruns
    project.run("run", "Rit", "--classic", env=env, check=True)
    assert set(project.statuses().values()) == {"cached"}
    project.write("temp/res_2.RData", "edited\n")
    project.run("run", "Rit", "--classic", env=env, check=True)
    assert project.statuses()["sim-2"] == "succeeded" and project.read("temp/res_2.RData") == "draw 2\n"
    assert project.reasons()["sim-2"] == "output-modified:temp/res_2.RData"


def test_adopt_never_adopts_missing_or_stale_outputs_or_tasks_the_ledger_knows(project):
    project.flow("""
        def flow_two():
            sf.bag(sf.Task(cmd="echo new > a.txt", outputs="a.txt", name="a"),
                   sf.Task(cmd="echo new > b.txt", outputs="b.txt", name="b"),
                   sf.Task(cmd="cat in.txt > c.txt", inputs="in.txt", outputs="c.txt", name="c"))
    """)
    project.write("a.txt", "old\n")
    project.write("c.txt", "stale\n")
    project.write("in.txt", "newer input\n")
    old = time.time() - 3600
    os.utime(project.path / "c.txt", (old, old))  # older than its input: made from an older in.txt
    project.run("run", "two", "--classic", "--adopt", check=True)
    assert project.statuses() == {"a": "cached", "b": "succeeded", "c": "succeeded"}
    assert project.reasons() == {"a": "adopted", "b": "never-run", "c": "never-run"}
    assert project.read("c.txt") == "newer input\n"
    project.write("b.txt", "hand edit\n")
    project.run("run", "two", "--classic", "--adopt", check=True)  # b is known: the content rules apply
    assert project.statuses()["b"] == "succeeded" and project.read("b.txt") == "new\n"


def test_make_rule_sees_outputs_and_folders_changed_after_creation(project):
    """The created tasks are indexed by output: a task whose outputs or cwd change after it was
    created (but before anything needs it) is found under its final outputs, never its first ones;
    of two unstarted producers of one file, the first created runs."""
    project.flow("""
        def flow_edits():
            moved = sf.Task(cmd="echo m > m.txt", outputs="m.txt", name="moved")
            moved.cwd = "sub"                       # now produces sub/m.txt
            late = sf.Task(cmd="echo l > l.txt", name="late")
            late.output("l.txt")                    # outputs declared after creation
            sf.Task(cmd="echo first > d.txt", outputs="d.txt", name="first")
            sf.Task(cmd="echo second > d.txt", outputs="d.txt", name="second")
            sf.Task(cmd="cat sub/m.txt l.txt d.txt > all.txt", inputs=["sub/m.txt", "l.txt", "d.txt"],
                    outputs="all.txt", name="use").result()
    """)
    (project.path / "sub").mkdir()
    out = project.run("run", "edits", "--classic", check=True).stdout
    assert project.read("all.txt") == "m\nl\nfirst\n"
    assert project.statuses() == {"moved": "succeeded", "late": "succeeded", "first": "succeeded",
                                  "use": "succeeded"}
    assert "never started: second" in out


def test_a_flow_creating_every_task_before_starting_any_finds_each_producer(project):
    """2,000 producers and 2,000 consumers created first, then started at once with sf.bag (a
    dry run): every consumer's producer is found through the output index (the scan it replaced
    made this quadratic), and all 4,000 would run."""
    project.flow("""
        N = 2000

        def flow_wide():
            producers = [sf.Task(["cp", f"in_{i}.txt", f"mid_{i}.txt"], inputs=f"in_{i}.txt",
                                 outputs=f"mid_{i}.txt", name=f"p{i}") for i in range(N)]
            consumers = [sf.Task(["cp", f"mid_{i}.txt", f"out_{i}.txt"], inputs=f"mid_{i}.txt",
                                 outputs=f"out_{i}.txt", name=f"c{i}") for i in range(N)]
            sf.bag(*consumers)
    """)
    for i in range(2000):
        (project.path / f"in_{i}.txt").write_text(str(i))
    out = project.run("run", "wide", "--dry-run", "--classic", check=True).stdout
    assert "never started" not in out
    assert "4000" in out.replace(",", "")
