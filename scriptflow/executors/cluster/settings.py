"""The settings of the cluster executors: what they share, and what each scheduler adds.

A wrong setting must stop the run before the first submission, with a
message naming the key (``executors.slurm.poll_interval must be a number
>= 0.05 (seconds), got 'fast'``), rather than surface later inside the
monitor thread as a TypeError; ``ExecutorSettings.from_config`` checks every
field declared here the same way. Keys and defaults are a public interface
(``docs/hpc.md``, ``docs/executors.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ...errors import ConfigError
from ..settings import ExecutorSettings, setting
from .resources import parse_time_seconds


def _absolute_path(value: str) -> bool:
    return value.startswith("/") and not any(c.isspace() for c in value)


@dataclass(frozen=True)
class ClusterSettings(ExecutorSettings):
    """What every batch-scheduler executor accepts under ``executors.<name>``."""

    maxsize: int = setting(100, "jobs in the scheduler at once, queued or running; the rest wait in scriptflow",
                           unit="jobs")
    partition: Optional[str] = setting(None, "partition (SLURM) or queue (SGE, PBS) to submit to; "
                                             "'queue' is the same setting")
    queue: Optional[str] = setting(None, "queue (SGE, PBS) or partition (SLURM) to submit to; "
                                         "'partition' is the same setting")
    account: Optional[str] = setting(None, "account to charge (SLURM --account, SGE/PBS -A); empty means none",
                                     empty_is_none=True)
    modules: list[str] = setting([], "environment modules loaded before the command (one string or a list; "
                                     "each becomes `module load NAME`)")
    walltime: Optional[Any] = setting(None, "default time limit of each job, e.g. '02:00:00' (a task's time= "
                                            "wins; default: the queue's)", parse=parse_time_seconds,
                                      type_text="time ('H:MM:SS', seconds, '2h')")
    user: Optional[str] = setting(None, "the user whose jobs are polled (default: the current user; SLURM "
                                        "squeue --user; SGE/PBS poll by job id)", empty_is_none=True)
    setup: list[str] = setting([], "shell lines run before the command, e.g. 'source venv/bin/activate'")
    directives: list[str] = setting([], "extra scheduler options for every job script, e.g. ['--qos=short']")
    poll_interval: float = setting(5.0, "time between two status queries covering all jobs in flight",
                                   unit="seconds", minimum=0.05)
    submit_rate: float = setting(10.0, "at most this many submissions per second (0: no limit)",
                                 unit="submissions per second", minimum=0.0)
    poll_failure_timeout: float = setting(600.0, "how long status queries may keep failing before the jobs "
                                                 "in flight fail", unit="seconds", minimum=0.0)
    output_latency: float = setting(5.0, "how long to wait after a job ends for declared outputs to appear "
                                         "(shared filesystems)", unit="seconds", minimum=0.0)
    shell: str = setting("/bin/bash", "interpreter of the job scripts (their #! line; SGE/PBS -S)",
                         check=(_absolute_path, "an absolute path without spaces"))
    export_env: bool = setting(True, "jobs get the submitting environment (SGE/PBS -V, SLURM --export=ALL; "
                                     "false: SLURM --export=NONE)")
    command_timeout: float = setting(60.0, "how long a scheduler command may take before it counts as failed",
                                     unit="seconds", minimum=0.0, strict=True)

    def check(self, executor: str) -> None:
        if self.partition is not None and self.queue is not None:
            raise ConfigError(f"executors.{executor}: give either 'partition' or 'queue', not both")

    @property
    def target_queue(self) -> Optional[str]:
        """The partition or queue jobs go to (the two keys are one setting)."""
        return self.partition or self.queue


@dataclass(frozen=True)
class ArraySettings(ClusterSettings):
    """The common cluster settings and job arrays (SLURM ``sbatch --array``, Grid Engine ``qsub -t``)."""

    arrays: bool = setting(True, "submit attempts that share their options together as job arrays (one "
                                 "sbatch --array or qsub -t for many; each element is still its own job); "
                                 "false: one submission per attempt")
    array_max: int = setting(1000, "at most this many attempts in one job array (also bounded by the "
                                   "cluster's limit, SLURM MaxArraySize or Grid Engine max_aj_tasks, and by "
                                   "maxsize; 1: no arrays)", unit="attempts")
    array_window: float = setting(0.5, "how long a queued attempt waits for others to share its array "
                                       "(unless a full array can go at once)", unit="seconds", minimum=0.0)


@dataclass(frozen=True)
class SlurmSettings(ArraySettings):
    """``executors.slurm``: the common cluster settings and job arrays."""


@dataclass(frozen=True)
class SgeSettings(ArraySettings):
    """``executors.sge``: the common cluster settings, job arrays, and how Grid Engine names its resources."""

    pe: str = setting("smp", "parallel environment for cpus > 1: `-pe PE N`")
    mem_resource: str = setting("h_vmem", "per-slot memory resource that `mem` sets (e.g. mem_free, h_rss)")
    gpu_resource: str = setting("gpu", "resource that `gpus` requests: `-l NAME=N`")


@dataclass(frozen=True)
class PbsSettings(ClusterSettings):
    """``executors.pbs``: the common cluster settings and which PBS it talks to."""

    flavor: str = setting("torque", "'torque' (-l nodes=1:ppn=N, qstat -f) or 'pbspro' (-l select=..., "
                                    "qstat -x -f)", choices=("torque", "pbspro"))
