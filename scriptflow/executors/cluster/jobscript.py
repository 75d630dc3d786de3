"""The job script scriptflow writes for each cluster attempt, and the exit file it leaves behind.

Everything a job needs travels in one file the user can read and rerun:
``.scriptflow/jobs/<run>/<uid>.<attempt>.sh`` holds the scheduler directives,
module loads and setup lines, the environment overrides, a ``cd`` to the
task's folder and the command, all quoted exactly. It also wraps the command
so that the job records its own outcome, because the scheduler alone cannot
tell an exit code after the fact on every site: the wrapper writes the exit
code, start and end times and host to ``<uid>.<attempt>.exit`` next to the
script (atomically: temp file + mv) before the job ends. This module is the
two ends of that contract, the writing and the reading, so they cannot drift
apart; it knows no scheduler.
"""
from __future__ import annotations

import os
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from ...names import file_stem
from .. import container
from ..base import Attempt

#: Shell builtins and keywords: an argv naming one runs through ``env --`` so that the program
#: (``/usr/bin/printf``...) runs, exactly as the local executor's exec would run it.
_SHELL_WORDS = frozenset(
    "alias bg bind break builtin caller case cd command compgen complete continue declare dirs disown do "
    "done echo elif else enable esac eval exec exit export false fc fg fi for function getopts hash help "
    "history if in jobs kill let local logout mapfile popd printf pushd pwd read readarray readonly return "
    "select set shift shopt source suspend test then time times trap true type typeset ulimit umask "
    "unalias unset until wait while [ [[ ]] { } ! . :".split()
)


def script_path(state_dir: Path, attempt: Attempt) -> Path:
    """``<state_dir>/jobs/<run>/<uid>.<attempt>.sh``; two uids never share a script or an exit file."""
    return state_dir / "jobs" / str(attempt.run_id) / f"{file_stem(attempt.task_uid)}.{attempt.number}.sh"


def exit_path_for(script: Path) -> Path:
    return script.with_suffix(".exit")


def command_line(command: Any, shell: bool) -> str:
    """The command as one shell line: ``shlex.join(argv)``, or ``/bin/sh -c 'STRING'``."""
    if shell:
        text = command if isinstance(command, str) else shlex.join(command)
        return f"/bin/sh -c {shlex.quote(text)}"
    argv = [command] if isinstance(command, str) else list(command)
    line = shlex.join(argv)
    if argv and argv[0] in _SHELL_WORDS:
        line = "env -- " + line
    return line


def command_lines(attempt: Attempt) -> list[str]:
    """The lines that run the command and end the job with its exit code.

    In an OCI container (podman, docker) the container is not a process of the job: a
    scheduler that cancels the job (scancel, a walltime) kills the runtime's client and leaves
    the container running. So the client runs in the background, and a trap kills and removes
    the container by name before the job ends. Apptainer/Singularity run as processes of the
    job, which the scheduler stops itself.
    """
    if attempt.container is None:
        return [command_line(attempt.command, attempt.shell) + " </dev/null", "sf_finish $?"]
    argv = container.wrap(attempt)
    stops = container.stop_argvs(attempt.container.runtime, container.container_name(attempt))
    if not stops:
        return [shlex.join(argv) + " </dev/null", "sf_finish $?"]
    stop = "; ".join(shlex.join(a) + " >/dev/null 2>&1" for a in stops)
    return [
        f"sf_stop_container() {{ {stop}; }}",
        "trap 'sf_stop_container; sf_finish 143 \"stopped by a signal: container stopped\"' TERM INT HUP",
        shlex.join(argv) + " </dev/null &",
        "wait $!",
        "sf_finish $?",
    ]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def render_job_script(attempt: Attempt, *, shell: str, directive_prefix: str, directives: Sequence[str],
                      exit_path: Path, modules: Sequence[str], setup: Sequence[str],
                      log_note: str = "") -> str:
    """The text of a job script (see the module docstring and docs/hpc.md)."""
    q = shlex.quote
    lines = [f"#!{shell}"]
    for d in directives:
        lines.append(d if d.startswith("#") else f"{directive_prefix} {d}")
    lines += [
        "#",
        f"# scriptflow job: task {attempt.task_uid!r}, run {attempt.run_id}, attempt {attempt.number}.",
        "# Written by scriptflow and kept for debugging; it runs the command below and records its exit",
        "# code and start/end times in the .exit file next to this script.",
        f"# stdout: {attempt.stdout_path}",
        f"# stderr: {attempt.stderr_path}",
    ]
    if log_note:
        lines.append(f"# {log_note}")
    lines += [
        f"sf_exit_file={q(str(exit_path))}",
        "sf_now() { date +%s.%N 2>/dev/null || date +%s; }",
        "sf_started=$(sf_now)",
        "sf_finish() {  # sf_finish CODE [ERROR]: record how the command ended, then end the job with CODE",
        '  sf_tmp="$sf_exit_file.tmp.$$"',
        ("  { printf 'exit_code=%s\\nstarted=%s\\nended=%s\\nhost=%s\\n' \"$1\" \"$sf_started\" \"$(sf_now)\" "
         "\"$(uname -n)\""),
        "    if [ -n \"$2\" ]; then printf 'error=%s\\n' \"$2\"; fi",
        '  } >"$sf_tmp" && mv -f "$sf_tmp" "$sf_exit_file"',
        '  exit "$1"',
        "}",
    ]
    steps = [(f"module load {m}", f"module load {m}") for m in modules] + [(s, s) for s in setup]
    for code, label in steps:
        # A newline before "}" keeps a trailing comment in the line from swallowing the brace.
        lines += [f"{{ {code}", f"}} || sf_finish $? {q('setup failed: ' + _one_line(label))}"]
    for name, value in attempt.env.items():
        lines.append(f"export {name}={q(value)}")
    cwd = str(attempt.cwd)
    lines.append(f"cd {q(cwd)} || sf_finish 1 {q('cannot change to the task folder ' + _one_line(cwd))}")
    lines += command_lines(attempt)
    return "\n".join(lines) + "\n"


def write_script(script: Path, text: str) -> None:
    """Write an executable script through a temporary file, so a scheduler never reads half of one."""
    script.parent.mkdir(parents=True, exist_ok=True)
    tmp = script.with_name(script.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o755)
    os.replace(tmp, script)


def epoch_to_text(value: Optional[str]) -> Optional[str]:
    """``1764086400.123456789`` (what ``date +%s.%N`` prints; ``N`` where %N is unknown) -> ledger time."""
    if not value:
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)", value)
    if not m:
        return None
    return datetime.fromtimestamp(float(m.group(1)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_exit_file(path: Path) -> Optional[dict[str, str]]:
    """The wrapper's record (``exit_code=3`` lines); None while absent or unreadable."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    try:
        int(info["exit_code"])
    except (KeyError, ValueError):
        return None
    return info
