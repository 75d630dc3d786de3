#!/usr/bin/env python
"""scriptflow's benchmarks: the same task graphs through scriptflow, a bare thread pool, make and doit.

Every workload is N independent tasks, task I running `cp in_I.txt out_I.txt`
with its input and output declared (see workloads.py), generated in a
temporary folder per tool:

  fanout         N fresh tasks, -j J: scriptflow run, bare ThreadPoolExecutor(J) + subprocess.run,
                 make -r -j J, doit -n J -P thread
  noop           everything built; the first no-op run after the build, the next one, and the first
                 after a run of one task again (-f t0), against make, doit, and a bare script that
                 stats every input and output
  dryrun         scriptflow run --dry-run on a project that never ran, against make -n
  noop-big       like noop at large N (the project is built once, not timed), against make
  help           scriptflow --help and --version against python -c pass
  ledger-growth  consecutive no-op runs: bytes and rows each adds to the ledger per cached task

Repetitions are interleaved: in each repetition every tool runs once, in
reverse order on odd repetitions. Every scriptflow run is checked against its
ledger (N succeeded, or N cached), every other tool's outputs against their
expected bytes, so a broken engine cannot post a fast figure. The table shows
medians, the paired ratio to scriptflow's primary arm (the median over
repetitions of scriptflow / arm in the same repetition), and the peak RSS of
each run (os.wait4 of the child; it includes the tasks it waited for, which
are a few MB each).

    python benchmarks/run.py                                  # every workload, default N, 5 repetitions
    python benchmarks/run.py --quick                          # small N, 3 repetitions: a smoke test
    python benchmarks/run.py --workloads fanout,noop --with-doit --markdown bench.md
    python benchmarks/run.py --workloads dryrun,noop-big --n 10000,50000,100000 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import DEFAULT_N, QUICK_N, STEPS, WORKLOADS, Result, Tools  # noqa: E402
from measure import BenchmarkError, doit_command, doit_version, make_command, scriptflow_command  # noqa: E402
from table import render_markdown, render_text  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See docs/benchmarks.md for what each workload measures.")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--n", default=None,
                        help="comma-separated task counts, used for every workload but help "
                             "(default: 10000; 100000 for dryrun and noop-big; 500/2000 with --quick)")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 5; 3 with --quick)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="tasks at once, every tool (default 2)")
    parser.add_argument("--quick", action="store_true", help="small N and 3 repetitions: checks the harness")
    parser.add_argument("--with-doit", action="store_true",
                        help="also run doit (pip-installed into a virtualenv under --cache on first use)")
    parser.add_argument("--no-make", action="store_true", help="leave GNU make out")
    parser.add_argument("--cache", default=None,
                        help="where doit's virtualenv is kept (default: $XDG_CACHE_HOME or ~/.cache, "
                             "/scriptflow-benchmarks)")
    parser.add_argument("--scriptflow", default=None,
                        help="the scriptflow command (default: the one beside this Python, else PATH's)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the tables as markdown to FILE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders and print where")
    args = parser.parse_args(argv)
    args.workload_list = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workload_list if w not in WORKLOADS]
    if unknown or not args.workload_list:
        parser.error(f"unknown workload {unknown[0] if unknown else '(none)'}; choose from {', '.join(WORKLOADS)}")
    try:
        args.n_list = [int(x) for x in args.n.split(",")] if args.n else None
    except ValueError:
        parser.error(f"--n takes comma-separated whole numbers, not {args.n!r}")
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.repeat < 1 or args.jobs < 1 or (args.n_list and min(args.n_list) < 1):
        parser.error("--n, --repeat and -j must be positive")
    return args


def machine_line(tools: Tools, doit_ver: str | None) -> str:
    sf_version = subprocess.run([*tools.scriptflow, "--version"], capture_output=True, text=True).stdout.strip()
    make_version = "no make"
    if tools.make:
        make_version = subprocess.run([*tools.make, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return (f"{platform.node()}: {os.cpu_count()} cores, load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at start; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {sf_version}; {make_version}; "
            + (f"doit {doit_ver}" if doit_ver else "doit not run (--with-doit)"))


def run_workload(name: str, n: int, tools: Tools, root: Path, repeat: int) -> Result:
    res = Result(name, n)
    folder = root / f"{name}-{n}"
    folder.mkdir()
    for rep in range(repeat):
        steps = STEPS[name](tools, folder, n, rep, res)
        for step in (steps if rep % 2 == 0 else list(reversed(steps))):
            step()
        done = ", ".join(f"{arm} {s[-1].seconds:.2f}s" for arm, s in res.samples.items() if len(s) > rep - 1 and s)
        print(f"  {name} N={n:,} repetition {rep + 1}/{repeat}: {done}", flush=True)
    if name != "help":
        shutil.rmtree(folder, ignore_errors=True)
    return res


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command_line = shlex.join(["python", "benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
    started = datetime.now(timezone.utc)
    try:
        tools = Tools(scriptflow=scriptflow_command(args.scriptflow), jobs=args.jobs,
                      make=None if args.no_make else make_command())
        notes = []
        if tools.make is None:
            notes.append("make: not run (" + ("--no-make" if args.no_make else "GNU make not found") + ")")
        doit_ver = None
        if args.with_doit:
            cache = Path(args.cache or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            if not args.cache:
                cache = cache / "scriptflow-benchmarks"
            tools.doit = doit_command(cache)
            doit_ver = doit_version(tools.doit)
        else:
            notes.append("doit: not run (pass --with-doit to install it into a benchmark-only virtualenv)")
        machine = machine_line(tools, doit_ver)
        print(f"{command_line}\n{started:%Y-%m-%d %H:%M} UTC; {machine}", flush=True)
        for note in notes:
            print(note, flush=True)
        header = {"command": command_line, "date": f"{started:%Y-%m-%d %H:%M} UTC", "machine": machine,
                  "repeat": str(args.repeat), "jobs": str(args.jobs)}
        root = Path(tempfile.mkdtemp(prefix="sf-bench-"))
        results: list[Result] = []
        try:
            for name in args.workload_list:
                sizes = [0] if name == "help" else (args.n_list or (QUICK_N if args.quick else DEFAULT_N)[name])
                for n in sizes:
                    results.append(run_workload(name, n, tools, root, args.repeat))
                    print(render_text(results[-1:], header, partial=True), flush=True)
        finally:
            if args.keep:
                print(f"kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    print()
    print(render_text(results, header))
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(results, header))
        print(f"markdown written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
