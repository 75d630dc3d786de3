"""Fan-in: how long ``start()`` of one task with K task inputs takes.

The flow starts K producer tasks first and waits until the engine has decided them, then
times ``consumer.start()`` alone (the
consumer lists all K producers as inputs) and writes the figure to a file. It runs
with ``--dry-run`` so nothing is executed: only the engine's bookkeeping is timed.

    python benchmarks/fanin.py --k 100000
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

FLOW = textwrap.dedent("""
    import time
    from concurrent.futures import wait

    import scriptflow as sf

    def flow_fanin(k):
        producers = [sf.Task(["true"], outputs=f"p{i}.txt", name=f"p{i}", quiet=True) for i in range(int(k))]
        for p in producers:
            p.start()
        wait(producers)  # the engine is idle: only the consumer's own start() is timed
        consumer = sf.Task(["true"], inputs=producers, outputs="all.txt", name="consumer")
        began = time.perf_counter()
        consumer.start()
        seconds = time.perf_counter() - began
        open("start_seconds.txt", "w").write(repr(seconds))
""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=100_000, help="number of task inputs (default 100000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "sflow.py").write_text(FLOW)
        proc = subprocess.run(["scriptflow", "run", "fanin", str(args.k), "--dry-run"], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        if proc.returncode != 0:
            sys.exit(f"scriptflow failed ({proc.returncode}): {proc.stderr}")
        seconds = float(Path(folder, "start_seconds.txt").read_text())
    print(f"start() of a task with {args.k} task inputs: {seconds:.3f} s")


if __name__ == "__main__":
    main()
