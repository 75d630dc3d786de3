"""What a no-op's tasks cost before anything is decided or recorded, phase by phase, in one process.

    python benchmarks/floor.py --n 10000

A flow's no-op cannot be cheaper than Python's start, importing scriptflow,
the flow's own ``sf.Task(...)`` calls, turning each into its resolved
``TaskSpec``, its fingerprint and a ``stat`` of each input and output: this
times those steps (in a temporary folder of N inputs and outputs, the
benchmark's task graph) without an engine, a ledger or a writer, so the
sum is a floor under ``scriptflow run`` on an up-to-date project
(docs/benchmarks.md, fourth round). Seconds, from ``time.perf_counter``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="tasks (default 10,000)")
    n = parser.parse_args(argv).n
    started = time.perf_counter()
    import scriptflow as sf
    from scriptflow.core.fingerprint import task_fingerprint
    from scriptflow.core.spec import build_spec
    from scriptflow.project import Project

    phases = {"import scriptflow": time.perf_counter() - started}
    with tempfile.TemporaryDirectory() as folder:
        for i in range(n):
            for name in (f"in_{i}.txt", f"out_{i}.txt"):
                Path(folder, name).write_text(f"{i}\n")
        project = Project(folder)
        at = time.perf_counter()
        tasks = [sf.Task(["cp", f"in_{i}.txt", f"out_{i}.txt"], inputs=f"in_{i}.txt", outputs=f"out_{i}.txt",
                         name=f"t{i}") for i in range(n)]
        phases["sf.Task(...)"], at = time.perf_counter() - at, time.perf_counter()
        specs = [build_spec(task, project, "local") for task in tasks]
        phases["build_spec"], at = time.perf_counter() - at, time.perf_counter()
        for spec in specs:
            task_fingerprint(spec.definition(), [(spec.inputs[0], "0" * 64)])
        phases["fingerprint"], at = time.perf_counter() - at, time.perf_counter()
        for spec in specs:
            os.stat(spec.input_abs[spec.inputs[0]])
            os.stat(spec.output_abs[spec.outputs[0]])
        phases["two stats a task"] = time.perf_counter() - at
    for name, seconds in phases.items():
        print(f"{name:20} {seconds:7.3f} s")
    print(f"{'sum':20} {sum(phases.values()):7.3f} s for {n:,} tasks (Python's own start not included)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
