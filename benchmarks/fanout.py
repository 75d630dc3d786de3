#!/usr/bin/env python
"""Fan-out benchmark: N trivial tasks through `scriptflow run` vs a bare thread pool.

In one invocation, for each repeat, this measures (wall time of the whole
command, Python start-up included, in a fresh temporary directory):

- baseline: `python -c SCRIPT`, a bare script that runs the N commands with
  `concurrent.futures.ThreadPoolExecutor(j)` + `subprocess.run`;
- scriptflow: `scriptflow run fanout -j J --classic` on a fresh project whose
  flow starts the same N commands as tasks (one declared output each),
  output to /dev/null;
- no-op: the same `scriptflow run` again, where every task is cached.

Every task runs `sh -c 'echo I > out_I.txt'` (a real subprocess) and declares
`out_I.txt` as its output. The order of baseline and scriptflow alternates
between repeats. After each scriptflow run the ledger is checked: the first
run must have N succeeded tasks, the no-op run N cached ones.

Machines are noisy: read the ratios to the baseline measured in the same
invocation, not the seconds.

    python benchmarks/fanout.py --n 1000            # 3 repeats
    python benchmarks/fanout.py --n 10000           # 1 repeat
    python benchmarks/fanout.py --n 1000 -j 4 --repeat 5 --keep
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workloads import last_run_counts  # noqa: E402  (counts cached tasks recorded as reuses too)

SFLOW = '''\
import scriptflow as sf

N = {n}


def flow_fanout():
    """{n} trivial tasks, all at once."""
    tasks = [sf.Task(["sh", "-c", f"echo {{i}} > out_{{i}}.txt"], outputs=f"out_{{i}}.txt", name=f"t{{i}}").start()
             for i in range(N)]
    sf.bag(*tasks)
'''

BASELINE = '''\
import subprocess, sys
from concurrent.futures import ThreadPoolExecutor

n, j = int(sys.argv[1]), int(sys.argv[2])


def one(i):
    cmd = ["sh", "-c", f"echo {i} > out_{i}.txt"]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL).returncode


with ThreadPoolExecutor(j) as pool:
    codes = list(pool.map(one, range(n)))
sys.exit(1 if any(codes) else 0)
'''


def timed(cmd: list[str], cwd: Path) -> float:
    """Run cmd in cwd (stdout to /dev/null); its wall time in seconds, or exit with its stderr."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"fanout: {shlex.join(cmd)} in {cwd} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return elapsed


def expect(counts: dict[str, int], status: str, n: int, what: str) -> None:
    if counts != {status: n}:
        sys.exit(f"fanout: the {what} run should have {n} {status} tasks, the ledger says {counts}")


def measure(root: Path, rep: int, n: int, jobs: int, scriptflow: list[str]) -> dict[str, float]:
    """One repeat: baseline, scriptflow cold and no-op (baseline first on even repeats)."""
    base_dir = root / f"baseline-{rep}"
    proj_dir = root / f"project-{rep}"
    base_dir.mkdir()
    proj_dir.mkdir()
    (proj_dir / "sflow.py").write_text(SFLOW.format(n=n))
    run = scriptflow + ["run", "fanout", "-j", str(jobs), "--classic"]
    result: dict[str, float] = {}

    def baseline() -> None:
        result["baseline"] = timed([sys.executable, "-c", BASELINE, str(n), str(jobs)], base_dir)
        made = sum(1 for _ in base_dir.glob("out_*.txt"))
        if made != n:
            sys.exit(f"fanout: the baseline wrote {made} of {n} outputs")

    def cold() -> None:
        result["scriptflow"] = timed(run, proj_dir)
        expect(last_run_counts(proj_dir), "succeeded", n, "first scriptflow")
        result["noop"] = timed(run, proj_dir)
        expect(last_run_counts(proj_dir), "cached", n, "no-op scriptflow")

    for step in ((baseline, cold) if rep % 2 == 0 else (cold, baseline)):
        step()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of tasks (default 1000)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="tasks at once, both arms (default: CPU count, %(default)s here)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repeats; the median is reported (default 3, or 1 when N >= 5000)")
    parser.add_argument("--scriptflow", default=None,
                        help="the scriptflow command (default: `scriptflow` on PATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and print its path")
    args = parser.parse_args()
    repeat = args.repeat if args.repeat is not None else (1 if args.n >= 5000 else 3)
    if args.n < 1 or args.jobs < 1 or repeat < 1:
        parser.error("--n, -j and --repeat must be positive")
    scriptflow = shlex.split(args.scriptflow) if args.scriptflow else [shutil.which("scriptflow") or "scriptflow"]

    root = Path(tempfile.mkdtemp(prefix="sf-fanout-"))
    print(f"fanout: N={args.n} tasks, -j {args.jobs}, {repeat} repeat(s); "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}", flush=True)
    rows = []
    try:
        for rep in range(repeat):
            r = measure(root, rep, args.n, args.jobs, scriptflow)
            rows.append(r)
            print(f"  repeat {rep + 1}: baseline {r['baseline']:.2f}s, scriptflow {r['scriptflow']:.2f}s, "
                  f"no-op {r['noop']:.2f}s", flush=True)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    def derived(r: dict[str, float]) -> dict[str, float]:
        return {**r,
                "ratio": r["scriptflow"] / r["baseline"],
                "overhead_ms": (r["scriptflow"] - r["baseline"]) / args.n * 1000,
                "noop_ratio": r["noop"] / r["baseline"]}

    table = [derived(r) for r in rows]
    median = {k: statistics.median(t[k] for t in table) for k in table[0]}
    header = (f"{'':>8} {'baseline s':>10} {'scriptflow s':>12} {'sf/base':>8} {'overhead ms/task':>16} "
              f"{'no-op s':>8} {'no-op/base':>10}")
    print()
    print(header)
    for label, t in [(f"#{i + 1}", t) for i, t in enumerate(table)] + [("median", median)]:
        print(f"{label:>8} {t['baseline']:>10.2f} {t['scriptflow']:>12.2f} {t['ratio']:>8.2f} "
              f"{t['overhead_ms']:>16.2f} {t['noop']:>8.2f} {t['noop_ratio']:>10.2f}")


if __name__ == "__main__":
    main()
