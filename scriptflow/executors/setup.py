"""A task's ``setup=`` lines and its command as one shell script, for executors without a job script.

On a cluster the setup lines go into the job script before the command. On
this machine they must run in the same shell as the command (an ``export`` or
``source venv/bin/activate`` in setup has to reach it), so the local executor
runs this script with ``/bin/sh``. A failing setup line ends the script with
its exit code and the command does not run, as in the job scripts.
"""
from __future__ import annotations

import shlex
from typing import Sequence, Union


def with_setup(command: Union[list[str], str], shell: bool, setup: Sequence[str]) -> str:
    """``{ LINE\\n} || exit $?`` per setup line, then the command (a shell string as is, an argv quoted)."""
    lines = [f"{{ {line}\n}} || exit $?" for line in setup]
    if shell:
        lines.append(command if isinstance(command, str) else " ".join(command))
    else:
        lines.append("exec " + shlex.join([command] if isinstance(command, str) else list(command)))
    return "\n".join(lines) + "\n"
