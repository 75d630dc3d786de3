#!/usr/bin/env python
"""Where a fan-out's wall time goes: each local slot's cycle, the rate of launches over time, and how
busy the machine's cores are, beside the bare thread pool on the same graph.

    python benchmarks/slotcycle.py --n 3000 --repeat 3
    python benchmarks/slotcycle.py --n 3000 --repeat 3 --where /dev/shm

A fan-out at ``-j 2`` keeps two commands running. Between one command's
exit and the next one's start, the slot's thread does scriptflow's work
(the attempt's end, its outputs' hashes, its ledger statements, the next
attempt's log files and ``Popen``), and the flow's thread creates and
decides the tasks still to come. This times those steps for every attempt,
from inside the run (a wrapper that runs scriptflow's command line with the
local executor's ``_run`` and ``process_groups.end_group`` wrapped):

- launch: from the slot taking the attempt to its command started and
  recorded (log files, environment, ``Popen``);
- command: from then until the command's exit is seen (``waitid``);
- cleanup: its process group ended and reaped;
- handling: from the end of ``_run`` to the slot's next ``_run`` (the
  outcome's callbacks: hashes, statements, the console, the next ready task).

It reports the launches per second while the flow was still creating tasks
and after its last task was created, each thread role's CPU per task,
and how many of the machine's cores the whole run kept busy (its own CPU and its
commands', over its wall time), against the bare pool (``workloads.BARE_POOL``)
run interleaved in a fresh folder of its own. Projects are made under
``--where`` (default: the system's temporary folder); ``/dev/shm`` takes the
disk's file creation out of both arms.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import BARE_WRAPPER, CALL_CLI, scriptflow_command  # noqa: E402
from workloads import BARE_POOL, count_outputs, last_run_counts, make_folder  # noqa: E402

#: Runs the scriptflow CLI (argv: OUT_JSON SCRIPTFLOW-ARGS...) and writes, as JSON, every attempt's
#: steps on its slot thread, when the flow created its last task, and each thread's CPU.
WRAPPER = CALL_CLI + r'''
import json, os, resource, sys, threading, time
out, args = sys.argv[1], sys.argv[2:]
clock = time.perf_counter
import scriptflow.core.engine as engine_module
import scriptflow.executors.local as local
import scriptflow.executors.process_groups as groups
here = threading.local()
attempts, cpu, last_submit = [], {}, [0.0]
run_attempt, end_group = local.LocalExecutor._run, groups.end_group
waitid, submit = os.waitid, engine_module.Engine.submit

def timed_run(self, attempt, reporter):
    began = clock()
    previous = getattr(here, "ended", None)
    here.command = here.exited = None
    try:
        return run_attempt(self, attempt, reporter)
    finally:
        ended = here.ended = clock()
        if here.command is not None and here.exited is not None:
            attempts.append((began, here.command - began, here.exited - here.command, ended - here.exited,
                             None if previous is None else began - previous))

def timed_end_group(proc, *rest, **named):
    here.command = clock()
    return end_group(proc, *rest, **named)

def timed_waitid(*a):
    try:
        return waitid(*a)
    finally:
        here.exited = clock()

def timed_submit(self, *a, **k):
    try:
        return submit(self, *a, **k)
    finally:
        last_submit[0] = clock()

local.LocalExecutor._run = timed_run
groups.end_group = timed_end_group
os.waitid = timed_waitid
engine_module.Engine.submit = timed_submit
thread_run = threading.Thread.run

def counted_run(self):
    try:
        thread_run(self)
    finally:
        role = self.name.rstrip("0123456789").rstrip("_")
        cpu[role] = cpu.get(role, 0.0) + time.thread_time()

threading.Thread.run = counted_run
t0 = clock()
code = 0
try:
    code = call_cli(args)
finally:
    wall = clock() - t0
    cpu["MainThread"] = time.thread_time()
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"wall": wall, "own_cpu": me.ru_utime + me.ru_stime, "tasks_cpu": kids.ru_utime + kids.ru_stime,
                   "cpu": cpu, "t0": t0, "last_submit": last_submit[0], "attempts": attempts}, f)
sys.exit(code)
'''

STEPS = ("launch", "command", "cleanup", "handling")
#: Launches are counted in windows of this many seconds for the rate over time.
WINDOW = 0.5


def run_scriptflow(python: Path, folder: Path, n: int, jobs: int) -> dict[str, Any]:
    result = folder / "slotcycle.json"
    subprocess.run([str(python), "-c", WRAPPER, str(result), "run", "bench", "-j", str(jobs), "--classic"],
                   cwd=folder, check=True, stdout=subprocess.DEVNULL)
    counts = last_run_counts(folder)
    if counts != {"succeeded": n}:
        sys.exit(f"slotcycle: the ledger should hold {n} succeeded tasks, it holds {counts}")
    return json.loads(result.read_text())


def run_bare(python: Path, folder: Path, n: int, jobs: int) -> dict[str, Any]:
    (folder / "bare.py").write_text(BARE_POOL)
    result = folder / "bare.json"
    subprocess.run([str(python), "-c", BARE_WRAPPER, str(result), "bare.py", str(n), str(jobs)], cwd=folder,
                   check=True, stdout=subprocess.DEVNULL)
    good = count_outputs(folder, n)
    if good != n:
        sys.exit(f"slotcycle: {good} of the bare pool's {n} outputs are right")
    usage = json.loads(result.read_text())
    return {"wall": usage["wall_s"], "own_cpu": usage["user_s"] + usage["sys_s"],
            "tasks_cpu": usage["tasks_user_s"] + usage["tasks_sys_s"]}


def rates(sf: dict[str, Any]) -> tuple[float, float, float]:
    """Launches per second while the flow created tasks, after it created its last one, and the
    seconds from the first launch to the last task created."""
    starts = sorted(a[0] for a in sf["attempts"])
    if not starts:
        return 0.0, 0.0, 0.0
    first, created = starts[0], sf["last_submit"]
    during = [s for s in starts if s <= created]
    after = [s for s in starts if s > created]
    span_during = max(created - first, 1e-9)
    span_after = max(starts[-1] - created, 1e-9) if after else 0.0
    return (len(during) / span_during if during else 0.0,
            len(after) / span_after if after and span_after else 0.0, created - first)


def summarize(sf_runs: list[dict[str, Any]], bare_runs: list[dict[str, Any]], n: int) -> list[str]:
    med = statistics.median
    lines = []
    sf_wall, bare_wall = med(r["wall"] for r in sf_runs), med(r["wall"] for r in bare_runs)
    lines.append(f"wall: scriptflow {sf_wall:.2f} s, bare pool {bare_wall:.2f} s: {sf_wall / bare_wall:.2f}x "
                 f"(medians of {len(sf_runs)})")
    for label, runs in (("scriptflow", sf_runs), ("bare pool", bare_runs)):
        own, tasks = med(r["own_cpu"] for r in runs), med(r["tasks_cpu"] for r in runs)
        wall = med(r["wall"] for r in runs)
        lines.append(f"{label}: own CPU {1e3 * own / n:.3f} ms a task, its commands' {1e3 * tasks / n:.3f} ms; "
                     f"cores kept busy {(own + tasks) / wall:.2f} of {os.cpu_count()}")
    roles = sorted({role for r in sf_runs for role in r["cpu"]})
    lines.append("scriptflow's CPU per task by thread role: " + ", ".join(
        f"{role} {1e3 * med(r['cpu'].get(role, 0.0) for r in sf_runs) / n:.3f} ms" for role in roles))
    steps = {name: [a[i + 1] for r in sf_runs for a in r["attempts"] if a[i + 1] is not None]
             for i, name in enumerate(STEPS)}
    lines.append("each attempt on its slot thread, median / mean ms: " + ", ".join(
        f"{name} {1e3 * med(v):.3f} / {1e3 * statistics.mean(v):.3f}" for name, v in steps.items() if v))
    during, after, span = (med(x) for x in zip(*(rates(r) for r in sf_runs)))
    lines.append(f"launches per second: {during:.0f} while the flow created tasks (the first {span:.2f} s), "
                 f"{after:.0f} after its last task was created")
    return lines


def over_time(sf: dict[str, Any]) -> str:
    """One run's launches per window and their mean launch step: where the slow part of the run is."""
    starts = sorted((a[0], a[1]) for a in sf["attempts"])
    if not starts:
        return "no attempts"
    first = starts[0][0]
    windows: dict[int, list[float]] = {}
    for at, launch in starts:
        windows.setdefault(int((at - first) / WINDOW), []).append(launch)
    created = sf["last_submit"] - first
    return f"launches per {WINDOW} s (mean launch step), last task created at {created:.2f} s: " + ", ".join(
        f"{k * WINDOW:.1f}s {len(v)} ({1e3 * statistics.mean(v):.2f} ms)" for k, v in sorted(windows.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="tasks (default 3,000)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--where", default=None, help="folder to make the projects in (default: the temporary folder)")
    args = parser.parse_args(argv)
    sf = scriptflow_command(None)
    python = Path(sf[0]).with_name("python")
    root = Path(tempfile.mkdtemp(prefix="sf-slotcycle-", dir=args.where))
    sf_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, Any]] = []
    try:
        for rep in range(args.repeat):
            arms = [("scriptflow", sf_runs), ("bare", bare_runs)]
            for arm, runs in arms if rep % 2 == 0 else reversed(arms):
                folder = make_folder(root, f"{arm}-{rep}", args.n, arm)
                runs.append(run_scriptflow(python, folder, args.n, args.jobs) if arm == "scriptflow"
                            else run_bare(python, folder, args.n, args.jobs))
            print(f"repetition {rep + 1}/{args.repeat}: scriptflow {sf_runs[-1]['wall']:.2f} s, "
                  f"bare pool {bare_runs[-1]['wall']:.2f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nfan-out of {args.n:,} tasks, -j {args.jobs}, projects under {args.where or tempfile.gettempdir()}")
    for line in summarize(sf_runs, bare_runs, args.n):
        print(line)
    print(over_time(sf_runs[len(sf_runs) // 2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
