#!/usr/bin/env python
"""Report benchmark: `scriptflow report PATH` on a ledger of 1M file rows and 200k attempts.

The ledger is created through scriptflow's own migrations (the real schema,
views and indexes) and filled with SQL shaped like a long-lived project:
RUNS runs of one flow of CHAINS chains of STEPS tasks; step k reads step
k-1's output and three source files. In each run a tenth of the tasks are
cached (their output rows point to an older attempt) and a tenth need a retry
(a failed attempt, then a successful one). Defaults: 200 runs x 1000 tasks =
200k tasks, 200k attempts, 1M `files` rows (5 per task), every output path
with 200 rows of history.

The target is the last step of a chain: a lineage of STEPS tasks and
4 x STEPS inputs. Its files are written to disk with the recorded bytes, so
the on-disk check really hashes them. In one invocation this times, as
subprocesses (wall time, median of --repeat):

- baselines: `python -c pass` (the same interpreter), `sqlite3 LEDGER 'select 1'`
  and `scriptflow --version` (the CLI's start-up, reading no ledger);
- `scriptflow report PATH` (tree), `--json`, `--depth 1`, and `--json --run N` (lineage as of a middle run).

    python benchmarks/report_speed.py                 # build (about a minute), then time
    python benchmarks/report_speed.py --keep DIR      # keep (or reuse) the project in DIR
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

SOURCES_PER_TASK = 3


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(run: int, chain: int, step: int) -> bytes:
    return f"run {run} chain {chain} step {step}\n".encode()


def source_content(chain: int, j: int) -> bytes:
    return f"source {chain}.{j}\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def out_path(chain: int, step: int) -> str:
    return f"chain{chain:02d}/step{step:03d}.dat"


def src_path(chain: int, j: int) -> str:
    return f"data/src{chain:02d}_{j}.csv"


def build(project: Path, runs: int, chains: int, steps: int) -> dict[str, int]:
    """Create project/.scriptflow/ledger.db with scriptflow's migrations, then fill it; returns counts."""
    from scriptflow.ledger import open_for_writing
    from scriptflow.project import Project

    proj = Project(project)
    proj.ensure_state_dir()
    conn = open_for_writing(proj.ledger_path)
    conn.execute("PRAGMA synchronous = OFF")
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    current: dict[tuple[int, int], tuple[str, int, int]] = {}  # (chain, step) -> (sha, size, attempt id)
    task_id = attempt_id = 0
    conn.execute("BEGIN")
    for run in range(1, runs + 1):
        start = t0 + timedelta(hours=run)
        conn.execute(
            "INSERT INTO runs (id, name, flow, flow_file, project_dir, status, started_at, ended_at, host, pid, "
            "exit_code, scriptflow_version) VALUES (?, ?, 'build', 'sflow.py', ?, 'succeeded', ?, ?, 'bench', 1, 0, "
            "'bench')", (run, f"night-{run % 7}", str(proj.dir), stamp(start), stamp(start + timedelta(minutes=30))))
        tasks, attempts, files = [], [], []
        for chain in range(chains):
            for step in range(steps):
                task_id += 1
                key = (chain * steps + step + run) % 10
                cached = key == 0 and (chain, step) in current
                uid = f"c{chain:02d}-s{step:03d}"
                command = json.dumps(["python", "make.py", out_path(chain, step)])
                began = start + timedelta(seconds=step)
                now = stamp(began)
                sources = SOURCES_PER_TASK + (0 if step else 1)  # 5 file rows per task, the first step too
                inputs = [(src_path(chain, j), sha(source_content(chain, j)), len(source_content(chain, j)))
                          for j in range(sources)]
                if step > 0:
                    prev = current[(chain, step - 1)]
                    inputs.append((out_path(chain, step - 1), prev[0], prev[1]))
                for path, digest, size in inputs:
                    files.append((task_id, run, "input", path, digest, size, None, now))
                if cached:
                    tasks.append((task_id, run, uid, command, "cached", "cached", now))
                    digest, size, producer = current[(chain, step)]
                else:
                    tasks.append((task_id, run, uid, command, "succeeded", "input-changed", now))
                    tries = 2 if key == 1 else 1
                    for number in range(1, tries + 1):
                        attempt_id += 1
                        ok = number == tries
                        attempts.append((attempt_id, task_id, run, number, "succeeded" if ok else "failed",
                                         stamp(began), stamp(began + timedelta(milliseconds=300 + step)),
                                         0 if ok else 1, f".scriptflow/logs/{run}/{uid}.{number}.err"))
                    data = content(run, chain, step)
                    digest, size, producer = sha(data), len(data), attempt_id
                    current[(chain, step)] = (digest, size, producer)
                files.append((task_id, run, "output", out_path(chain, step), digest, size, producer, now))
        # Plain ? only (numbered ones bound from a sequence are refused from Python 3.14): the moment
        # that fills two columns is given twice.
        conn.executemany(
            "INSERT INTO tasks (id, run_id, uid, command, shell, cwd, executor, status, reason, decided_at, ended_at) "
            "VALUES (?, ?, ?, ?, 0, '.', 'local', ?, ?, ?, ?)", [(*t, t[-1]) for t in tasks])
        conn.executemany(
            "INSERT INTO attempts (id, task_id, run_id, number, status, executor, host, pid, queued_at, started_at, "
            "ended_at, exit_code, stderr_path) VALUES (?, ?, ?, ?, ?, 'local', 'bench', 1, ?, ?, ?, ?, ?)",
            [(*a[:6], a[5], *a[6:]) for a in attempts])
        conn.executemany(
            "INSERT INTO files (task_id, run_id, role, path, sha256, size, producer_attempt_id, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", files)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("runs", "tasks", "attempts", "files")}
    conn.close()
    # The files of the latest state on disk, with the recorded bytes.
    for chain in range(chains):
        for j in range(SOURCES_PER_TASK + 1):
            target = project / src_path(chain, j)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source_content(chain, j))
    for (chain, step), (digest, _, _) in current.items():
        target = project / out_path(chain, step)
        target.parent.mkdir(parents=True, exist_ok=True)
        run = next(r for r in range(runs, 0, -1) if sha(content(r, chain, step)) == digest)
        target.write_bytes(content(run, chain, step))
    (project / "sflow.py").write_text("raise SystemExit('report must not import sflow.py')\n")
    return counts


def timed(cmd: list[str], cwd: Path, check_json: bool = False) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"report_speed: {shlex.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()[-3000:]}")
    if check_json:
        json.loads(proc.stdout)
    return elapsed


def scriptflow_command(given: str | None) -> list[str]:
    """The console script beside this interpreter (no pyenv/venv shim in the way), else PATH's."""
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).with_name("scriptflow")
    return [str(beside)] if beside.exists() else [shutil.which("scriptflow") or "scriptflow"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs (default 200)")
    parser.add_argument("--chains", type=int, default=10, help="chains per run (default 10)")
    parser.add_argument("--steps", type=int, default=100, help="tasks per chain = lineage depth (default 100)")
    parser.add_argument("--repeat", type=int, default=7, help="timed repeats per command; median reported")
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it; reuse it if it holds a ledger")
    parser.add_argument("--scriptflow", help="the scriptflow command (default: the one beside this Python)")
    args = parser.parse_args()

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sf-report-"))
    root.mkdir(parents=True, exist_ok=True)
    ledger = root / ".scriptflow" / "ledger.db"
    sf = scriptflow_command(args.scriptflow)
    print(f"report_speed: {args.runs} runs x {args.chains} chains x {args.steps} steps; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {shlex.join(sf)}", flush=True)
    try:
        if not ledger.exists():
            t0 = time.perf_counter()
            counts = build(root, args.runs, args.chains, args.steps)
            print(f"built {ledger} in {time.perf_counter() - t0:.0f} s: "
                  + ", ".join(f"{v:,} {k}" for k, v in counts.items())
                  + f"; {ledger.stat().st_size / 1e6:.0f} MB", flush=True)
        target = out_path(args.chains // 2, args.steps - 1)
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], False),
            ("sqlite3 LEDGER 'select 1'", ["sqlite3", str(ledger), "select 1"], False),
            ("scriptflow --version (CLI start-up, no ledger)", [*sf, "--version"], False),
            (f"scriptflow report {target}", [*sf, "report", target], False),
            (f"scriptflow report {target} --json", [*sf, "report", target, "--json"], True),
            (f"scriptflow report {target} --depth 1", [*sf, "report", target, "--depth", "1"], False),
            (f"scriptflow report {target} --json --run {args.runs // 2}",
             [*sf, "report", target, "--json", "--run", str(args.runs // 2)], True),
        ]
        if shutil.which("sqlite3") is None:
            cases = [c for c in cases if not c[0].startswith("sqlite3")]
        times: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        for _, cmd, check in cases:  # warm the page cache once
            timed(cmd, root, check)
        for _ in range(args.repeat):
            for label, cmd, check in cases:
                times[label].append(timed(cmd, root, check))
        base = statistics.median(times["python -c pass"])
        print(f"\n{'command':<60} {'median s':>9} {'min s':>7} {'/ python':>9}")
        for label, values in times.items():
            med = statistics.median(values)
            print(f"{label:<60} {med:>9.3f} {min(values):>7.3f} {med / base:>9.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")


if __name__ == "__main__":
    main()
