#!/usr/bin/env python
"""Where scriptflow's time goes: one workload under a per-thread cProfile, py-spy, and getrusage.

scriptflow works in several threads (flow, prepare pool, local executor
slots, ledger writer, main), and ``python -m cProfile`` sees only the main
thread. So the run is started through a small wrapper that gives every
thread its own ``cProfile.Profile`` timed by the thread's CPU clock (so a
thread waiting on a lock or a queue costs nothing; by patching ``threading.Thread.run``),
then merges them per thread role (``sf-prepare_3`` -> ``sf-prepare``) and
reports each role's own time and its top functions by own and cumulative
time. A second, unprofiled run reports ``getrusage``: user and system CPU,
peak RSS and the voluntary / involuntary context switches of all of
scriptflow's threads (exited ones included), and of the tasks; for
``fanout`` the bare thread pool is then run on the same project the same
way, so that the two processes' own CPU (the tasks' is alike) shows the
engine's cost per task. With
``--py-spy`` (if installed) a third run is sampled by py-spy, which sees
every thread at little cost (``--idle`` shows where threads wait).

    python benchmarks/profile.py fanout --n 10000 --out /tmp/prof
    python benchmarks/profile.py noop --n 10000 --out /tmp/prof --py-spy
    python benchmarks/profile.py dryrun --n 100000 --out /tmp/prof

Workloads: fanout (a fresh project), noop (a built project: the first no-op
after the run is profiled, then the next), dryrun (run --dry-run on a fresh
project).

From Python 3.12 a process can have one profiler only (``sys.monitoring``):
there the cProfile run is one profile of every thread together, in wall
time (role ``every-thread``); py-spy still tells the threads apart.
"""
from __future__ import annotations

import argparse
import collections
import json
import pstats
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import BARE_WRAPPER, CALL_CLI, RUSAGE, scriptflow_command  # noqa: E402
from workloads import BARE_POOL, count_outputs, last_run_counts, make_folder  # noqa: E402

#: Runs the scriptflow CLI with one profiler per thread; argv: OUT_PREFIX MODE SCRIPTFLOW-ARGS...
WRAPPER = r'''
import cProfile, sys, threading, time
prefix, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
profiles = []
if mode == "cprofile" and sys.version_info >= (3, 12):
    # One profiler per process since 3.12 (sys.monitoring): every thread in one profile, in wall time.
    main_profile = cProfile.Profile()
    profiles.append(("every-thread", main_profile))
    main_profile.enable()
elif mode == "cprofile":
    original = threading.Thread.run
    def run(self):
        p = cProfile.Profile(time.thread_time)
        profiles.append((self.name, p))
        p.enable()
        try:
            original(self)
        finally:
            p.disable()
    threading.Thread.run = run
    main_profile = cProfile.Profile(time.thread_time)
    profiles.append(("MainThread", main_profile))
    main_profile.enable()
t0 = time.perf_counter()
code = 0
try:
    code = call_cli(args)
finally:
    wall = time.perf_counter() - t0
    for i, (name, p) in enumerate(profiles):
        try:
            p.disable()
            p.dump_stats(f"{prefix}.thread{i}.{name}.prof")
        except Exception as exc:
            print(f"profile of thread {name}: {exc}", file=sys.stderr)
    dump_rusage(f"{prefix}.{mode}.rusage.json", wall)
sys.exit(code)
'''

WRAPPER = CALL_CLI + RUSAGE + WRAPPER

ROLE = re.compile(r"^(.*?)(_\d+)?$")
#: py-spy stacks name threads by id; a thread's role is recognised by a frame only that role runs.
SPY_ROLES = [("sf-ledger-writer", "_loop (scriptflow/ledger/writer.py"), ("sf-flow", "run_flow (scriptflow/run/"),
             ("sf-local", "(scriptflow/executors/local.py"), ("sf-prepare", "_guard (scriptflow/core/engine.py"),
             ("MainThread", "<module> (scriptflow:")]


def thread_role(file_name: str) -> str:
    name = file_name.split(".thread", 1)[1].split(".", 1)[1].rsplit(".prof", 1)[0]
    return ROLE.match(name).group(1)  # type: ignore[union-attr]


def top_lines(stats: pstats.Stats, key: str, limit: int) -> list[str]:
    """The top functions of ``stats`` by ``key`` ('tottime' or 'cumtime'): calls, own s, cumulative s."""
    entries = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = "/".join(Path(file).parts[-2:]) if file != "~" else ""
        entries.append((tottime if key == "tottime" else cumtime, ncalls, tottime, cumtime, f"{where}:{line}({func})"))
    entries.sort(reverse=True)
    return [f"    {calls:>9} calls  own {own:7.2f} s  cum {cum:7.2f} s  {name}"
            for _, calls, own, cum, name in entries[:limit]]


def cprofile_report(prefix: Path, limit: int) -> str:
    by_role: dict[str, list[str]] = collections.defaultdict(list)
    for path in sorted(prefix.parent.glob(prefix.name + ".thread*.prof")):
        by_role[thread_role(path.name)].append(str(path))
    out = []
    for role, files in sorted(by_role.items()):
        stats = pstats.Stats(*files)
        out.append(f"  thread role {role} ({len(files)} threads): CPU {stats.total_tt:.2f} s")  # type: ignore
        out.append("   by own time:")
        out += top_lines(stats, "tottime", limit)
        out.append("   by cumulative time:")
        out += top_lines(stats, "cumtime", limit)
    return "\n".join(out)


def spy_report(raw: Path, limit: int) -> str:
    """Samples per thread role, and the top functions by own and inclusive samples (py-spy raw format)."""
    stacks: list[tuple[str, list[str], int]] = []
    roles: dict[str, str] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        stacks.append((frames[0], frames[1:], int(count)))
        for role, marker in SPY_ROLES:
            if marker in stack and frames[0] not in roles:
                roles[frames[0]] = role
    per_role: dict[str, int] = collections.Counter()
    own: dict[tuple[str, str], int] = collections.Counter()
    incl: dict[tuple[str, str], int] = collections.Counter()
    for thread, frames, count in stacks:
        role = roles.get(thread, "other")
        per_role[role] += count
        if frames:
            own[(role, frames[-1])] += count
        for frame in set(frames):
            incl[(role, frame)] += count
    total = sum(per_role.values())
    out = [f"  {total} samples; per thread role: "
           + ", ".join(f"{r} {c} ({c / total:.0%})" for r, c in per_role.most_common())]
    for role, _ in per_role.most_common():
        out.append(f"  {role}: by own samples")
        out += [f"    {c:>7}  {f}" for (r, f), c in own.most_common() if r == role][:limit]
        out.append(f"  {role}: by inclusive samples")
        out += [f"    {c:>7}  {f}" for (r, f), c in incl.most_common() if r == role][:limit]
    return "\n".join(out)


def prepare(workload: str, n: int, root: Path, sf: list[str], jobs: int) -> tuple[Path, list[str], str]:
    """The project folder, the scriptflow arguments to profile and the status its ledger must then show."""
    folder = make_folder(root, "project", n, "scriptflow")
    run = ["run", "bench", "-j", str(jobs), "--classic"]
    if workload == "noop":
        subprocess.run([*sf, *run], cwd=folder, check=True, stdout=subprocess.DEVNULL)
        return folder, run, "cached"
    if workload == "dryrun":
        return folder, [*run, "--dry-run"], ""
    return folder, run, "succeeded"


def reset(folder: Path, workload: str, snapshot: Path) -> None:
    """Put the project back as it was before the profiled run: never run (fanout, dryrun), or just built (noop:
    the ledger as the build left it; the outputs were never touched, so the stat cache still matches them)."""
    shutil.rmtree(folder / ".scriptflow", ignore_errors=True)
    if workload == "noop":
        shutil.copytree(snapshot / ".scriptflow", folder / ".scriptflow")
    elif workload == "fanout":
        for out in folder.glob("out_*.txt"):
            out.unlink()


def bare_rusage(python: Path, folder: Path, prefix: Path, n: int, jobs: int) -> str:
    """The bare pool on the same fresh project (its outputs removed first), under ``BARE_WRAPPER``."""
    reset(folder, "fanout", folder)
    (folder / "bare.py").write_text(BARE_POOL)
    result = Path(f"{prefix}.bare.rusage.json")
    subprocess.run([str(python), "-c", BARE_WRAPPER, str(result), "bare.py", str(n), str(jobs)], cwd=folder,
                   check=True, stdout=subprocess.DEVNULL)
    good = count_outputs(folder, n)
    if good != n:
        sys.exit(f"profile: {good} of the bare pool's {n} outputs are right")
    return usage_line("bare pool, rusage", result)


def usage_line(label: str, rusage_json: Path) -> str:
    """One report line of what ``dump_rusage`` wrote."""
    usage = json.loads(rusage_json.read_text())
    return f"\n[{label}] " + ", ".join(
        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in usage.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["fanout", "noop", "dryrun"])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--out", required=True, help="folder for the profiles and reports")
    parser.add_argument("--top", type=int, default=15, help="functions listed per thread role")
    parser.add_argument("--py-spy", action="store_true", help="also sample a run with py-spy (--threads --idle)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    sf = scriptflow_command(None)
    python = Path(sf[0]).with_name("python")  # the interpreter scriptflow is installed for
    root = out / f"{args.workload}-{args.n}-project"
    shutil.rmtree(root, ignore_errors=True)
    folder, run_args, status = prepare(args.workload, args.n, root, sf, args.jobs)
    snapshot = root / "snapshot"
    if args.workload == "noop":
        shutil.copytree(folder / ".scriptflow", snapshot / ".scriptflow")
    report = [f"{args.workload}, N={args.n:,}, -j {args.jobs}: scriptflow {' '.join(run_args)}"]
    prefix = out / f"{args.workload}-{args.n}"
    for mode in ("rusage", "cprofile"):
        reset(folder, args.workload, snapshot)
        for label in ["first no-op", "next no-op"] if args.workload == "noop" else ["run"]:
            p = Path(f"{prefix}.{label.replace(' ', '-')}")
            for old in out.glob(p.name + ".thread*.prof"):
                old.unlink()
            subprocess.run([str(python), "-c", WRAPPER, str(p), mode, *run_args], cwd=folder, check=True,
                           stdout=subprocess.DEVNULL)
            if status:
                counts = last_run_counts(folder)
                expected = "cached" if args.workload == "noop" else status
                if counts != {expected: args.n}:
                    sys.exit(f"profile: the ledger should hold {args.n} {expected} tasks, it holds {counts}")
            report.append(usage_line(f"{label}, {mode}", Path(f"{p}.{mode}.rusage.json")))
            if mode == "cprofile":
                report.append(cprofile_report(p, args.top))
        if mode == "rusage" and args.workload == "fanout":
            report.append(bare_rusage(python, folder, prefix, args.n, args.jobs))
    if args.py_spy and shutil.which("py-spy"):
        reset(folder, args.workload, snapshot)
        for label in ["first no-op", "next no-op"] if args.workload == "noop" else ["run"]:
            raw = Path(f"{prefix}.{label.replace(' ', '-')}.pyspy.txt")
            t0 = time.perf_counter()
            subprocess.run(["py-spy", "record", "--threads", "--idle", "-r", "200", "-f", "raw", "-o", str(raw),
                            "--", *sf, *run_args], cwd=folder, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            report.append(f"\n[{label}, py-spy --threads --idle, 200 Hz, {time.perf_counter() - t0:.1f} s]")
            report.append(spy_report(raw, args.top))
    text = "\n".join(report)
    (out / f"{args.workload}-{args.n}.report.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
