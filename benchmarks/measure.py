"""Timing one command: wall time and peak memory of a child process, and the tools it needs.

Each command runs as a child of this process and is reaped with
``os.wait4``, whose resource usage is that child's own (and that of the
processes it waited for: the tasks, a few MB each), so the peak RSS of
every scriptflow run is its own, not the maximum over the whole benchmark.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


class BenchmarkError(Exception):
    """A command failed or produced the wrong result: no figure may be posted for it."""


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    #: User + system CPU of the process and the children it waited for.
    cpu_s: float = 0.0


#: The environment every timed command runs in: the caller's, with Python's bytecode cache on as a
#: user's shell has it (``PYTHONDONTWRITEBYTECODE`` in the caller's environment would make every start
#: of scriptflow and doit compile all their modules again: about 0.2 s each).
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

#: For the wrappers that run scriptflow's command line inside a measured process (``python -c``):
#: defines ``call_cli(args)``, which runs it as its console script would and returns its exit code.
CALL_CLI = r'''
import sys
def call_cli(args):
    try:
        from scriptflow.cli import main
        sys.argv = ["scriptflow", *args]
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
'''

#: Defines ``dump_rusage(path, wall)`` in a wrapper: this process's CPU, peak RSS and context
#: switches, and those of the processes it started and waited for (the tasks), as JSON.
RUSAGE = r'''
import json, resource
def dump_rusage(path, wall):
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(path, "w") as f:
        json.dump({"wall_s": wall, "user_s": me.ru_utime, "sys_s": me.ru_stime, "maxrss_mb": me.ru_maxrss / 1024,
                   "voluntary_ctxt_switches": me.ru_nvcsw, "involuntary_ctxt_switches": me.ru_nivcsw,
                   "tasks_user_s": kids.ru_utime, "tasks_sys_s": kids.ru_stime,
                   "tasks_voluntary_ctxt_switches": kids.ru_nvcsw,
                   "tasks_involuntary_ctxt_switches": kids.ru_nivcsw}, f)
'''

#: Runs the bare pool's script (argv: OUT_JSON SCRIPT ARGS...) and writes its ``dump_rusage``: the
#: fan-out's baseline, whose own CPU against scriptflow's is the engine's cost per task.
BARE_WRAPPER = RUSAGE + r'''
import runpy, sys, time
out, sys.argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
finally:
    dump_rusage(out, time.perf_counter() - t0)
sys.exit(code)
'''


def timed(cmd: list[str], cwd: Path, stdout: Optional[Path] = None) -> Sample:
    """Run ``cmd`` in ``cwd`` (stdout to ``stdout`` or /dev/null); wall time and peak RSS, or BenchmarkError."""
    err_path = cwd / ".bench-stderr"
    out = open(stdout, "wb") if stdout is not None else subprocess.DEVNULL
    try:
        with open(err_path, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=BENCH_ENV)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout is not None:
            out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace")[-3000:]
        raise BenchmarkError(f"{shlex.join(cmd)} in {cwd} exited {proc.returncode}:\n{tail}")
    err_path.unlink()
    return Sample(elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def scriptflow_command(given: Optional[str]) -> list[str]:
    """The console script beside this interpreter (no shim in the way), else the one on PATH."""
    if given:
        return shlex.split(given)
    beside = Path(sys.executable).with_name("scriptflow")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("scriptflow")
    if found is None:
        raise BenchmarkError("no scriptflow command: install scriptflow (pip install -e .) or pass --scriptflow")
    return [found]


def doit_command(cache: Path) -> list[str]:
    """doit from a virtualenv of its own under ``cache`` (made on first use), never the user's environment."""
    venv = cache / "doit-venv"
    doit = venv / "bin" / "doit"
    if not doit.exists():
        print(f"installing doit into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "doit"], check=True)
    return [str(doit)]


def doit_version(doit: list[str]) -> str:
    python = Path(doit[0]).with_name("python")
    code = "import doit; v = doit.__version__; print(v if isinstance(v, str) else '.'.join(map(str, v)))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def make_command() -> Optional[list[str]]:
    found = shutil.which("make")
    return [found] if found else None
