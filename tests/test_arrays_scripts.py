"""The job array's script of SLURM and Grid Engine, run here the way the scheduler runs an
element (its own interpreter, ``SLURM_ARRAY_TASK_ID`` or ``SGE_TASK_ID`` set), the grouping of
attempts into arrays, and how ``qstat -xml`` lists an array's elements. No scheduler needed:
``test_slurm_arrays_live.py`` and ``test_sge_arrays_live.py`` have the real ones."""
from __future__ import annotations

import os
import subprocess
from collections import deque
from concurrent.futures import Future

import pytest

from scriptflow.executors.base import Reporter
from scriptflow.executors.cluster.arrays import array_name, take_group
from scriptflow.executors.cluster.jobscript import read_exit_file
from scriptflow.executors.cluster.jobwatch import Job
from scriptflow.executors.cluster.qsub import (parse_max_aj_tasks, parse_sge_error_reasons, parse_sge_qstat_xml,
                                               sge_task_ids)
from scriptflow.executors.cluster.scheduler import PollError
from scriptflow.executors.registry import create_executor

from test_hpc_scripts import make_attempt


def jobs_for(tmp_path, specs: list[tuple[str, dict]]) -> list[Job]:
    out = []
    for uid, resources in specs:
        attempt = make_attempt(tmp_path, ["sh", "-c", f"echo ran {uid}"], uid=uid, resources=resources)
        attempt.stdout_path = attempt.stdout_path.with_name(f"{uid}.out")
        attempt.stderr_path = attempt.stderr_path.with_name(f"{uid}.err")
        out.append(Job(attempt, Future(), Reporter()))
    return out


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
def test_only_attempts_with_the_same_options_share_an_array(tmp_path, scheduler: str) -> None:
    executor = create_executor(scheduler, {}, tmp_path / ".scriptflow")
    a, b, c, d = jobs_for(tmp_path, [("fit-1", {"cpus": 2}), ("fit-2", {"cpus": 4}), ("fit-3", {"cpus": 2}),
                                     ("bad", {"mem": "lots"})])
    waiting = deque([a, b, c, d])
    assert take_group(waiting, executor.group_key, 10) == [a, c]
    assert list(waiting) == [b, d]  # the others keep their order
    assert take_group(waiting, executor.group_key, 10) == [b]
    assert executor.group_key(d) is None and take_group(waiting, executor.group_key, 10) == [d]
    waiting = deque([a, c])
    assert take_group(waiting, executor.group_key, 1) == [a]  # the cap (array_max, free slots)
    assert array_name(["sf-fit-1", "sf-fit-3"]) == "sf-fit-" and array_name(["sf-a", "sf-b"]) == "sf-array"


#: Per scheduler: the submit command's start, its log option, the index placeholder, the
#: element index variable, the first index, a header line the options give.
SCHEDULERS = {
    "slurm": (["sbatch", "--parsable", "--array=0-1"], "--output=", "%a", "SLURM_ARRAY_TASK_ID", 0,
              ["#SBATCH --job-name=sf-fit-\n", "#SBATCH --partition=short\n", "#SBATCH --cpus-per-task=2\n"]),
    "sge": (["qsub", "-terse", "-t", "1-2"], "-o", "$TASK_ID", "SGE_TASK_ID", 1,
            ["#$ -N sf-fit-\n", "#$ -q short\n", "#$ -pe smp 2\n"]),
}


@pytest.mark.parametrize("scheduler", ["slurm", "sge"])
def test_array_script_runs_each_attempts_own_script(tmp_path, scheduler: str) -> None:
    """Element I execs the I-th attempt's script (which writes its own exit file); the element's
    log patterns are links to the attempt's logs; an index without an attempt fails loudly.
    SLURM numbers elements from 0, Grid Engine from 1; the job ids follow."""
    start, log_option, placeholder, variable, first, header = SCHEDULERS[scheduler]
    executor = create_executor(scheduler, {"partition": "short"}, tmp_path / ".scriptflow")
    jobs = jobs_for(tmp_path, [("fit-1", {"cpus": 2}), ("fit-2", {"cpus": 2})])
    for job in jobs:
        assert executor._prepare(job) is None
    argv = executor._write_array(jobs)
    script = argv[-1]
    assert argv[:len(start)] == start
    out_pattern = (argv[argv.index(log_option) + 1] if log_option in argv
                   else next(a for a in argv if a.startswith(log_option))[len(log_option):])
    assert out_pattern.endswith(f".{placeholder}.out")
    text = open(script).read()
    assert text.startswith("#!/bin/sh\n")
    assert all(line in text for line in header), text
    assert text.count("-N ") + text.count("--job-name=") == 1, text  # the array's name only
    for index, job in enumerate(jobs, start=first):  # the scheduler opens the pattern's file: the link leads to the log
        link = out_pattern.replace(placeholder, str(index))
        assert os.path.realpath(link) == str(job.attempt.stdout_path.resolve())
    proc = subprocess.run([script], env={**os.environ, variable: str(first + 1)}, capture_output=True,
                          text=True, cwd="/")
    assert proc.returncode == 0 and proc.stdout == "ran fit-2\n", proc
    assert jobs[1].exit_path and (read_exit_file(jobs[1].exit_path) or {}).get("exit_code") == "0"
    assert jobs[0].exit_path and read_exit_file(jobs[0].exit_path) is None
    proc = subprocess.run([script], env={**os.environ, variable: "5"}, capture_output=True, text=True)
    assert proc.returncode == 1 and "no element 5" in proc.stderr
    assert [executor.array_element_id("77", i) for i in (first, first + 1)] == (
        ["77_0", "77_1"] if scheduler == "slurm" else ["77.1", "77.2"])


QSTAT_ARRAYS = """<?xml version='1.0'?>
<job_info xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running"><JB_job_number>3611</JB_job_number><state>r</state><tasks>2</tasks></job_list>
    <job_list state="running"><JB_job_number>3612</JB_job_number><state>r</state></job_list>
  </queue_info>
  <job_info>
    <job_list state="pending"><JB_job_number>3611</JB_job_number><state>qw</state><tasks>1,3-5:1</tasks></job_list>
    <job_list state="pending"><JB_job_number>3613</JB_job_number><state>Eqw</state><tasks>2,4</tasks></job_list>
  </job_info>
</job_info>
"""


def test_qstat_lists_each_element_of_an_array() -> None:
    """Seen on Grid Engine 8.1.9: a running element has an entry of its own (``tasks`` 2), the
    pending ones share one whose task list names them; a plain job has no ``tasks``."""
    found = parse_sge_qstat_xml(QSTAT_ARRAYS)
    assert {k: (v.state, v.running) for k, v in found.items()} == {
        "3611.2": ("r", True), "3611.1": ("qw", False), "3611.3": ("qw", False), "3611.4": ("qw", False),
        "3611.5": ("qw", False), "3612": ("r", True), "3613.2": ("Eqw", False), "3613.4": ("Eqw", False)}
    assert found["3613.4"].error and "qstat -j 3613" in found["3613.4"].error
    assert sorted(parse_sge_qstat_xml(QSTAT_ARRAYS, {"3611"})) == ["3611.1", "3611.2", "3611.3", "3611.4", "3611.5"]
    assert sge_task_ids("1-7:3") == [1, 4, 7] and sge_task_ids("9") == [9]
    with pytest.raises(PollError, match="does not explain"):
        sge_task_ids("1-x")


#: ``qstat -j 46`` of a three-element array whose output files cannot be opened (Grid Engine 8.1.9).
QSTAT_J_ERRORS = """\
job_number:                 46
job_name:                   job.sh
error reason          1:      12/01/2026 09:32:40 [0:7698]: error: can't open output file "/nonexistent/dir1/out": No such file or directory
error reason          2:      12/01/2026 09:32:40 [0:7706]: error: can't open output file "/nonexistent/dir2/out": No such file or directory
error reason          3:      12/01/2026 09:32:40 [0:7714]: error: can't open output file "/nonexistent/dir3/out": No such file or directory
scheduling info:            Job is in error state
"""


def test_each_element_in_error_state_has_its_own_reason() -> None:
    """Each element names its own output file; the colons inside a reason stay in it."""
    reasons = parse_sge_error_reasons(QSTAT_J_ERRORS)
    assert sorted(reasons) == ["1", "2", "3"]
    assert reasons["2"].endswith('can\'t open output file "/nonexistent/dir2/out": No such file or directory')
    assert reasons["2"].startswith("12/01/2026 09:32:40 [0:7706]: error:")
    assert parse_sge_error_reasons("job_number: 7\nscheduling info: none\n") == {}


def test_max_aj_tasks_from_the_global_configuration() -> None:
    assert parse_max_aj_tasks("max_aj_instances             2000\nmax_aj_tasks                 75000\n") == 75000
    assert parse_max_aj_tasks("max_aj_tasks 0\n") == 0
    assert parse_max_aj_tasks("execd_spool_dir /var/spool\n") is None


@pytest.mark.parametrize("scheduler, output, settings, expected", [
    ("slurm", "MaxArraySize            = 1001\n", {}, 1000),  # array_max
    ("slurm", "MaxArraySize            = 300\n", {}, 300),  # the cluster's limit
    ("slurm", "MaxArraySize            = 0\n", {}, 1),  # SLURM: arrays disabled
    ("slurm", None, {"array_max": 5000}, 1001),  # the command failed: SLURM's default
    ("sge", "max_aj_tasks                 75000\n", {}, 1000),
    ("sge", "max_aj_tasks                 0\n", {"array_max": 90000}, 90000),  # Grid Engine: no limit
    ("sge", "max_aj_tasks                 20\n", {}, 20),
    ("sge", None, {"array_max": 90000}, 75000),  # Grid Engine's default
    ("sge", "max_aj_tasks 20\n", {"arrays": False}, 1),  # asked nothing
])
def test_array_capacity_is_array_max_bounded_by_the_clusters_limit(tmp_path, scheduler, output, settings,
                                                                    expected) -> None:
    """The limit's command answers as given here (a stand-in for ``scontrol show config`` and
    ``qconf -sconf``: the local schedulers cannot be made to say 0 or nothing)."""
    executor = create_executor(scheduler, settings, tmp_path / ".scriptflow")
    asked: list[list[str]] = []

    def answer(argv, timeout=None):
        asked.append(list(argv))
        return subprocess.CompletedProcess(argv, 0 if output is not None else 1, output or "", "not here")
    executor.run_command = answer  # type: ignore[method-assign]
    assert executor.array_capacity() == expected
    assert asked == ([] if settings.get("arrays") is False else [list(executor.ARRAY_LIMIT_COMMAND)])
