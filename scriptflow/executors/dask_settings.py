"""``executors.dask``: where the Dask cluster is, and how tasks use its workers.

Its own module so that ``scriptflow executors`` can list the settings (and a
wrong one can stop a run) without importing Dask, and so that the mapping
of a task's ``cpus``/``gpus``/``mem`` to Dask worker resources is one
function that can be read and tested alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Mapping, Optional

from ..errors import ConfigError
from .cluster.resources import parse_mem_mb
from .settings import ExecutorSettings, setting

#: Task keywords that become Dask worker resources of the same name (``mem`` in bytes).
RESOURCE_NAMES = ("cpus", "gpus", "mem")


@dataclass(frozen=True)
class DaskSettings(ExecutorSettings):
    """``executors.dask``: an existing scheduler (``address``) or a LocalCluster started for the run."""

    address: Optional[str] = setting(None, "scheduler to connect to, e.g. 'tcp://host:8786' (none: start a "
                                           "LocalCluster for the run)")
    n_workers: Optional[int] = setting(None, "worker processes of the LocalCluster (without address)",
                                       unit="processes", default_text="Dask's default for this machine")
    threads_per_worker: Optional[int] = setting(None, "tasks each LocalCluster worker runs at once (without "
                                                      "address)", unit="tasks",
                                                default_text="Dask's default for this machine")
    resources: str = setting("auto", "map a task's cpus/gpus/mem to Dask worker resources: 'auto' (those some "
                                     "worker declares), 'always', 'never'", choices=("auto", "always", "never"))
    dask_retries: int = setting(0, "times Dask itself may run an attempt again after its worker died, within the "
                                   "same attempt (0: the attempt fails and the task's retry decides)",
                                unit="runs", minimum=0)
    work_stealing: Optional[bool] = setting(None, "Dask work stealing in the LocalCluster (without address; an "
                                                  "existing scheduler keeps its own configuration)",
                                            default_text="Dask's default (on)")
    connect_timeout: float = setting(30.0, "how long connecting to the scheduler may take", unit="seconds",
                                     minimum=0.0, strict=True)

    def check(self, executor: str) -> None:
        if self.address is not None:
            given = [k for k in ("n_workers", "threads_per_worker", "work_stealing") if getattr(self, k) is not None]
            if given:
                raise ConfigError(f"executors.{executor}.{given[0]} configures the LocalCluster scriptflow starts; "
                                  f"it cannot be used with 'address' (configure that cluster's workers instead)")


def dask_resources(resources: Mapping[str, Any], mode: str, declared: Collection[str]) -> dict[str, float]:
    """The Dask resource restrictions of a task: ``cpus``, ``gpus`` (counts) and ``mem`` (bytes).

    ``mode`` 'auto' keeps the names some worker declares (``dask worker --resources "cpus=8
    mem=32e9"``), so a cluster that declares none runs every task anywhere; 'always' keeps them
    all (a task waits until a worker has room for it); 'never' keeps none. ValueError names
    a value that cannot be read.
    """
    if mode == "never":
        return {}
    out: dict[str, float] = {}
    for name in RESOURCE_NAMES:
        value = resources.get(name)
        if value is None or (mode == "auto" and name not in declared):
            continue
        if name == "mem":
            out[name] = float(parse_mem_mb(value) * 1024 * 1024)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        out[name] = float(value)
    return out
