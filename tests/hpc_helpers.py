"""What the live SLURM and SGE scenarios (``test_hpc_live.py``) need besides the schedulers:
is the scheduler up, what it says about jobs, flows written for it, and a failing status command.
Kept apart so that the scenarios read as a list of what is checked, not of how it is asked.

Everything runs against the real schedulers started by ``tests/services/`` (no mocks): the
real ``scriptflow`` command in a subprocess, the real ``sbatch``/``qsub``, and the
scheduler's own commands (``squeue``, ``scontrol``, ``sacct``, ``qstat``, ``qacct``) as
witnesses. Tasks hand-shake with the test through flag files instead of fixed sleeps.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
import uuid
import xml.etree.ElementTree as ET
from typing import Callable

from conftest import PY, need_service, wait_until

#: Fast settings for tests: the defaults (5 s polls, 10 submissions/s) suit real clusters.
FAST = {"poll_interval": 0.5, "submit_rate": 0, "output_latency": 2}


# -- is it up? ---------------------------------------------------------------------------------------


def _answers(argv: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"`{' '.join(argv)}` failed: {exc}"
    if proc.returncode != 0:
        return False, f"`{' '.join(argv)}` exited {proc.returncode}: {proc.stderr.strip()[:200]}"
    return True, proc.stdout


def need_scheduler(name: str) -> None:
    """Skip without the scheduler (fail where SCRIPTFLOW_REQUIRE_SERVICES names it)."""
    if name == "slurm":
        if not shutil.which("sbatch"):
            need_service("slurm", False, "sbatch is not on PATH (start it with tests/services/slurm_up.sh)")
        ok, out = _answers(["sinfo", "-h", "-o", "%a"])
        need_service("slurm", ok and "up" in out,
                     f"sinfo does not report an up partition ({out.strip()[:200]}); run tests/services/slurm_up.sh")
    else:
        if not shutil.which("qsub") or not shutil.which("qacct"):
            need_service("sge", False, "Grid Engine's qsub/qacct are not on PATH (tests/services/sge_up.sh, "
                                       "then `. tests/services/env.sh`)")
        ok, out = _answers(["qstat", "-f"])
        need_service("sge", ok and "@" in out,
                     f"qstat -f shows no queue instance ({out.strip()[:200]}); run tests/services/sge_up.sh "
                     f"and `. tests/services/env.sh`")


# -- what the scheduler says --------------------------------------------------------------------


def live_jobs(scheduler: str, ids: list[str]) -> set[str]:
    """The ids among ``ids`` that the scheduler still lists as queued or running."""
    ids = [i for i in ids if i]
    if not ids:
        return set()
    if scheduler == "slurm":
        # -r: array elements one per line (123_4), pending ones too
        proc = subprocess.run(["squeue", "-r", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            assert "Invalid job id" in proc.stderr, proc.stderr
            return set()
        return set(proc.stdout.split()) & set(ids)
    return set(sge_listed()) & set(ids)


def sge_listed() -> dict[str, str]:
    """Every job ``qstat -xml`` lists, with its state: a plain job as ``123``, an array's elements
    as ``123.4`` (a running element has an entry of its own; pending ones share one whose
    ``tasks`` lists them, e.g. ``1,3-5:1``)."""
    proc = subprocess.run(["qstat", "-xml"], capture_output=True, text=True, check=True)
    found = {}
    for job in ET.fromstring(proc.stdout).iter("job_list"):
        number, state = (job.findtext("JB_job_number") or "").strip(), (job.findtext("state") or "").strip()
        tasks = (job.findtext("tasks") or "").strip()
        if not tasks:
            found[number] = state
        for part in tasks.split(",") if tasks else []:
            first, _, rest = part.partition("-")
            last, _, step = rest.partition(":")
            for task in range(int(first), int(last or first) + 1, int(step or 1)):
                found[f"{number}.{task}"] = state
    return found


def running_jobs(scheduler: str, ids: list[str]) -> set[str]:
    """The ids among ``ids`` that are running (not just queued)."""
    if scheduler == "slurm":
        proc = subprocess.run(["squeue", "-r", "-h", "-o", "%i %T", "-j", ",".join(ids)], capture_output=True,
                              text=True)
        return {line.split()[0] for line in proc.stdout.splitlines() if line.split()[1:2] == ["RUNNING"]}
    return {i for i, state in sge_listed().items() if state == "r"} & set(ids)


def show_job(scheduler: str, job_id: str) -> str:
    argv = ["scontrol", "show", "job", job_id] if scheduler == "slurm" else ["qstat", "-j", job_id.split(".")[0]]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def job_order(job_id: str) -> tuple[int, ...]:
    """Sort key of job ids, plain (``123``) or array elements (``123_4``, ``123.4``)."""
    return tuple(int(part) for part in re.split(r"[_.]", job_id))


def jobs_named(scheduler: str, prefix: str) -> list[str]:
    """Ids of every job (any state, from accounting) whose name starts with ``prefix``; array
    elements as ``ARRAY_INDEX`` (SLURM) or ``ARRAY.INDEX`` (Grid Engine), as scriptflow records them."""
    if scheduler == "slurm":
        proc = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,JobName", "-S", "now-1days"],
                              capture_output=True, text=True, check=True)
        return [line.split("|")[0] for line in proc.stdout.splitlines()
                if "|" in line and line.split("|", 1)[1].startswith(prefix)]
    proc = subprocess.run(["qacct", "-j", prefix + "*"], capture_output=True, text=True)
    records = re.findall(r"^jobnumber\s+(\d+).*?^taskid\s+(\S+)", proc.stdout, flags=re.MULTILINE | re.DOTALL)
    return [number if task == "undefined" else f"{number}.{task}" for number, task in records]


def accounted_exit(scheduler: str, job_id: str) -> str:
    """The scheduler's own record of how a job ended: ``FAILED 3:0`` (sacct) or ``0 3`` (qacct failed, exit)."""
    def ask() -> str:
        if scheduler == "slurm":
            out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "State,ExitCode", "-j", job_id],
                                 capture_output=True, text=True).stdout.strip()
            return out.replace("|", " ") if out and not out.startswith(("PENDING", "RUNNING")) else ""
        number, _, task = job_id.partition(".")  # an array's element: qacct -j 123 -t 4
        proc = subprocess.run(["qacct", "-j", number, *(["-t", task] if task else [])], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            return ""
        failed = re.search(r"^failed\s+(\d+)", proc.stdout, flags=re.MULTILINE)
        status = re.search(r"^exit_status\s+(\d+)", proc.stdout, flags=re.MULTILINE)
        return f"{failed.group(1)} {status.group(1)}" if failed and status else ""
    return wait_until(ask, f"accounting of job {job_id}", timeout=30, interval=0.2)


# -- flows ---------------------------------------------------------------------------------------


def tag() -> str:
    """A prefix for task uids (and so job names) that no other test run shares."""
    return "t" + uuid.uuid4().hex[:8]


def write_flow(project, scheduler: str, body: str, settings: dict | None = None, default: bool = False) -> None:
    config = {"executors": {scheduler: {**FAST, **(settings or {})}}}
    if default:
        config["executor"] = scheduler
    project.write("sflow.py", f"import os, sys\nimport scriptflow as sf\nPY = {PY!r}\nEX = {scheduler!r}\n"
                              f"sf.init({config!r})\n" + textwrap.dedent(body))


#: Task 7 of a fan-out fails once (exit 3, ``boom`` on stderr), then succeeds (``fine``).
FLAKY = "if [ -e failed-once ]; then echo fine; else : > failed-once; echo boom >&2; exit 3; fi"


def run_fan_out(project, scheduler: str, t: str, n: int, env: dict) -> None:
    """``n`` tasks ``{t}-x-I`` on ``scheduler``, each echoing ``out-I`` and ``err-I``, but task 7
    (``FLAKY``, one retry); the run must succeed."""
    write_flow(project, scheduler, f"""
        def flow_fan():
            sf.bag(*[sf.Task(["sh", "-c", {FLAKY!r} if i == 7 else f"echo out-{{i}}; echo err-{{i}} >&2"],
                             name=f"{t}-x-{{i}}", retry=1) for i in range({n})])
    """, default=True)
    proc = project.run("run", "fan", "--classic", check=None, env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def each_its_own_attempt(project, t: str, n: int, element: re.Pattern) -> list:
    """The first attempts of ``run_fan_out``'s tasks, once checked: each an array element
    (``element``) with its own id, exit code, logs and script; task 7 failed and its retry went
    out as a plain job and succeeded."""
    rows = attempts(project)
    assert len(rows) == n + 1 and [r["status"] for r in rows].count("succeeded") == n, [dict(r) for r in rows]
    first = [r for r in rows if r["number"] == 1]
    assert all(element.match(r["job_id"]) for r in first), [r["job_id"] for r in first]
    assert len({r["job_id"] for r in first}) == n
    for r in first:
        i = int(r["uid"].rsplit("-", 1)[1])
        if i == 7:
            assert r["status"] == "failed" and r["exit_code"] == 3
            assert (project.path / r["stderr_path"]).read_text() == "boom\n"
            continue
        assert r["status"] == "succeeded" and r["exit_code"] == 0 and r["host"] and r["started_at"]
        assert (project.path / r["stdout_path"]).read_text() == f"out-{i}\n"
        assert (project.path / r["stderr_path"]).read_text() == f"err-{i}\n"
        script = (project.path / r["job_script"]).read_text()  # each attempt keeps its own script
        assert f"echo out-{i}" in script and f"{t}-x-{i}" in script
    retry = next(r for r in rows if r["number"] == 2)
    assert retry["uid"] == f"{t}-x-7" and retry["status"] == "succeeded" and re.fullmatch(r"\d+", retry["job_id"])
    assert (project.path / retry["stdout_path"]).read_text() == "fine\n"
    return first


def attempts(project, run_id: int | None = None) -> list:
    run_id = run_id if run_id is not None else project.last_run()["id"]
    return project.query("SELECT t.uid, a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.run_id = ? "
                         "ORDER BY t.uid, a.number", (run_id,))


def job_ids_in_ledger(project, run_id: int | None = None) -> dict[str, str]:
    return {r["uid"]: r["job_id"] for r in attempts(project, run_id) if r["job_id"]}


def recorded_jobs(project, uids: list[str], run_id: int | None = None, at_least: int = 0) -> dict[str, str]:
    """uid -> job id of a (by default the last) run, once the ledger holds a job id for every one of
    ``uids`` and for at least ``at_least`` tasks; until then empty."""
    try:
        ids = job_ids_in_ledger(project, run_id)
    except Exception:  # noqa: BLE001 - the ledger or the run row may not exist yet
        return {}
    return ids if all(u in ids for u in uids) and len(ids) >= at_least else {}


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"scriptflow did not end within {timeout} s\nstdout:\n{out}\nstderr:\n{err}") from None
    return proc.returncode, out, err


def counting_command(project, name: str) -> tuple[dict, Callable[[], list[str]]]:
    """A PATH whose ``name`` (``sbatch``, ``qsub``) logs each call (one line of arguments) and execs
    the real one: every job is a real job, the wrapper only counts. Returns the environment for
    ``scriptflow`` and a function reading the calls."""
    real = shutil.which(name)
    assert real
    folder = project.path / "countbin"
    folder.mkdir()
    calls = project.path / f"{name}-calls"
    script = folder / name
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo "$*" >> '{calls}'
        exec '{real}' "$@"
    """))
    script.chmod(0o755)

    def read() -> list[str]:
        return calls.read_text().splitlines() if calls.exists() else []
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, read


def fake_status_command(project, scheduler: str, fails: int) -> dict:
    """A PATH folder whose ``squeue``/``qstat`` fails ``fails`` times (counting in a file), then execs
    the real one. Returns the environment for ``scriptflow``."""
    real = shutil.which("squeue" if scheduler == "slurm" else "qstat")
    assert real
    name = os.path.basename(real)
    folder = project.path / "fakebin"
    folder.mkdir()
    counter = project.path / "status-calls"
    script = folder / name
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        n=$(cat '{counter}' 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > '{counter}'
        if [ "$n" -le {fails} ]; then
          echo "{name}: error: Unable to contact the controller (connect failure), call $n" >&2
          exit 1
        fi
        exec '{real}' "$@"
    """))
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
