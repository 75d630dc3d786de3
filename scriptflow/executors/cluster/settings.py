"""The settings every cluster executor accepts, and the typed reader that checks them.

A wrong setting must stop the run before the first submission, with a
message naming the key (``executors.slurm.poll_interval must be a number
>= 0.05 (seconds), got 'fast'``), rather than surface later inside the
monitor thread as a TypeError. The reader is shared by the common settings
and by each scheduler's own (``pe``, ``flavor``...), so every key is
checked and worded the same way.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from ...errors import ConfigError
from .resources import as_lines, parse_time_seconds

COMMON_SETTINGS = {
    "maxsize": "jobs in the scheduler at once, queued or running (default 100); the rest wait in scriptflow",
    "partition": "partition (SLURM) or queue (SGE, PBS) to submit to; 'queue' is the same setting",
    "queue": "queue (SGE, PBS) or partition (SLURM) to submit to; 'partition' is the same setting",
    "account": "account to charge (SLURM --account, SGE/PBS -A); empty means none",
    "modules": ("environment modules loaded before the command (a string, or a list: each item becomes "
                "`module load ITEM`)"),
    "walltime": "default time limit of each job, e.g. '02:00:00' (a task's time= wins; default: the queue's)",
    "user": "the user whose jobs are polled (default: the current user; SLURM squeue --user)",
    "setup": "shell lines run before the command, e.g. 'source venv/bin/activate' (list or string)",
    "directives": "extra scheduler options for every job script, e.g. ['--qos=short'] (list)",
    "poll_interval": "seconds between two status queries covering all jobs in flight (default 5)",
    "submit_rate": "at most this many submissions per second (default 10; 0: no limit)",
    "poll_failure_timeout": "seconds of failing status queries before the jobs in flight fail (default 600)",
    "output_latency": "seconds to wait after a job ends for declared outputs to appear (default 5)",
    "shell": "interpreter of the job scripts (default /bin/bash)",
    "export_env": "jobs get the submitting environment (default true; SGE/PBS -V, SLURM --export=ALL)",
    "command_timeout": "seconds a scheduler command may take before it counts as failed (default 60)",
}


class Settings:
    """Typed reading of ``executors.<name>`` with one-line errors naming the key."""

    def __init__(self, name: str, settings: Mapping[str, Any]) -> None:
        self.name, self.raw = name, settings

    def _fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"executors.{self.name}.{key} must be {what}, got {self.raw[key]!r}")

    def number(self, key: str, default: float, minimum: float = 0.0, strict: bool = False,
               unit: str = "seconds") -> float:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum or (
                strict and value <= minimum):
            raise self._fail(key, f"a number {'>' if strict else '>='} {minimum:g} ({unit})")
        return float(value)

    def integer(self, key: str, default: int) -> int:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self._fail(key, "a positive integer")
        return value

    def text(self, key: str, default: Optional[str] = None) -> Optional[str]:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise self._fail(key, "a non-empty one-line string")
        return value.strip()

    def optional_text(self, key: str) -> Optional[str]:
        """Like ``text``, but an empty string means "not set" (as the original's ``account: ''``)."""
        value = self.raw.get(key)
        if isinstance(value, str) and not value.strip():
            return None
        return self.text(key)

    def duration(self, key: str) -> Any:
        """A time as users write it ('00:01:00', 90, '2h'), checked now and kept as given; '' is None."""
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        try:
            parse_time_seconds(value)
        except ValueError as exc:
            raise ConfigError(f"executors.{self.name}.{key}: {exc}") from None
        return value

    def lines(self, key: str) -> list[str]:
        try:
            return as_lines(self.raw.get(key), key)
        except ValueError:
            raise self._fail(key, "a string or a list of strings") from None

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value
