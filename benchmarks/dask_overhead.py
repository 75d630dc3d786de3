#!/usr/bin/env python
"""Dask overhead benchmark: N trivial tasks through `scriptflow run` on Dask vs a bare `client.map`.

One Dask cluster (a real `dask scheduler` and `dask worker` processes on
127.0.0.1, started here) serves both arms. For each repeat, in a fresh
temporary directory, it times the whole command (Python start-up and
connecting to the scheduler included):

- baseline: `python -c SCRIPT`, which connects a `Client` and runs the N
  commands with `client.map(subprocess.run, ...)`, then gathers them;
- scriptflow: `scriptflow run fanout --classic` on a project whose flow
  starts the same N commands as tasks with `executor="dask"` (one declared
  output each); the ledger must then hold N succeeded tasks.

Every task runs `sh -c 'echo I > out_I.txt'`. The two arms alternate in
order between repeats; the table gives each repeat and the medians.
Overhead ms/task is (scriptflow - baseline) / N.

    python benchmarks/dask_overhead.py --n 200          # 5 repeats, 1 worker x 2 threads
    python benchmarks/dask_overhead.py --n 500 --workers 2 --threads 1 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import socket
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

sf.init({{"executor": "dask", "executors": {{"dask": {{"address": {address!r}}}}}}})
N = {n}


def flow_fanout():
    """{n} trivial tasks on Dask, all at once."""
    tasks = [sf.Task(["sh", "-c", f"echo {{i}} > out_{{i}}.txt"], outputs=f"out_{{i}}.txt", name=f"t{{i}}").start()
             for i in range(N)]
    sf.bag(*tasks)
'''

BASELINE = '''\
import os, subprocess, sys
from distributed import Client

address, n = sys.argv[1], int(sys.argv[2])
cmds = [["sh", "-c", f"echo {i} > out_{i}.txt"] for i in range(n)]
with Client(address, set_as_default=False) as client:
    futures = client.map(subprocess.run, cmds, pure=False, cwd=os.getcwd(), stdin=subprocess.DEVNULL)
    codes = [p.returncode for p in client.gather(futures)]
sys.exit(1 if any(codes) else 0)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(root: Path, workers: int, threads: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` worker processes; returns once all workers registered."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    log = open(root / "cluster.log", "ab")
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                      "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT)]
    for i in range(workers):
        procs.append(subprocess.Popen(dask + ["worker", address, "--name", f"w{i}", "--nthreads", str(threads),
                                              "--no-nanny", "--no-dashboard"], stdout=log, stderr=subprocess.STDOUT))
    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=60)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    """SIGTERM the workers, then the scheduler; SIGKILL what has not stopped 20 s later."""
    for proc in [*procs[1:], procs[0]]:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print(f"dask_overhead: {shlex.join(proc.args)} ignored SIGTERM: killed", file=sys.stderr)
            proc.kill()
            proc.wait()


def timed(cmd: list[str], cwd: Path) -> float:
    """Run cmd in cwd (stdout to /dev/null); its wall time in seconds, or exit with its stderr."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"dask_overhead: {shlex.join(cmd)} in {cwd} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return elapsed


def succeeded(project: Path) -> int:
    return last_run_counts(project).get("succeeded", 0)


def measure(root: Path, rep: int, n: int, address: str, scriptflow: list[str]) -> dict[str, float]:
    base_dir, proj_dir = root / f"baseline-{rep}", root / f"project-{rep}"
    base_dir.mkdir()
    proj_dir.mkdir()
    (proj_dir / "sflow.py").write_text(SFLOW.format(n=n, address=address))
    result: dict[str, float] = {}

    def baseline() -> None:
        result["baseline"] = timed([sys.executable, "-c", BASELINE, address, str(n)], base_dir)
        made = sum(1 for _ in base_dir.glob("out_*.txt"))
        if made != n:
            sys.exit(f"dask_overhead: the baseline wrote {made} of {n} outputs")

    def scriptflow_run() -> None:
        result["scriptflow"] = timed(scriptflow + ["run", "fanout", "--classic"], proj_dir)
        if succeeded(proj_dir) != n:
            sys.exit(f"dask_overhead: the scriptflow run should have {n} succeeded tasks")

    for step in ((baseline, scriptflow_run) if rep % 2 == 0 else (scriptflow_run, baseline)):
        step()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="number of tasks (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="dask worker processes (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="repeats; medians are reported (default 5)")
    parser.add_argument("--scriptflow", default=None, help="the scriptflow command (default: on PATH)")
    args = parser.parse_args()
    if min(args.n, args.workers, args.threads, args.repeat) < 1:
        parser.error("--n, --workers, --threads and --repeat must be positive")
    scriptflow = shlex.split(args.scriptflow) if args.scriptflow else [shutil.which("scriptflow") or "scriptflow"]
    root = Path(tempfile.mkdtemp(prefix="sf-dask-bench-"))
    print(f"dask_overhead: N={args.n} tasks, {args.workers} worker(s) x {args.threads} thread(s), "
          f"{args.repeat} repeat(s); {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}", flush=True)
    address, procs = start_cluster(root, args.workers, args.threads)
    rows = []
    try:
        for rep in range(args.repeat):
            r = measure(root, rep, args.n, address, scriptflow)
            rows.append(r)
            print(f"  repeat {rep + 1}: baseline {r['baseline']:.2f}s, scriptflow {r['scriptflow']:.2f}s", flush=True)
    finally:
        stop_cluster(procs)
        shutil.rmtree(root, ignore_errors=True)
    table = [{**r, "ratio": r["scriptflow"] / r["baseline"],
              "overhead_ms": (r["scriptflow"] - r["baseline"]) / args.n * 1000} for r in rows]
    median = {k: statistics.median(t[k] for t in table) for k in table[0]}
    print(f"\n{'':>8} {'baseline s':>10} {'scriptflow s':>12} {'sf/base':>8} {'overhead ms/task':>16}")
    for label, t in [(f"#{i + 1}", t) for i, t in enumerate(table)] + [("median", median)]:
        print(f"{label:>8} {t['baseline']:>10.2f} {t['scriptflow']:>12.2f} {t['ratio']:>8.2f} "
              f"{t['overhead_ms']:>16.2f}")


if __name__ == "__main__":
    main()
