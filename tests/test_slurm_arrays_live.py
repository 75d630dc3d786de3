"""SLURM job arrays against the real SLURM (tests/services/slurm_up.sh): a fan-out goes out in a
few ``sbatch --array`` calls, and every element is still an attempt of its own in the ledger
(job id ``ARRAY_INDEX``, exit code, logs, retry, Ctrl-C).

``sbatch`` is counted by a wrapper first on PATH (``hpc_helpers.counting_command``) that execs
the real ``sbatch``: every job is a real job; the wrapper only counts. Skips without SLURM, fails
instead where SCRIPTFLOW_REQUIRE_SERVICES names slurm.
"""
from __future__ import annotations

import re
import signal
import subprocess

import pytest

from conftest import wait_until
from hpc_helpers import (attempts, counting_command, each_its_own_attempt, finish, live_jobs, need_scheduler,
                         recorded_jobs, run_fan_out, tag, write_flow)

pytestmark = pytest.mark.slurm

ELEMENT = re.compile(r"^(\d+)_(\d+)$")


@pytest.fixture(autouse=True)
def slurm() -> None:
    need_scheduler("slurm")


def sacct_states(ids: list[str]) -> dict[str, str]:
    """JobID -> ``STATE EXIT`` from the scheduler's accounting (array elements as ``ARRAY_INDEX``).
    Elements that never started are one record, found by the array's id only: ``123_[0-4]``, or
    (seen a little later after ``scancel``) ``123``."""
    arrays = sorted({i.split("_")[0] for i in ids})
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", ",".join(ids + arrays)],
                         capture_output=True, text=True, check=True).stdout
    found = {}
    for job_id, state, code in (line.split("|") for line in out.splitlines() if line.count("|") == 2):
        m = re.fullmatch(r"(\d+)_\[(\d+)-(\d+)\]", job_id)
        for one in [f"{m.group(1)}_{i}" for i in range(int(m.group(2)), int(m.group(3)) + 1)] if m else [job_id]:
            found[one] = f"{state} {code}"
    for job_id in ids:  # or, later, one record of the cancelled array under the array's id alone
        if job_id not in found and found.get(job_id.split("_")[0], "").startswith("CANCELLED"):
            found[job_id] = found[job_id.split("_")[0]]
    return found


def accounted(ids: list[str]) -> dict[str, str]:
    """``sacct_states(ids)`` once accounting has every one of them as ended; until then empty."""
    states = sacct_states(ids)
    done = all(i in states and not states[i].startswith(("PENDING", "RUNNING")) for i in ids)
    return states if done else {}


def test_fan_out_of_60_in_a_few_arrays_each_task_its_own_attempt(project) -> None:
    """60 tasks go out in at most 3 ``sbatch`` calls (one array, unless creating the tasks outlasts
    the gathering window); each task has its own element id, exit code and logs; task 7 fails once
    and its retry goes out alone, as a plain job."""
    t = tag()
    env, calls = counting_command(project, "sbatch")
    run_fan_out(project, "slurm", t, 60, env)
    sent = calls()
    arrays = [c for c in sent if "--array=" in c]
    assert arrays and len(sent) <= 3, sent
    assert sum(int(re.search(r"--array=0-(\d+)", c).group(1)) + 1 for c in arrays) == 60, sent
    assert "--array" not in sent[-1], sent  # the retry: alone in its window, a plain job
    first = each_its_own_attempt(project, t, 60, ELEMENT)
    # SLURM's own accounting knows every element under the id in the ledger, with its exit code.
    ids = [r["job_id"] for r in first]
    states = wait_until(lambda: accounted(ids), "every element in sacct", 30, 0.3)
    failed = next(r["job_id"] for r in first if r["uid"] == f"{t}-x-7")
    assert states[failed] == "FAILED 3:0"
    assert {s for i, s in states.items() if i != failed} == {"COMPLETED 0:0"}


def test_sigint_cancels_the_arrays_elements(project) -> None:
    """Ctrl-C while the elements of an array are queued or running: every element leaves squeue
    (``scancel`` per element), and each attempt is recorded interrupted."""
    t = tag()
    write_flow(project, "slurm", f"""
        def flow_long():
            sf.bag(*[sf.Task(["sleep", "120"], name=f"{t}-long-{{i}}") for i in range(5)])
    """, default=True)
    uids = [f"{t}-long-{i}" for i in range(5)]
    proc = project.popen("run", "long", "--classic")
    try:
        ids = wait_until(lambda: recorded_jobs(project, uids), "five job ids in the ledger", 60, 0.1)
        assert all(ELEMENT.match(i) for i in ids.values()), ids
        assert len({ELEMENT.match(i).group(1) for i in ids.values()}) == 1, ids  # one array
        wait_until(lambda: live_jobs("slurm", list(ids.values())) == set(ids.values()),
                   "the elements in squeue", 60, 0.1)
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, out + err
    assert live_jobs("slurm", list(ids.values())) == set()
    rows = attempts(project)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"interrupted"}, [dict(r) for r in rows]
    states = wait_until(lambda: accounted(list(ids.values())), "the elements in sacct", 30, 0.3)
    assert all(s.startswith("CANCELLED") for s in states.values()), states
