"""Grid Engine job arrays against the real Grid Engine (tests/services/sge_up.sh): a fan-out goes
out in a few ``qsub -t 1-N`` calls, and every element is still an attempt of its own in the
ledger (job id ``ARRAY.INDEX``, exit code, logs, retry, Ctrl-C, ``qacct``).

``qsub`` is counted by a wrapper first on PATH (``hpc_helpers.counting_command``) that execs
the real ``qsub``: every job is a real job; the wrapper only counts. Skips without Grid Engine,
fails instead where SCRIPTFLOW_REQUIRE_SERVICES names sge.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from conftest import wait_until
from scriptflow.executors.registry import create_executor
from hpc_helpers import (accounted_exit, attempts, counting_command, each_its_own_attempt, finish, live_jobs,
                         need_scheduler, recorded_jobs, run_fan_out, tag, write_flow)

pytestmark = pytest.mark.sge

ELEMENT = re.compile(r"^(\d+)\.(\d+)$")


@pytest.fixture(autouse=True)
def sge() -> None:
    need_scheduler("sge")


def test_fan_out_of_40_in_a_few_arrays_each_task_its_own_attempt(project) -> None:
    """40 tasks go out in at most 3 ``qsub`` calls (one array, unless creating the tasks outlasts
    the gathering window); each task has its own element id (``ARRAY.I``, I from 1), exit code
    and logs; task 7 fails once and its retry goes out alone, as a plain job; ``qacct`` knows
    each element under the id in the ledger."""
    t = tag()
    env, calls = counting_command(project, "qsub")
    run_fan_out(project, "sge", t, 40, env)
    sent = calls()
    arrays = [c for c in sent if " -t " in f" {c} "]
    assert arrays and len(sent) <= 3, sent
    assert sum(int(re.search(r"-t 1-(\d+)", c).group(1)) for c in arrays) == 40, sent
    assert " -t " not in f" {sent[-1]} ", sent  # the retry: alone in its window, a plain job
    first = each_its_own_attempt(project, t, 40, ELEMENT)
    assert min(int(ELEMENT.match(r["job_id"]).group(2)) for r in first) == 1
    failed = next(r["job_id"] for r in first if r["uid"] == f"{t}-x-7")
    assert accounted_exit("sge", failed) == "0 3"  # qacct -j ARRAY -t I: not failed, exit status 3
    assert accounted_exit("sge", next(r["job_id"] for r in first if r["uid"] == f"{t}-x-8")) == "0 0"


def test_sigint_cancels_the_arrays_elements(project) -> None:
    """Ctrl-C while the elements of one array are running: every element leaves ``qstat``
    (``qdel ARRAY.I``), each attempt is recorded interrupted, and ``qacct`` has each one killed."""
    t = tag()
    write_flow(project, "sge", f"""
        def flow_long():
            sf.bag(*[sf.Task(["sleep", "120"], name=f"{t}-long-{{i}}") for i in range(4)])
    """, default=True)
    uids = [f"{t}-long-{i}" for i in range(4)]
    proc = project.popen("run", "long", "--classic")
    try:
        ids = wait_until(lambda: recorded_jobs(project, uids), "four job ids in the ledger", 60, 0.1)
        assert all(ELEMENT.match(i) for i in ids.values()), ids
        assert len({ELEMENT.match(i).group(1) for i in ids.values()}) == 1, ids  # one array
        wait_until(lambda: live_jobs("sge", list(ids.values())) == set(ids.values()), "the elements in qstat", 60,
                   0.1)
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, out + err
    assert live_jobs("sge", list(ids.values())) == set()
    rows = attempts(project)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"interrupted"}, [dict(r) for r in rows]
    for job_id in ids.values():  # qacct: failed 100 (killed), exit status 137 (128 + SIGKILL)
        assert accounted_exit("sge", job_id) == "100 137", job_id


def test_each_element_in_error_state_fails_with_its_own_reason(tmp_path) -> None:
    """Grid Engine puts an element whose output file cannot be opened in error state (Eqw), with a
    reason of its own in ``qstat -j``; the executor's poll gives each element its own reason, not
    the first element's. A real array, submitted with ``qsub`` here: its ``-o`` names a missing
    folder per element (a run's own log folders always exist)."""
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho never\n")
    os.chmod(script, 0o755)
    submitted = subprocess.run(["qsub", "-terse", "-t", "1-3", "-o", f"{tmp_path}/missing$TASK_ID/out",
                                "-e", str(tmp_path / "err"), str(script)], capture_output=True, text=True, check=True)
    number = submitted.stdout.strip().split(".")[0]
    ids = [f"{number}.{i}" for i in (1, 2, 3)]
    executor = create_executor("sge", {}, tmp_path / ".scriptflow")
    try:
        def all_in_error():
            found = executor.poll(ids)
            return found if all(i in found and found[i].error and "missing" in found[i].error for i in ids) else None
        found = wait_until(all_in_error, "three elements in error state with their reasons")
        for i in (1, 2, 3):
            assert f"missing{i}/out" in found[f"{number}.{i}"].error, found[f"{number}.{i}"].error
            assert found[f"{number}.{i}"].error.startswith("Grid Engine put it in error state Eqw: ")
    finally:
        subprocess.run(["qdel", number], capture_output=True)
