#!/usr/bin/env python
"""Job arrays benchmark: an N-task fan-out through a real SLURM or Grid Engine, arrays on vs one submission per task.

Needs a working scheduler (SLURM: `sbatch`, `squeue`, `sacct` on PATH; Grid
Engine: `qsub`, `qstat`, `qacct`; for the tests' single-node schedulers,
`. tests/services/env.sh` first). For each repeat, in a fresh temporary
directory, it times the whole `scriptflow run fanout --classic` (Python
start-up included) of a flow that starts N trivial tasks (`true`) on the
`slurm` or `sge` executor, in two arms:

- arrays: the default (`arrays: true`): attempts sharing their options go
  out as job arrays (`sbatch --array`, `qsub -t`);
- per-task: `arrays: false`: one `sbatch`/`qsub` per task.

Both arms use `maxsize: N` (no throttling by scriptflow), `submit_rate: 0`
(no pacing), `poll_interval: 1` and `output_latency: 1`. The submit command
is a wrapper first on PATH that counts its calls and execs the real one:
every job is a real job; it also notes the time of each call, so
"submitted" is when the last task reached the scheduler (from the start of
the command). The ledger must then hold N succeeded tasks. The arms
alternate in order between repeats; the table gives each repeat and the
medians: submit calls, submitted, seconds, tasks per second, and the ratio
arrays / per-task of tasks per second.

    . tests/services/env.sh
    python benchmarks/cluster_arrays.py --n 2000 --repeat 2
    python benchmarks/cluster_arrays.py --scheduler sge --n 500 --repeat 2

On SLURM it submits 2 x N x repeat real jobs, and SLURM keeps each finished
job for MinJobAge seconds (3600 on the tests' SLURM) within MaxJobCount
(10000): the default run uses 8,000 of them for the next hour. It refuses
to start when its jobs would take the held jobs past 90 % of MaxJobCount.
Grid Engine forgets a finished job at once (but for `qacct`).
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

sf.init({{"executor": "{scheduler}", "executors": {{"{scheduler}": {settings!r}}}}})


def flow_fanout():
    """{n} trivial tasks on {scheduler}, all at once."""
    sf.bag(*[sf.Task(["true"], name=f"bench-{{i}}") for i in range({n})])
'''


#: The submit command of each scheduler.
SUBMIT = {"slurm": "sbatch", "sge": "qsub"}


def counting_submit(root: Path, command: str) -> tuple[Path, Path]:
    """A folder holding a ``command`` (``sbatch``, ``qsub``) that appends its time to a file per
    call, then execs the real one."""
    real = shutil.which(command)
    if real is None:
        sys.exit(f"cluster_arrays: {command} is not on PATH (for the tests' schedulers: . tests/services/env.sh)")
    folder, calls = root / "bin", root / "submit-calls"
    folder.mkdir()
    (folder / command).write_text(f"#!/bin/sh\ndate +%s.%N >> {shlex.quote(str(calls))}\n"
                                  f"exec {shlex.quote(real)} \"$@\"\n")
    (folder / command).chmod(0o755)
    return folder, calls


def check_room(jobs: int) -> None:
    """Refuse to start when the benchmark's jobs would not fit under MaxJobCount: SLURM keeps every
    finished job for MinJobAge seconds, and past MaxJobCount it blocks every sbatch (everyone's)."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    settings = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in config.splitlines())}
    try:
        limit = int(settings.get("MaxJobCount", ""))
    except ValueError:
        return
    held = len(subprocess.run(["squeue", "-r", "-t", "all", "-h", "-o", "%i"], capture_output=True,
                              text=True).stdout.split())
    if held + jobs > limit * 0.9:
        age = settings.get("MinJobAge", "?")
        sys.exit(f"cluster_arrays: {jobs} jobs on top of the {held} SLURM holds (MaxJobCount {limit}, finished jobs "
                 f"kept {age}) would fill it and block every sbatch: lower --n or --repeat, or wait")


def succeeded(project: Path) -> int:
    return last_run_counts(project).get("succeeded", 0)


def one_arm(root: Path, name: str, scheduler: str, n: int, arrays: bool, scriptflow: list[str], path: str,
            calls: Path) -> dict[str, float]:
    project = root / name
    project.mkdir()
    settings = {"arrays": arrays, "maxsize": n, "submit_rate": 0, "poll_interval": 1, "output_latency": 1}
    (project / "sflow.py").write_text(SFLOW.format(scheduler=scheduler, n=n, settings=settings))
    calls.unlink(missing_ok=True)
    cmd = scriptflow + ["run", "fanout", "--classic"]
    t0, wall0 = time.perf_counter(), time.time()
    proc = subprocess.run(cmd, cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env={**os.environ, "PATH": path})
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        failed = "\n".join(line for line in proc.stdout.splitlines() if "failed" in line or "error" in line)
        sys.exit(f"cluster_arrays: {shlex.join(cmd)} in {project} exited {proc.returncode}:\n{failed[-3000:]}")
    if succeeded(project) != n:
        sys.exit(f"cluster_arrays: the run in {project} should have {n} succeeded tasks")
    times = [float(line) for line in calls.read_text().split()] if calls.exists() else [wall0]
    shutil.rmtree(project, ignore_errors=True)
    return {"seconds": seconds, "calls": len(times), "per_s": n / seconds, "submitted": max(times) - wall0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheduler", choices=sorted(SUBMIT), default="slurm", help="the executor (default slurm)")
    parser.add_argument("--n", type=int, default=2000, help="number of tasks (default 2000)")
    parser.add_argument("--repeat", type=int, default=2, help="repeats per arm; medians are reported (default 2)")
    parser.add_argument("--scriptflow", default=None, help="the scriptflow command (default: on PATH)")
    args = parser.parse_args()
    if min(args.n, args.repeat) < 1:
        parser.error("--n and --repeat must be positive")
    scriptflow = shlex.split(args.scriptflow) if args.scriptflow else [shutil.which("scriptflow") or "scriptflow"]
    submit = SUBMIT[args.scheduler]
    if args.scheduler == "slurm":
        check_room(2 * args.n * args.repeat)
    root = Path(tempfile.mkdtemp(prefix="sf-cluster-arrays-"))
    folder, calls = counting_submit(root, submit)
    path = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
    print(f"cluster_arrays: {args.scheduler}, N={args.n} tasks, {args.repeat} repeat(s) per arm; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}", flush=True)
    rows = []
    try:
        for rep in range(args.repeat):
            order = [("arrays", True), ("per-task", False)]
            if rep % 2:
                order.reverse()
            row = {}
            for name, arrays in order:
                row[name] = one_arm(root, f"{name}-{rep}", args.scheduler, args.n, arrays, scriptflow, path, calls)
                r = row[name]
                print(f"  repeat {rep + 1} {name:>8}: {r['calls']:.0f} {submit}, all submitted after "
                      f"{r['submitted']:.1f} s, done after {r['seconds']:.1f} s, {r['per_s']:.1f} tasks/s", flush=True)
            rows.append(row)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{'':>8} {'arm':>8} {submit:>7} {'submitted s':>11} {'seconds':>8} {'tasks/s':>8}")
    for label, pick in [(f"#{i + 1}", (lambda arm, r=r: r[arm])) for i, r in enumerate(rows)] + [
            ("median", lambda arm: {k: statistics.median(r[arm][k] for r in rows) for k in rows[0][arm]})]:
        for arm in ("arrays", "per-task"):
            v = pick(arm)
            print(f"{label:>8} {arm:>8} {v['calls']:>7.0f} {v['submitted']:>11.1f} {v['seconds']:>8.1f} "
                  f"{v['per_s']:>8.1f}")
    ratio = statistics.median(r["arrays"]["per_s"] / r["per-task"]["per_s"] for r in rows)
    calls_share = statistics.median(r["arrays"]["calls"] for r in rows) / args.n * 100
    print(f"\narrays / per-task tasks per second: {ratio:.2f} (median of repeats); "
          f"arrays used {calls_share:.2f} % of one {submit} per task")


if __name__ == "__main__":
    main()
