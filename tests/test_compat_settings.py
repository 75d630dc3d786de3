"""Cluster settings the original scriptflow's executors took (``walltime``, ``user``, ``modules`` as one
string, ``account`` empty meaning none), checked in the job scripts scriptflow writes (no scheduler needed).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from scriptflow.errors import ConfigError
from scriptflow.executors import Attempt, create_executor


def attempt_for(tmp_path: Path, resources: dict | None = None) -> Attempt:
    logs = tmp_path / ".scriptflow" / "logs" / "1"
    return Attempt(run_id=1, attempt_id=1, task_uid="sim-0", number=1, command=["true"], shell=False,
                   cwd=tmp_path, env={}, stdout_path=logs / "sim-0.1.out", stderr_path=logs / "sim-0.1.err",
                   resources=resources or {})


def directives(tmp_path: Path, name: str, settings: dict, resources: dict | None = None) -> list[str]:
    executor = create_executor(name, settings, tmp_path / ".scriptflow")
    attempt = attempt_for(tmp_path, resources)
    script = executor._script_path(attempt)
    executor.write_script(attempt, script)
    return script.read_text().splitlines()


ORIGINAL_SLURM = {"maxsize": 2, "account": "", "partition": "standard", "modules": "R/3.6/3.6.2",
                  "walltime": "00:01:00", "user": "wiemann"}


def test_original_slurm_settings_make_the_job_script(tmp_path):
    lines = directives(tmp_path, "slurm", ORIGINAL_SLURM)
    assert "#SBATCH --time=00:01:00" in lines
    assert "#SBATCH --partition=standard" in lines
    assert not any(line.startswith("#SBATCH --account") for line in lines)  # account '' means none
    assert "{ module load R/3.6/3.6.2" in lines


def test_walltime_is_a_default_that_a_task_time_overrides(tmp_path):
    lines = directives(tmp_path, "slurm", {"walltime": "00:01:00"}, {"time": "2:00:00"})
    assert "#SBATCH --time=02:00:00" in lines and "#SBATCH --time=00:01:00" not in lines


def test_pbs_takes_walltime_and_modules_as_a_list(tmp_path):
    lines = directives(tmp_path, "pbs", {"walltime": "00:01:00", "modules": ["julia/1.8.3", "gcc"], "user": "me"})
    assert any("walltime=00:01:00" in line for line in lines if line.startswith("#PBS -l")), lines
    assert "{ module load julia/1.8.3" in lines and "{ module load gcc" in lines


@pytest.mark.parametrize("settings, message", [
    ({"walltime": "soon"}, "executors.slurm.walltime: time must be"),
    ({"user": "two\nlines"}, "executors.slurm.user must be a non-empty one-line string"),
])
def test_bad_original_settings_name_the_key(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        create_executor("slurm", settings, tmp_path / ".scriptflow")


def test_task_setup_lines_go_into_the_job_script_after_the_executors(tmp_path):
    """The julia example's PBS job script with a per-task ``setup=``, run with bash as a scheduler would."""
    attempt = attempt_for(tmp_path, {"setup": ["export SIM_SEED=42"]})
    attempt.command = "echo seed=$SIM_SEED > seed.txt"
    attempt.shell = True
    executor = create_executor("pbs", {"setup": "export SIM_SITE=1", "walltime": "00:01:00"}, tmp_path / ".sf")
    script = executor._script_path(attempt)
    executor.write_script(attempt, script)
    lines = script.read_text().splitlines()
    assert lines.index("{ export SIM_SITE=1") < lines.index("{ export SIM_SEED=42")
    import subprocess

    subprocess.run(["bash", str(script)], check=True, cwd="/", stdout=subprocess.DEVNULL)
    assert (tmp_path / "seed.txt").read_text() == "seed=42\n"
