"""The SLURM job array's script, run here the way SLURM runs an element (its own interpreter,
``SLURM_ARRAY_TASK_ID`` set), and the grouping of attempts into arrays. No scheduler needed:
``test_slurm_arrays_live.py`` has the real SLURM."""
from __future__ import annotations

import os
import subprocess
from collections import deque
from concurrent.futures import Future

from scriptflow.executors.base import Reporter
from scriptflow.executors.cluster.arrays import array_name, take_group
from scriptflow.executors.cluster.jobscript import read_exit_file
from scriptflow.executors.cluster.jobwatch import Job
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


def test_only_attempts_with_the_same_options_share_an_array(tmp_path) -> None:
    executor = create_executor("slurm", {}, tmp_path / ".scriptflow")
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


def test_array_script_runs_each_attempts_own_script(tmp_path) -> None:
    """Element I execs the I-th attempt's script (which writes its own exit file); the element's
    log patterns are links to the attempt's logs; an index without an attempt fails loudly."""
    executor = create_executor("slurm", {"partition": "short"}, tmp_path / ".scriptflow")
    jobs = jobs_for(tmp_path, [("fit-1", {"cpus": 2}), ("fit-2", {"cpus": 2})])
    for job in jobs:
        assert executor._prepare(job) is None
    argv = executor._write_array(jobs)
    script = argv[-1]
    assert argv[:3] == ["sbatch", "--parsable", "--array=0-1"]
    out_pattern = next(a for a in argv if a.startswith("--output="))[len("--output="):]
    assert out_pattern.endswith(".%a.out")
    text = open(script).read()
    assert text.startswith("#!/bin/sh\n")
    assert "#SBATCH --job-name=sf-fit-\n" in text and "#SBATCH --partition=short\n" in text
    assert "#SBATCH --cpus-per-task=2\n" in text
    for index, job in enumerate(jobs):  # SLURM opens the pattern's file: the link leads to the attempt's log
        link = out_pattern.replace("%a", str(index))
        assert os.path.realpath(link) == str(job.attempt.stdout_path.resolve())
    proc = subprocess.run([script], env={**os.environ, "SLURM_ARRAY_TASK_ID": "1"}, capture_output=True,
                          text=True, cwd="/")
    assert proc.returncode == 0 and proc.stdout == "ran fit-2\n", proc
    assert jobs[1].exit_path and (read_exit_file(jobs[1].exit_path) or {}).get("exit_code") == "0"
    assert jobs[0].exit_path and read_exit_file(jobs[0].exit_path) is None
    proc = subprocess.run([script], env={**os.environ, "SLURM_ARRAY_TASK_ID": "5"}, capture_output=True, text=True)
    assert proc.returncode == 1 and "no element 5" in proc.stderr
