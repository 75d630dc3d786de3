"""What a task asks of a scheduler (``cpus``, ``mem``, ``time``, ``gpus``, ``directives``;
``timeout`` is the walltime when no ``time`` is given).

Users write resources in whatever units they are used to (``4G``, ``1.5GB``,
``2:00:00``, ``90m``...) and each scheduler wants its own spelling. Reading
them once into neutral units (MiB, seconds) keeps the three dialects in
``slurm.py``/``qsub.py`` down to formatting, and lets an unreadable value fail
its task with one clear message before a script is written or a job
submitted.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_MEM_FACTOR = {"k": 1 / 1024, "": 1, "m": 1, "g": 1024, "t": 1024 ** 2, "p": 1024 ** 3}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$", re.IGNORECASE)
_DURATION_FACTOR = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_mem_mb(value: Any) -> int:
    """Memory in MiB from what users write: ``4G``, ``500M``, ``1.5GB``, ``512K``; a bare number is MiB."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"mem must be like '4G' or '500M', got {value!r}")
    m = _MEM.match(str(value))
    if not m:
        raise ValueError(f"mem must be like '4G', '500M' or a number of MiB, got {value!r}")
    mb = math.ceil(float(m.group(1)) * _MEM_FACTOR[m.group(2).lower()])
    if mb <= 0:
        raise ValueError(f"mem must be positive, got {value!r}")
    return mb


def parse_time_seconds(value: Any) -> int:
    """Walltime in seconds from what users write.

    An int (or digits) is minutes, as in SLURM; ``H:MM:SS``; ``M:SS`` (minutes:seconds, as in
    SLURM); ``D-H``, ``D-H:MM``, ``D-H:MM:SS``; or a number with a unit: ``90m``, ``2h``, ``1d``.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"time must be like '2:00:00' or minutes, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = int(round(float(value) * 60))
    else:
        text = str(value).strip()
        m = _DURATION.match(text)
        try:
            if m:
                seconds = int(round(float(m.group(1)) * _DURATION_FACTOR[m.group(2).lower()]))
            elif re.fullmatch(r"\d+", text):
                seconds = int(text) * 60
            else:
                days = 0
                if "-" in text:
                    d, text = text.split("-", 1)
                    days = int(d)
                    parts = [int(p) for p in text.split(":")]
                    if not 1 <= len(parts) <= 3:
                        raise ValueError
                    parts += [0] * (3 - len(parts))          # D-H, D-H:M, D-H:M:S
                    h, mi, s = parts
                else:
                    parts = [int(p) for p in text.split(":")]
                    if len(parts) == 3:
                        h, mi, s = parts
                    elif len(parts) == 2:                   # M:S
                        h, (mi, s) = 0, parts
                    else:
                        raise ValueError
                if mi >= 60 and (days or h) or s >= 60:
                    raise ValueError
                seconds = days * 86400 + h * 3600 + mi * 60 + s
        except ValueError:
            raise ValueError(
                f"time must be like '2:00:00', '1-12:00:00', '90m' or minutes as a number, got {value!r}"
            ) from None
    if seconds <= 0:
        raise ValueError(f"time must be positive, got {value!r}")
    return seconds


def hms(seconds: int) -> str:
    """``H:MM:SS`` (hours may exceed 24), as SGE ``h_rt`` and PBS ``walltime`` take it."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def as_lines(value: Any, what: str) -> list[str]:
    """Lines from one string or a list of strings, blank ones dropped (task directives, config lines)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [line for line in value.splitlines() if line.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [v for v in value if v.strip()]
    raise ValueError(f"{what} must be a string or a list of strings, got {value!r}")


@dataclass
class Resources:
    """A task's requests, in scheduler-neutral units."""

    cpus: Optional[int] = None
    mem_mb: Optional[int] = None
    time_s: Optional[int] = None
    gpus: Optional[int] = None
    directives: list[str] = field(default_factory=list)

    @classmethod
    def from_task(cls, resources: Mapping[str, Any]) -> "Resources":
        """Check and convert ``Task(cpus=, mem=, time=, gpus=, directives=)``; ValueError names the key."""
        res = cls()
        for key in ("cpus", "gpus"):
            value = resources.get(key)
            if value is None:
                continue
            try:
                number = int(value)
                if isinstance(value, bool) or number != float(value) or number < (1 if key == "cpus" else 0):
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"{key} must be a {'positive' if key == 'cpus' else 'non-negative'} "
                                 f"integer, got {value!r}") from None
            setattr(res, key, number)
        if resources.get("mem") is not None:
            res.mem_mb = parse_mem_mb(resources["mem"])
        if resources.get("time") is not None:
            res.time_s = parse_time_seconds(resources["time"])
        elif resources.get("timeout") is not None:  # seconds (see Task): the walltime, in whole seconds
            res.time_s = max(1, math.ceil(float(resources["timeout"])))
        res.directives = as_lines(resources.get("directives"), "directives")
        return res
