"""Does a command string need a shell? The original scriptflow's rule for string commands.

The original wrote every command into a job script, so a string such as
``R --vanilla '--args 1 temp' < gen_results.R`` ran with its redirection,
pipes, ``;``, ``&&``, ``$VAR`` and globs working. Splitting that string with
shlex and running it without a shell would hand ``<`` to R as an argument.
So a string command without ``shell=`` runs through the shell exactly when it
holds shell syntax outside single quotes, and is split with shlex otherwise
(no shell unless the task needs one). The scan is quote-aware: ``python -c
'import a; a.f()'`` has its ``;`` inside quotes and still runs without a shell.
"""
from __future__ import annotations

import re
from typing import Optional

#: Unquoted characters that only mean something to a shell.
_OPERATORS = set("|&;<>()$`*?[\n")
#: Characters that mean something to a shell at the start of a word only.
_WORD_START = set("#~")
_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*=")


def shell_syntax(command: str) -> Optional[str]:
    """The first shell construct in ``command`` (e.g. ``'<'``), or None when shlex splitting
    runs it the same way a shell would."""
    if _ASSIGNMENT.match(command):
        return "VAR=value"
    quote: Optional[str] = None
    escaped = False
    word_start = True
    for ch in command:
        if escaped:
            escaped, word_start = False, False
            continue
        if quote == "'":
            if ch == "'":
                quote = None
            continue
        if ch == "\\":
            escaped = True
            continue
        if quote == '"':
            if ch == '"':
                quote = None
            elif ch in "$`":
                return ch
            continue
        if ch in "'\"":
            quote, word_start = ch, False
            continue
        if ch in _OPERATORS:
            return "newline" if ch == "\n" else ch
        if word_start and ch in _WORD_START:
            return ch
        word_start = ch in " \t"
    return None
