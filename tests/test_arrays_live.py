"""What job arrays do alike on SLURM and Grid Engine, against the real schedulers: ``maxsize``
counts elements and freed slots are refilled by one array, and ``arrays: false`` goes back to
one submission per task. What differs (element ids, accounting, Ctrl-C) is in
``test_slurm_arrays_live.py`` and ``test_sge_arrays_live.py``.

The submit command is counted by a wrapper first on PATH (``hpc_helpers.counting_command``)
that execs the real one: every job is a real job. Skips without the scheduler, fails instead
where SCRIPTFLOW_REQUIRE_SERVICES names it.
"""
from __future__ import annotations

import os
import re

import pytest

from conftest import wait_for_file, wait_until
from hpc_helpers import attempts, counting_command, finish, need_scheduler, recorded_jobs, tag, write_flow

#: Per scheduler: the submit command and how its arguments say "an array of five".
SUBMIT = {"slurm": ("sbatch", "--array=0-4 ", "--array"), "sge": ("qsub", "-t 1-5 ", " -t ")}


@pytest.fixture(params=[pytest.param("slurm", marks=pytest.mark.slurm), pytest.param("sge", marks=pytest.mark.sge)])
def scheduler(request) -> str:
    need_scheduler(request.param)
    return request.param


def test_maxsize_counts_elements_and_freed_slots_refill_in_one_array(project, scheduler: str) -> None:
    """maxsize 5, 10 tasks: 5 go out as one array and hold every slot; when they end, the 5 freed
    slots are refilled by one more array (within array_window of the first freed slot), not by
    one submission per finished job."""
    command, five, _ = SUBMIT[scheduler]
    t = tag()
    env, calls = counting_command(project, command)
    write_flow(project, scheduler, f"""
        def flow_slots():
            sf.bag(*[sf.Task([PY, "-c", {wait_for_file('go')!r}], name=f"{t}-s-{{i}}") for i in range(10)])
    """, default=True, settings={"maxsize": 5, "array_window": 5})
    uids = [f"{t}-s-{i}" for i in range(10)]
    proc = project.popen("run", "slots", "--classic", env={**os.environ, **env})
    try:
        first = wait_until(lambda: recorded_jobs(project, [], at_least=5), "five job ids in the ledger", 60, 0.1)
        assert len(first) == 5 and len(calls()) == 1 and five in calls()[0], (first, calls())
        (project.path / "go").write_text("")
        code, out, err = finish(proc, 120)
    finally:
        (project.path / "go").write_text("")
        if proc.poll() is None:
            proc.kill()
    assert code == 0, out + err
    assert sorted(recorded_jobs(project, uids)) == sorted(uids)
    assert len(calls()) == 2 and all(five in c for c in calls()), calls()


def test_arrays_off_is_one_submission_per_task(project, scheduler: str) -> None:
    """``arrays: false`` (what to compare with): one plain job per task."""
    command, _, flag = SUBMIT[scheduler]
    t = tag()
    env, calls = counting_command(project, command)
    write_flow(project, scheduler, f"""
        def flow_plain():
            sf.bag(*[sf.Task(["true"], name=f"{t}-p-{{i}}") for i in range(4)])
    """, default=True, settings={"arrays": False})
    proc = project.run("run", "plain", "--classic", check=None, env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(calls()) == 4 and not any(flag in f" {c} " for c in calls()), calls()
    assert all(re.fullmatch(r"\d+", r["job_id"]) for r in attempts(project))
