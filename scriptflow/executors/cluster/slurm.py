"""``executor="slurm"``: attempts as SLURM batch jobs.

``sbatch --parsable`` submits (the log paths go on its command line, ``%``
escaped), ``squeue -r -h -o '%i %T' -j IDS`` is the one status query per poll
(a job it no longer lists has ended), the exit file decides the outcome and
``sacct -X -n -P`` (or ``scontrol show job`` where accounting is off) tells
how a job ended that could not write one (time limit, ``scancel``, node
failure). ``scancel IDS`` cancels them all at once.

Attempts that share their options go out as one ``sbatch --array=0-N``
(``arrays.py``): element ``I`` of array ``123`` is job ``123_I``, the form
squeue (``-r``: one line per element, pending ones too), sacct (``JobID``),
scontrol (``ArrayJobId``/``ArrayTaskId``) and scancel all understand, so
every element is polled, judged and cancelled as a job of its own.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ..base import Attempt
from .core import ClusterExecutor
from .settings import SlurmSettings
from .resources import Resources
from .scheduler import Final, JobStatus, PollError, job_id_in, join_ids

#: squeue states of jobs that have not ended (COMPLETING: still cleaning up, the exit file may be there).
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
               "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD", "SPECIAL_EXIT"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"}
#: Final states in sacct / scontrol.
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "REVOKED"}


def slurm_time(seconds: int) -> str:
    """``D-HH:MM:SS`` (or ``HH:MM:SS`` under a day), as ``--time`` takes it."""
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return f"{days}-{h:02d}:{m:02d}:{s:02d}" if days else f"{h:02d}:{m:02d}:{s:02d}"


def parse_sbatch(stdout: str) -> str:
    """``sbatch --parsable`` prints ``ID`` or ``ID;CLUSTER``."""
    return job_id_in(stdout, r"\s*(\d+)(?:;\S+)?\s*")


def parse_squeue(stdout: str) -> dict[str, JobStatus]:
    """Lines ``ID STATE`` of ``squeue -h -o '%i %T'``."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        state = parts[1].upper()
        found[parts[0]] = JobStatus(state, live=state in LIVE_STATES or state not in FINAL_STATES,
                                    running=state in RUNNING_STATES)
    return found


def final_from(state: str, exit_code: str, source: str) -> "Final | None":
    """A Final from a state (``CANCELLED by 0``) and an ``EXIT:SIGNAL`` pair; None while not final."""
    word = state.split()[0].upper() if state.split() else ""
    if word not in FINAL_STATES:
        return None
    try:
        code, _, sig = exit_code.partition(":")
        code_i, sig_i = int(code), int(sig or 0)
    except ValueError:
        code_i, sig_i = 0, 0
    if word == "COMPLETED" and code_i == 0 and sig_i == 0:
        return Final(state, 0, None)
    if sig_i:
        return Final(state, -sig_i, f"job {state}: killed by signal {sig_i} (per {source})")
    if code_i:
        return Final(state, code_i, f"exit code {code_i} (job {state}, per {source})")
    return Final(state, None, f"job ended {state} (per {source})")


def array_ids(job_id: str, tasks: str = "") -> list[str]:
    """The element ids a record stands for: ``123_[0-4,7%2]`` (elements that never started, kept as
    one record, as sacct shows them) -> ``123_0`` ... ``123_4``, ``123_7``; ``123`` with ``tasks``
    ``0-4`` (scontrol's ArrayTaskId) likewise; any other id -> itself."""
    m = re.fullmatch(r"(\d+)_\[([^\]]*)\]", job_id)
    if m:
        job_id, tasks = m.group(1), m.group(2)
    elif not tasks:
        return [job_id]
    out = []
    for part in tasks.split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            continue
        out += [f"{job_id}_{i}" for i in range(first, min(last, first + 10**6) + 1)]
    return out


def parse_sacct(stdout: str) -> dict[str, Final]:
    """Lines ``JOBIDRAW|STATE|EXIT:SIGNAL[|JOBID]`` of ``sacct -X -n -P -o JobIdRaw,State,ExitCode,JobID``;
    an array element is found under both its own number and ``ARRAY_INDEX`` (its JobID), and a
    record of a whole array (elements that never started) also under ``ARRAY_*``."""
    found = {}
    for line in stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3:
            continue
        final = final_from(parts[1], parts[2], "sacct")
        if final is not None:
            found[parts[0]] = final
            for job_id in array_ids(parts[3]) if len(parts) > 3 and parts[3] else []:
                found[job_id] = final
            if len(parts) > 3 and parts[3].isdigit() and final.state.startswith("CANCELLED"):
                # A plain job, or an array cancelled before any element started (then it stands for
                # them all). Only a cancellation: for a moment after an element ends, its record
                # may also show under the array's bare id, and must not speak for the others.
                found[f"{parts[3]}_*"] = final
    return found


def parse_max_array_size(stdout: str) -> int | None:
    """``MaxArraySize = 1001`` in ``scontrol show config``: array indices must stay below it."""
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "MaxArraySize":
            try:
                return int(value.split()[0])
            except (ValueError, IndexError):
                return None
    return None


def parse_scontrol(stdout: str) -> dict[str, Final]:
    """``scontrol -o show job``: one line of ``Key=Value`` words per job."""
    found = {}
    for line in stdout.splitlines():
        fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
        if "JobId" in fields:
            final = final_from(fields.get("JobState", ""), fields.get("ExitCode", ""), "scontrol")
            if final is not None:
                found[fields["JobId"]] = final
                if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
                    for job_id in array_ids(fields["ArrayJobId"], fields["ArrayTaskId"]):
                        found[job_id] = final
    return found


class SlurmExecutor(ClusterExecutor):
    """SLURM batch jobs: `sbatch`, one `squeue` per poll, `sacct` (or `scontrol`), `scancel`."""

    name = "slurm"
    settings_class = SlurmSettings
    settings: SlurmSettings
    DIRECTIVE_PREFIX = "#SBATCH"
    SUBMIT_COMMAND, STATUS_COMMAND, CANCEL_COMMAND = "sbatch", "squeue", "scancel"
    ARRAY_INDEX_VARIABLE = "SLURM_ARRAY_TASK_ID"
    #: SLURM's default MaxArraySize is assumed when ``scontrol show config`` does not say.
    ARRAY_LIMIT_COMMAND, ARRAY_LIMIT_NAME, DEFAULT_ARRAY_LIMIT = ("scontrol", "show", "config"), "MaxArraySize", 1001

    def directives_for(self, res: Resources, attempt: Attempt, job_name: str) -> list[str]:
        out = [f"--job-name={job_name}"]
        if self.queue:
            out.append(f"--partition={self.queue}")
        if self.settings.account:
            out.append(f"--account={self.settings.account}")
        if res.cpus is not None:
            out.append(f"--cpus-per-task={res.cpus}")
        if res.mem_mb is not None:
            out.append(f"--mem={res.mem_mb}M")
        if res.time_s is not None:
            out.append(f"--time={slurm_time(res.time_s)}")
        if res.gpus:
            out.append(f"--gres=gpu:{res.gpus}")
        out.append("--export=ALL" if self.settings.export_env else "--export=NONE")
        return out

    def submit_argv(self, script: Path, attempt: Attempt) -> list[str]:
        def pattern(path: Path) -> str:  # sbatch expands %j, %x...: a literal % is %%
            return str(path).replace("%", "%%")

        return ["sbatch", "--parsable", f"--output={pattern(attempt.stdout_path)}",
                f"--error={pattern(attempt.stderr_path)}", str(script)]

    def parse_job_id(self, stdout: str) -> str:
        return parse_sbatch(stdout)

    def parse_array_limit(self, stdout: str) -> int | None:
        return parse_max_array_size(stdout)  # indices 0..limit-1: limit elements

    def array_header(self, directives: Sequence[str], name: str) -> list[str]:
        return [f"--job-name={name}", *[d for d in directives if not d.startswith("--job-name=")]]

    def array_log_pattern(self, log_stem: Path, suffix: str) -> str:
        return str(log_stem).replace("%", "%%") + ".%a" + suffix  # %a: the element's index

    def array_submit_argv(self, script: Path, count: int, stdout_pattern: str, stderr_pattern: str) -> list[str]:
        return ["sbatch", "--parsable", f"--array=0-{count - 1}", f"--output={stdout_pattern}",
                f"--error={stderr_pattern}", str(script)]

    def array_element_id(self, array_id: str, index: int) -> str:
        return f"{array_id}_{index}"

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        user = ["--user", self.settings.user] if self.settings.user else []
        # -r: one line per array element, pending ones included (not 123_[4-99]); an array's id
        # stands for all its elements (a shorter query than one id per element)
        ids = dict.fromkeys(i.split("_")[0] for i in job_ids)
        proc = self.run_command(["squeue", "-r", "-h", "-o", "%i %T", *user, "-j", join_ids(ids)])
        if proc.returncode != 0:
            if "Invalid job id" in (proc.stderr or ""):  # every one of them has left squeue
                return {}
            raise PollError(f"squeue (exit {proc.returncode}): {self.message(proc)}")
        return parse_squeue(proc.stdout)

    def accounting(self, job_ids: Sequence[str]) -> dict[str, Final]:
        # Array elements that never started are one record (123_[0-4]) that only the array's id finds.
        arrays = sorted({i.split("_")[0] for i in job_ids if "_" in i})
        proc = self.run_command(["sacct", "-X", "-n", "-P", "-o", "JobIdRaw,State,ExitCode,JobID", "-j",
                                 join_ids([*job_ids, *arrays])])
        found = parse_sacct(proc.stdout) if proc.returncode == 0 else {}
        for job_id in job_ids:
            whole = found.get(job_id.split("_")[0] + "_*") if "_" in job_id else None
            if job_id not in found and whole is not None:
                found[job_id] = whole
        missing = [i for i in job_ids if i not in found]
        if missing:  # accounting off or late: scontrol keeps finished jobs for MinJobAge
            for job_id in dict.fromkeys(i.split("_")[0] for i in missing):  # an array's id shows all its elements
                show = self.run_command(["scontrol", "-o", "show", "job", job_id])
                if show.returncode == 0:
                    found.update(parse_scontrol(show.stdout))
        return found

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["scancel", *job_ids]
