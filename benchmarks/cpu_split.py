"""Whose CPU a run spends: scriptflow's own process, or the commands it starts.

    python benchmarks/cpu_split.py scriptflow run bench -j 2 --classic
    python benchmarks/cpu_split.py bare.py 3000 2

``time`` adds a process's CPU and its children's together; on a fan-out of
``cp`` tasks the children are most of it, and the same for every tool. This
runs the ``scriptflow`` command (or a Python script) inside this process and
prints, when it exits, the process's own user and system CPU
(``RUSAGE_SELF``), that of the commands it started and waited for
(``RUSAGE_CHILDREN``) and its context switches, on stderr: the difference
between two tools' own CPU per task is their overhead (docs/benchmarks.md,
fifth round).
"""
from __future__ import annotations

import atexit
import resource
import runpy
import sys
import time


def report(label: str, started: float) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"{label}: wall {time.perf_counter() - started:.2f} s; own CPU user {own.ru_utime:.2f} s, "
          f"system {own.ru_stime:.2f} s, context switches {own.ru_nvcsw} voluntary, {own.ru_nivcsw} involuntary; "
          f"children user {children.ru_utime:.2f} s, system {children.ru_stime:.2f} s", file=sys.stderr)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(0 if argv else 2)
    atexit.register(report, argv[0], time.perf_counter())
    sys.argv = list(argv)
    if argv[0] == "scriptflow":
        from scriptflow.entry import main as scriptflow_main
        scriptflow_main()
    else:
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
