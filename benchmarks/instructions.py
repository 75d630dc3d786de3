#!/usr/bin/env python
"""Two versions of scriptflow on one workload, counted in machine instructions: what a small change bought.

On a shared 2-core VM the same no-op takes anywhere from 0.9 to 1.4 s, so a
change worth 2 % cannot be seen in wall time, even as the median of paired
ratios (``compare.py``). The number of instructions a process executes
hardly moves from one run to the next (within about 1 %). This runs each
arm under valgrind's ``callgrind`` (about 50 times slower), counts every
instruction of scriptflow's process (all its threads; not the tasks'
processes, which valgrind does not follow), and prints the instructions per
task of each arm and their ratio.

    python benchmarks/instructions.py --before-rev bfb8f32 --workload noop --n 5000 --repeat 2
    python benchmarks/instructions.py --before /tmp/old --workload fanout --n 300

Workloads, N ``cp`` tasks as in ``run.py``:

* ``noop``: one project per arm, built by that arm (untimed) and run once more
  to settle its stat cache, then counted no-op runs (each must find N cached
  tasks);
* ``dryrun``: ``run --dry-run`` of a project that never ran;
* ``fanout``: a fresh project per arm and repetition (N succeeded tasks): the
  engine's own instructions, without the ``cp`` commands'.

The same is counted on a one-task project, and "per task" is the difference
divided by N - 1: Python's start, the imports and the run's fixed steps drop
out. The arms run side by side, one per core (valgrind runs a process's
threads one at a time). Needs ``valgrind`` on PATH.
"""
from __future__ import annotations

import argparse
import itertools
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import EXPECTED, add_older_arguments, older_package, scriptflow_arms  # noqa: E402
from measure import BENCH_ENV, BenchmarkError  # noqa: E402
from workloads import last_run_counts, make_folder  # noqa: E402

_COLLECTED = re.compile(r"Collected : (\d+)")


def counted(cmd: list[str], folder: Path, expected: str | None, n: int) -> int:
    """Instructions executed by ``cmd`` run in ``folder`` under callgrind; BenchmarkError if the
    run failed or left other than ``n`` tasks ``expected`` in its ledger."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd], cwd=folder,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=BENCH_ENV)
    found = _COLLECTED.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        raise BenchmarkError(f"{' '.join(cmd)} in {folder} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    if expected and last_run_counts(folder) != {expected: n}:
        raise BenchmarkError(f"{folder}: the run left {last_run_counts(folder)}, not {n} {expected} tasks")
    return int(found[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_older_arguments(parser)
    parser.add_argument("--workload", choices=["noop", "dryrun", "fanout"], default="noop",
                        help="what is counted (default noop; see the module docstring)")
    parser.add_argument("--n", type=int, default=5000, help="tasks (default 5,000; about 30 s a run for a no-op)")
    parser.add_argument("--repeat", type=int, default=2, help="counted runs of each arm; medians (default 2)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("instructions.py: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.n < 2:
        parser.error("--n must be at least 2")
    root = Path(tempfile.mkdtemp(prefix="scriptflow-instructions-"))
    try:
        return count(args, older_package(args, root), root)
    except BenchmarkError as exc:
        print(f"instructions.py: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


def count(args: argparse.Namespace, before: Path, root: Path) -> int:
    arms = scriptflow_arms(before, args.workload, jobs=2)
    expected = EXPECTED.get(args.workload)
    made = itertools.count()

    def project(arm: str, n: int) -> Path:
        """A project for ``arm``: fresh for a fan-out; built and settled by that arm for a no-op."""
        folder = make_folder(root, f"{arm}-{n}-{next(made)}", n, "scriptflow")
        if args.workload == "noop":
            for _ in range(2):  # the build, then a no-op that renews the racy stat-cache entries
                subprocess.run(arms[arm], cwd=folder, check=True, stdout=subprocess.DEVNULL, env=BENCH_ENV)
        return folder

    def one(arm: str, n: int, folder: Path | None) -> tuple[int, Path]:
        folder = folder if folder is not None and args.workload != "fanout" else project(arm, n)
        return counted(arms[arm], folder, expected, n), folder

    for arm in arms:  # each arm's bytecode compiled once, outside the count (an older package's is not yet)
        warm_up = make_folder(root, f"{arm}-warm-up", 1, "scriptflow")
        subprocess.run(arms[arm], cwd=warm_up, check=True, stdout=subprocess.DEVNULL, env=BENCH_ENV)
    totals: dict[str, dict[int, list[int]]] = {arm: {args.n: [], 1: []} for arm in arms}
    folders: dict[tuple[str, int], Path | None] = {(arm, n): None for arm in arms for n in (args.n, 1)}
    with ThreadPoolExecutor(2) as pool:  # the two arms side by side, one core each
        for r in range(args.repeat):
            for n in (args.n, 1):
                runs = {arm: pool.submit(one, arm, n, folders[arm, n]) for arm in arms}
                for arm, future in runs.items():
                    instructions, folders[arm, n] = future.result()
                    totals[arm][n].append(instructions)
            print(f"repetition {r + 1}: " + ", ".join(
                f"{arm} {totals[arm][args.n][-1]:,} ({totals[arm][1][-1]:,} for one task)" for arm in arms), flush=True)
    print(f"{args.workload}, N={args.n:,}, {args.repeat} repetitions (medians of instructions, all threads "
          f"of scriptflow's process):")
    per_task = {}
    for arm in arms:
        whole, fixed = statistics.median(totals[arm][args.n]), statistics.median(totals[arm][1])
        per_task[arm] = (whole - fixed) / (args.n - 1)
        print(f"  {arm:7s} {whole:15,.0f} in all   {fixed:13,.0f} for one task   {per_task[arm]:9,.0f} per task")
    print(f"after / before: per task {per_task['after'] / per_task['before']:.3f}, "
          f"in all {statistics.median(totals['after'][args.n]) / statistics.median(totals['before'][args.n]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
