"""The original's slurm-R example on the real SLURM of tests/services/, unchanged: its ``sf.init``
names only ``executors: {slurm: {...}}`` (with the original's account, modules and walltime),
and the site's partition comes from ``scriptflow.toml``. Skips without SLURM (fails where
SCRIPTFLOW_REQUIRE_SERVICES names it).
"""
from __future__ import annotations

import getpass

import pytest

from compat_helpers import install_standins, r_flow, write_original
from hpc_helpers import FAST, attempts, need_scheduler, show_job


@pytest.mark.slurm
def test_original_slurm_flow_runs_on_slurm_with_the_partition_from_toml(project):
    need_scheduler("slurm")
    env = install_standins(project)
    config = {"executors": {"slurm": {"maxsize": 2, "account": "", "partition": "standard",
                                      "modules": "R/3.6/3.6.2", "walltime": "00:05:00"}},
              "debug": True, "notify": "thomas"}
    write_original(project, r_flow(config))
    fast = "\n".join(f"{k} = {v!r}" for k, v in FAST.items())
    # the site's settings, without touching sflow.py: this cluster's partition is "debug", it has no
    # environment modules (R is on PATH), and its jobs are polled as the user running the tests
    project.write("scriptflow.toml", f"[executors.slurm]\npartition = 'debug'\nmodules = []\n"
                                     f"user = {getpass.getuser()!r}\n{fast}\n")
    proc = project.run("run", "Rit", "--classic", env=env, check=True)
    assert proc.stdout.splitlines()[0].startswith("tasks run on slurm: ")
    assert project.read("results.csv") == "draw 0\ndraw 1\ndraw 2\n"
    rows = attempts(project)
    assert len(rows) == 4 and {r["executor"] for r in rows} == {"slurm"} and all(r["job_id"] for r in rows)
    job = show_job("slurm", rows[0]["job_id"])
    assert "Partition=debug" in job and "TimeLimit=00:05:00" in job
    script = (project.path / rows[0]["job_script"]).read_text()  # project-relative in the ledger
    assert "#SBATCH --account" not in script  # account '' means none
    assert {t["shell"] for t in project.tasks().values()} == {2}
