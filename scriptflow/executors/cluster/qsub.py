"""The ``qsub`` family: ``executor="sge"`` (Grid Engine) and ``executor="pbs"`` (PBS/Torque, PBS Pro).

Both submit a job script file with ``qsub`` (never ``qsub -b y``, which loses
quoting), give the log paths with ``-o``/``-e`` on its command line and
cancel with one ``qdel IDS``. They differ in how they ask:

- SGE: ``qsub -terse`` prints the id; ``qstat -xml`` is the one status
  query per poll (a job it no longer lists has ended); ``qacct -j ID`` tells
  how a job ended that could not write its exit file. Attempts that share
  their options go out as one ``qsub -t 1-N`` (``arrays.py``): element ``I``
  of array ``123`` is job ``123.I``, the form ``qdel`` takes, which
  ``qstat -xml`` lists (a running element alone, pending ones as a task
  list) and ``qacct -j 123 -t I`` accounts for. ``cpus`` become
  ``-pe smp N`` (the parallel environment is the ``pe`` setting) and
  ``mem`` is per job: it is divided by the slots into a per-slot
  ``-l h_vmem=`` (Grid Engine multiplies per-slot requests by the slots).
- PBS: ``qsub`` prints the id (``123.server``); ``qstat -f IDS`` (``-x -f``
  on PBS Pro, for finished jobs) gives states and ``exit_status``; resources
  are ``-l nodes=1:ppn=N,mem=,walltime=`` (Torque) or
  ``-l select=1:ncpus=N:mem=`` (PBS Pro).
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional, Sequence

from ..base import Attempt
from .core import ClusterExecutor
from .settings import PbsSettings, SgeSettings
from .resources import Resources, hms
from .scheduler import Final, JobStatus, PollError, job_id_in


class QsubExecutor(ClusterExecutor):
    """What SGE and PBS share: script submission with ``-o``/``-e``, and ``qdel``."""

    SUBMIT_COMMAND, STATUS_COMMAND, CANCEL_COMMAND = "qsub", "qstat", "qdel"

    def submit_argv(self, script: Path, attempt: Attempt) -> list[str]:
        return ["qsub", *self.submit_flags(), "-o", str(attempt.stdout_path), "-e", str(attempt.stderr_path),
                str(script)]

    def submit_flags(self) -> list[str]:
        return []

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qdel", *job_ids]

    def common_directives(self, job_name: str) -> list[str]:
        out = [f"-N {job_name}", f"-S {self.settings.shell}"]
        if self.settings.export_env:
            out.append("-V")
        if self.queue:
            out.append(f"-q {self.queue}")
        if self.settings.account:
            out.append(f"-A {self.settings.account}")
        return out


# -- Grid Engine ----------------------------------------------------------------------------------


def parse_qsub_terse(stdout: str) -> str:
    """``qsub -terse`` prints ``ID`` (``ID.1-10:1`` for an array job)."""
    return job_id_in(stdout, r"\s*(\d+)(?:\.\S+)?\s*")


def sge_task_ids(tasks: str) -> list[int]:
    """The array elements a ``qstat`` task list names: ``3``, ``1-5:1``, ``1,3-5:1``, ``2,4``."""
    found: list[int] = []
    for part in tasks.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+)(?::(\d+))?)?\s*", part)
        if not m:
            raise PollError(f"qstat -xml gave an array task list it does not explain: {tasks!r}")
        first = int(m.group(1))
        last = int(m.group(2) or first)
        found.extend(range(first, last + 1, int(m.group(3) or 1) or 1))
    return found


def sge_job_number(job_id: str) -> str:
    """``123`` for job ``123`` and for element ``123.4`` of array 123."""
    return job_id.split(".", 1)[0]


def parse_sge_qstat_xml(stdout: str, numbers: Optional[set[str]] = None) -> dict[str, JobStatus]:
    """``qstat -xml``: every ``job_list`` (running ones under queue_info, pending under job_info),
    or only those of the job ``numbers``. An array's elements are ``NUMBER.TASK``: a running
    element has its own entry, pending ones share one whose ``tasks`` lists them (``1,3-5:1``)."""
    try:
        root = ET.fromstring(stdout)
    except ET.ParseError as exc:
        raise PollError(f"qstat -xml printed something that is not XML: {exc}") from None
    found: dict[str, JobStatus] = {}
    for job in root.iter("job_list"):
        number = (job.findtext("JB_job_number") or "").strip()
        state = (job.findtext("state") or "").strip()
        tasks = (job.findtext("tasks") or "").strip()
        if not number or (numbers is not None and number not in numbers):
            continue  # another user's array of 75,000 pending elements is not expanded
        error = f"Grid Engine put it in error state {state} (`qstat -j {number}` says why)" if "E" in state else None
        running = any(c in state for c in "rt") and "q" not in state
        for job_id in [f"{number}.{i}" for i in sge_task_ids(tasks)] if tasks else [number]:
            found[job_id] = JobStatus(state, live=True, running=running, error=error)  # one each: poll adds reasons
    return found


def parse_sge_error_reasons(stdout: str) -> dict[str, str]:
    """``qstat -j NUMBER``'s ``error reason    TASK:    text`` lines: task id -> Grid Engine's reason.
    Each element of an array has its own (``can't open output file "/logs/x.3.out"``); a plain job's
    line is task 1's. The first line per task wins."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        m = re.match(r"error reason\s+(\d+)\s*:\s*(.*)$", line)
        if m:
            found.setdefault(m.group(1), m.group(2).strip())
    return found


def parse_max_aj_tasks(stdout: str) -> int | None:
    """``max_aj_tasks 75000`` in ``qconf -sconf``: the most elements one array may have (0: no limit)."""
    m = re.search(r"^max_aj_tasks\s+(\d+)\s*$", stdout, flags=re.MULTILINE)
    return int(m.group(1)) if m else None


def parse_qacct(stdout: str) -> Optional[Final]:
    """``qacct -j ID``: the last record's ``failed`` and ``exit_status``."""
    records = [r for r in re.split(r"^=+\s*$", stdout, flags=re.MULTILINE) if r.strip()]
    if not records:
        return None
    fields: dict[str, str] = {}
    for line in records[-1].splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            fields[key] = value.strip()
    if "exit_status" not in fields:
        return None
    try:
        status = int(fields["exit_status"].split()[0])
    except (ValueError, IndexError):
        return None
    failed = fields.get("failed", "0")
    failed_code = failed.split()[0] if failed.split() else "0"
    state = f"failed {failed}" if failed_code != "0" else "done"
    if failed_code == "0" and status == 0:
        return Final(state, 0, None)
    if status > 128 and failed_code != "0":  # killed (qdel, limits): exit_status is 128 + signal
        return Final(state, -(status - 128), f"killed by signal {status - 128} (qacct: failed {failed})")
    if failed_code != "0":
        return Final(state, status or None, f"Grid Engine: failed {failed} (exit status {status}, per qacct)")
    return Final(state, status, f"exit code {status} (per qacct)")


class SgeExecutor(QsubExecutor):
    """(Son of) Grid Engine jobs: `qsub -terse`, one `qstat -xml` per poll, `qacct`, `qdel`."""

    name = "sge"
    settings_class = SgeSettings
    settings: SgeSettings
    DIRECTIVE_PREFIX = "#$"

    ARRAY_INDEX_VARIABLE, ARRAY_FIRST_INDEX = "SGE_TASK_ID", 1
    #: Grid Engine's default max_aj_tasks is assumed when ``qconf -sconf`` does not say.
    ARRAY_LIMIT_COMMAND, ARRAY_LIMIT_NAME, DEFAULT_ARRAY_LIMIT = ("qconf", "-sconf"), "max_aj_tasks", 75000

    def submit_flags(self) -> list[str]:
        return ["-terse"]

    def parse_array_limit(self, stdout: str) -> Optional[int]:
        limit = parse_max_aj_tasks(stdout)
        return self.settings.array_max if limit == 0 else limit  # 0: no limit

    def array_header(self, directives: Sequence[str], name: str) -> list[str]:
        return [f"-N {name}", *[d for d in directives if not d.startswith("-N ")]]

    def array_log_pattern(self, log_stem: Path, suffix: str) -> str:
        return f"{log_stem}.$TASK_ID{suffix}"  # Grid Engine puts the element's index for $TASK_ID

    def array_submit_argv(self, script: Path, count: int, stdout_pattern: str, stderr_pattern: str) -> list[str]:
        return ["qsub", "-terse", "-t", f"1-{count}", "-o", stdout_pattern,
                "-e", stderr_pattern, str(script)]

    def array_element_id(self, array_id: str, index: int) -> str:
        return f"{array_id}.{index}"

    def directives_for(self, res: Resources, attempt: Attempt, job_name: str) -> list[str]:
        out = self.common_directives(job_name)
        slots = res.cpus or 1
        if res.cpus is not None and res.cpus > 1:
            out.append(f"-pe {self.settings.pe} {res.cpus}")
        requests = []
        if res.mem_mb is not None:  # per slot: the job gets slots x this
            requests.append(f"{self.settings.mem_resource}={math.ceil(res.mem_mb / slots)}M")
        if res.time_s is not None:
            requests.append(f"h_rt={hms(res.time_s)}")
        if res.gpus:
            requests.append(f"{self.settings.gpu_resource}={res.gpus}")
        if requests:
            out.append("-l " + ",".join(requests))
        return out

    def parse_job_id(self, stdout: str) -> str:
        return parse_qsub_terse(stdout)

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        proc = self.run_command(["qstat", "-xml"])
        if proc.returncode != 0:
            raise PollError(f"qstat (exit {proc.returncode}): {self.message(proc)}")
        wanted = set(job_ids)
        listed = parse_sge_qstat_xml(proc.stdout, {sge_job_number(i) for i in wanted})
        found = {k: v for k, v in listed.items() if k in wanted}
        reasons: dict[str, dict[str, str]] = {}  # one `qstat -j` per job, however many of its elements
        for job_id, status in found.items():
            if status.error:  # add Grid Engine's reason ("can't open output file ...")
                number, element = sge_job_number(job_id), job_id.partition(".")[2]
                if number not in reasons:
                    reasons[number] = parse_sge_error_reasons(self.run_command(["qstat", "-j", number]).stdout)
                given = reasons[number]
                # An element's own reason (each names its own log file); a plain job is task 1.
                reason = given.get(element or "1") or next(iter(given.values()), None)
                if reason:
                    status.error = f"Grid Engine put it in error state {status.state}: {reason[:300]}"
        return found

    def accounting(self, job_ids: Sequence[str]) -> dict[str, Final]:
        found = {}
        for job_id in job_ids:  # qacct takes one job at a time; exit 1 until the job is accounted
            number, _, task = job_id.partition(".")
            proc = self.run_command(["qacct", "-j", number, *(["-t", task] if task else [])])
            if proc.returncode == 0:
                final = parse_qacct(proc.stdout)
                if final is not None:
                    found[job_id] = final
        return found


# -- PBS / Torque ---------------------------------------------------------------------------------

#: Torque/PBS negative exit_status values (the job did not run to its end).
PBS_EXEC_CODES = {
    -1: "job execution failed, before files, no retry", -2: "job execution failed, after files, no retry",
    -3: "job execution failed, do retry", -4: "job aborted on MOM initialization",
    -5: "job aborted on MOM init, checkpoint, no migrate", -6: "job aborted on MOM init, checkpoint, ok migrate",
    -7: "job restart failed", -8: "exec() of user command failed", -9: "could not create/open stdout/stderr files",
    -10: "job exceeded a memory limit", -11: "job exceeded a walltime limit", -12: "job exceeded a CPU time limit",
    -13: "cgroup setup failed, do retry", -14: "prologue failed, do retry",
}
_PBS_FINISHED = {"C", "F", "X"}
_PBS_GONE = re.compile(r"Unknown Job Id(?: Error)?\s+(\S+)|(\S+)\s+Job has finished", re.IGNORECASE)


def pbs_key(job_id: str) -> str:
    """``1234.server.example.org`` and ``1234.server`` are the same job: compare the sequence number."""
    return job_id.strip().split(".", 1)[0]


def parse_pbs_qsub(stdout: str) -> str:
    """PBS/Torque ``qsub`` prints the full id, e.g. ``1234.torque-server.example.org``."""
    return job_id_in(stdout, r"\s*(\d+(?:\[\d*\])?(?:\.[\w.-]+)?)\s*")


_PBS_ATTRIBUTE = re.compile(r"^ {4}([A-Za-z_][\w.]*) = ?(.*)$")


def parse_pbs_qstat_f(stdout: str) -> dict[str, dict[str, str]]:
    """``qstat -f``: blocks ``Job Id: ID`` then ``    key = value`` lines. qstat wraps long values
    (often mid-word) onto lines starting with a tab, and some values (``sched_hint``) hold raw
    newlines: every line that is not a new attribute continues the previous one.
    Returns {job id: {attribute: value}}."""
    jobs: dict[str, dict[str, str]] = {}
    current: Optional[dict[str, str]] = None
    last_key: Optional[str] = None
    for raw in stdout.splitlines():
        if raw.startswith("Job Id:"):
            current = jobs.setdefault(raw.split(":", 1)[1].strip(), {})
            last_key = None
            continue
        if current is None or not raw.strip():
            continue
        m = None if raw.startswith("\t") else _PBS_ATTRIBUTE.match(raw)
        if m:
            last_key = m.group(1)
            current[last_key] = m.group(2).strip()
        elif last_key is not None:
            current[last_key] += raw.strip() if raw.startswith("\t") else "\n" + raw.strip()
    return jobs


def pbs_final(attrs: dict[str, str]) -> Optional[Final]:
    state = attrs.get("job_state", "")
    raw = attrs.get("exit_status", attrs.get("Exit_status"))
    if raw is None:
        return None
    try:
        status = int(raw)
    except ValueError:
        return None
    if status == 0:
        return Final(state, 0, None)
    if status < 0:
        return Final(state, None, f"PBS: {PBS_EXEC_CODES.get(status, 'job did not run')} (exit_status {status})")
    if status >= 256:  # killed by the batch system: 256 + signal
        return Final(state, -(status - 256), f"killed by signal {status - 256} (PBS exit_status {status})")
    return Final(state, status, f"exit code {status} (per qstat)")


def pbs_statuses(stdout: str) -> dict[str, JobStatus]:
    """Job statuses keyed by ``pbs_key``, from ``qstat -f`` output."""
    found = {}
    for job_id, attrs in parse_pbs_qstat_f(stdout).items():
        state = attrs.get("job_state", "?")
        live = state not in _PBS_FINISHED
        found[pbs_key(job_id)] = JobStatus(state, live=live, running=state in ("R", "E"),
                                           final=None if live else pbs_final(attrs))
    return found


def pbs_gone_ids(stderr: str) -> Optional[set[str]]:
    """Ids qstat says it does not know (or that finished); None if stderr holds any other complaint."""
    gone: set[str] = set()
    for line in stderr.splitlines():
        if not line.strip() or (gone and line[:1].isspace()):  # blank, or a wrapped message
            continue
        m = _PBS_GONE.search(line)
        if not m:
            return None
        gone.add(pbs_key(m.group(1) or m.group(2)))
    return gone


class PbsExecutor(QsubExecutor):
    """PBS/Torque or PBS Professional jobs: `qsub`, one `qstat -f` per poll, `qdel`."""

    name = "pbs"
    settings_class = PbsSettings
    settings: PbsSettings
    DIRECTIVE_PREFIX = "#PBS"

    def job_name(self, attempt: Attempt) -> str:
        name = super().job_name(attempt)
        return name[:15] if self.settings.flavor == "torque" else name[:236]  # Torque allows 15 characters

    def directives_for(self, res: Resources, attempt: Attempt, job_name: str) -> list[str]:
        out = self.common_directives(job_name)
        mem = f"{res.mem_mb}mb" if res.mem_mb is not None else None
        if self.settings.flavor == "torque":
            requests = []
            if res.cpus is not None or res.gpus:
                nodes = f"nodes=1:ppn={res.cpus or 1}"
                if res.gpus:
                    nodes += f":gpus={res.gpus}"
                requests.append(nodes)
            if mem:
                requests.append(f"mem={mem}")
            if res.time_s is not None:
                requests.append(f"walltime={hms(res.time_s)}")
            if requests:
                out.append("-l " + ",".join(requests))
        else:
            chunk = []
            if res.cpus is not None:
                chunk.append(f"ncpus={res.cpus}")
            if mem:
                chunk.append(f"mem={mem}")
            if res.gpus:
                chunk.append(f"ngpus={res.gpus}")
            if chunk:
                out.append("-l select=1:" + ":".join(chunk))
            if res.time_s is not None:
                out.append(f"-l walltime={hms(res.time_s)}")
        return out

    def parse_job_id(self, stdout: str) -> str:
        return parse_pbs_qsub(stdout)

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        argv = ["qstat", "-x", "-f", *job_ids] if self.settings.flavor == "pbspro" else ["qstat", "-f", *job_ids]
        proc = self.run_command(argv)
        if proc.returncode != 0 and not pbs_gone_ids(proc.stderr or ""):
            raise PollError(f"qstat (exit {proc.returncode}): {self.message(proc)}")
        by_key = pbs_statuses(proc.stdout)
        return {i: by_key[pbs_key(i)] for i in job_ids if pbs_key(i) in by_key}
