"""Finding and stopping the processes of an attempt, so that no stale process ever writes an output.

Two handles identify an attempt's processes. Its process group (the command
runs in a new session, so the group id is the command's pid) covers what it
starts in the background. Its environment, which every descendant inherits,
carries ``SCRIPTFLOW_RUN`` (a token unique to the run) and
``SCRIPTFLOW_ATTEMPT``: on Linux, ``/proc/*/environ`` finds them even when
nobody recorded their pid, including processes that left the group
(``setsid``). Elsewhere only the recorded pid and start time are left.

This module knows nothing of the ledger (executors never touch it); the
ledger side (which runs are dead, which tokens they used) is ``ledger.orphans``.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable, Optional

log = logging.getLogger("scriptflow.processes")

#: Environment variables every local attempt's processes carry.
RUN_ENV = "SCRIPTFLOW_RUN"
ATTEMPT_ENV = "SCRIPTFLOW_ATTEMPT"
#: What lets an attempt's script create tasks of its run (``Attempt.run_link``): the run's socket
#: and the attempt's key. Removed from what a local attempt inherits, so a run started inside a
#: task never hands its own tasks the outer run's link.
SOCKET_ENV = "SCRIPTFLOW_SOCKET"
KEY_ENV = "SCRIPTFLOW_KEY"
RUN_LINK_ENV = (SOCKET_ENV, KEY_ENV)
#: How long to wait for killed processes to disappear before giving up on them.
GONE_TIMEOUT = 30.0

POSIX = os.name == "posix"
PROC = Path("/proc")


def attempt_environment(run_token: str, attempt_id: int) -> dict[str, str]:
    """The variables a local attempt's command gets (none without a token, e.g. a dry run)."""
    if not run_token:
        return {}
    return {RUN_ENV: run_token, ATTEMPT_ENV: str(attempt_id)}


def proc_available() -> bool:
    """True where processes can be found by their environment (Linux /proc)."""
    return (PROC / "self" / "environ").exists()


def _state(pid: int) -> Optional[str]:
    """The process state letter from /proc (``Z`` zombie), or None when it is gone or unknown."""
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _stat_fields(pid: int) -> Optional[list[str]]:
    try:
        return (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _protected() -> set[int]:
    """This process and its ancestors: never killed, whatever their environment says."""
    pids = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        fields = _stat_fields(pid)
        if fields is None:
            break
        pid = int(fields[1])
    return pids


def _environ(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _variable(environ: bytes, name: str) -> Optional[str]:
    """The value of one variable in a NUL-separated environment block (None if absent)."""
    key = name.encode() + b"="
    start = environ.find(key)
    while start > 0 and environ[start - 1] != 0:  # the text inside another variable's value
        start = environ.find(key, start + 1)
    if start < 0:
        return None
    end = environ.find(b"\0", start)
    return environ[start + len(key):end if end >= 0 else len(environ)].decode(errors="replace")


def find_by_token(tokens: Iterable[str], attempt_id: Optional[int] = None) -> dict[int, str]:
    """pid -> token of every live process on this host whose environment carries one of ``tokens``
    (and, given ``attempt_id``, that attempt's SCRIPTFLOW_ATTEMPT).

    One read of /proc/PID/environ per process (a few tens of ms for hundreds of
    processes): done when a run starts after a dead one, after a failed
    attempt, and once when a run ends; never per successful task.
    """
    wanted = set(tokens)
    if not wanted or not proc_available():
        return {}
    found: dict[int, str] = {}
    for name in os.listdir(PROC):
        if not name.isdigit():
            continue
        environ = _environ(name)
        token = _variable(environ, RUN_ENV) if environ else None
        if token is None or token not in wanted:
            continue
        if attempt_id is not None and _variable(environ, ATTEMPT_ENV) != str(attempt_id):
            continue
        if _state(int(name)) not in (None, "Z", "X"):
            found[int(name)] = token
    if found:
        for pid in _protected() & set(found):
            del found[pid]
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _killpg(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a process group; False when it has no member left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def group_alive(pgid: int) -> bool:
    """True while the group has a member that is not a zombie (zombies cannot write anything)."""
    if not POSIX or not _killpg(pgid, 0):
        return False
    if not proc_available():
        return True
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                return True
    return False


def stop_token_processes(tokens: Iterable[str], timeout: float = GONE_TIMEOUT,
                         attempt_id: Optional[int] = None) -> list[int]:
    """Kill every process carrying one of ``tokens``, and the groups they lead; wait until all are gone.

    Returns the pids still alive after ``timeout`` (empty when everything
    stopped). Scans again after each kill, since a process may fork while
    it is being killed; the children inherit the token and are found next time.
    """
    tokens = set(tokens)
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        found = find_by_token(tokens, attempt_id)
        if not found:
            return []
        if time.monotonic() > deadline:
            return sorted(found)
        for pid in found:
            if pid not in killed:
                log.warning("stopping process %d left running (%s=%s)", pid, RUN_ENV, found[pid])
            killed.add(pid)
            try:
                if os.getpgid(pid) == pid:  # it leads its group: the members go too, token or not
                    _killpg(pid)
            except (ProcessLookupError, PermissionError, OSError):
                pass
            _kill(pid)
        time.sleep(0.01)


def process_start_epoch(pid: int) -> Optional[float]:
    """When a process started (Linux /proc), to tell our orphan from a recycled pid."""
    fields = _stat_fields(pid)
    try:
        ticks = int(fields[19]) if fields else None
        if ticks is None:
            return None
        boot = next(float(line.split()[1]) for line in (PROC / "stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def stop_recorded_group(pid: int, started_epoch: Optional[float], timeout: float = GONE_TIMEOUT) -> bool:
    """Fallback without tokens: kill the group of a recorded attempt pid if it is still that process.

    Only when the process's start time matches the recorded one (a recycled
    pid belongs to someone else); True if a group was killed.
    """
    began = process_start_epoch(pid)
    if started_epoch is None or began is None or abs(began - started_epoch) > 5:
        return False
    if not _killpg(pid):
        return False
    log.warning("stopped process group %d left running by a dead run", pid)
    deadline = time.monotonic() + timeout
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return True


def end_group(proc: "subprocess.Popen[bytes]", timeout: float = GONE_TIMEOUT) -> int:
    """Wait for an attempt's command, then kill what is left of its process group; its exit code.

    Where the platform allows it (``os.waitid``), the command's exit is seen
    without reaping it, so its pid, the group id, cannot be reused before
    the group is killed. Raises ``LeftoverProcesses`` when a member
    survives SIGKILL for ``timeout`` seconds (a process stuck in the kernel).
    """
    if not POSIX:  # pragma: no cover - Windows: the command's tree is not tracked further
        return proc.wait()
    if hasattr(os, "waitid"):
        try:
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:  # reaped meanwhile by an interrupt's poll()
            pass
        except InterruptedError:  # pragma: no cover - retried by Python (PEP 475)
            pass
    else:  # pragma: no cover - macOS: the group is killed just after the reap
        proc.wait()
    _killpg(proc.pid)  # the members, while the unreaped command still holds the group id
    code = proc.wait()
    if _killpg(proc.pid, 0):  # members are still dying: the group id stays theirs meanwhile
        deadline = time.monotonic() + timeout
        while group_alive(proc.pid):
            if time.monotonic() > deadline:
                raise LeftoverProcesses(proc.pid, code)
            _killpg(proc.pid)
            time.sleep(0.01)
    return code


def end_attempt(proc: "subprocess.Popen[bytes]", run_token: str, attempt_id: int,
                timeout: float = GONE_TIMEOUT) -> int:
    """``end_group``, and after a failure (a retry may follow) also the attempt's processes that
    left the group (``setsid``), found by their environment; the command's exit code."""
    code = end_group(proc, timeout)
    if code != 0 and run_token:
        left = stop_token_processes([run_token], timeout, attempt_id=attempt_id)
        if left:
            raise LeftoverProcesses(left[0], code)
    return code


class LeftoverProcesses(Exception):
    """A process of an attempt's group could not be stopped after the command ended."""

    def __init__(self, pgid: int, exit_code: int) -> None:
        super().__init__(f"a process it started (group or pid {pgid}) still runs after SIGKILL")
        self.pgid = pgid
        self.exit_code = exit_code
