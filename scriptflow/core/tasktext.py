"""A started task's fingerprint and repeats key, spelled directly for the plain case.

The quick lane (``quicklane.py``) builds both for every task of a no-op:
the fingerprint (``fingerprint.task_fingerprint`` over ``TaskSpec.definition``
and the input hashes) to compare with the earlier row's, and the repeats key
(the columns ``recorder.repeats_columns`` compares, as the JSON array
``history.REPEATS_KEY_SQL`` reads). Through the general encoder each one
copies a dict or a list, sorts keys and walks values whose types it must
look up; here a task whose values have the plain types (a command of
strings, a ``bool`` shell, string paths and environment) is written piece by
piece, the pieces most tasks of a flow share (working folder, version,
executor, resources, retries) once per distinct value. Anything else, and
any text that is not ASCII (which the general path escapes), goes the
general way, so both spellings give the same text, character for character:
``tests/test_task_text.py`` compares them on plain and unusual tasks. A
fingerprint that changed would make every task of every project run again.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Optional

from .fingerprint import canonical_json, json_str_list, task_fingerprint
from .spec import TaskSpec

_STRING = json.encoder.encode_basestring  # a str as the canonical encoder writes it (ensure_ascii=False)
#: (shell column, cwd, version and its type, executor, resources' text, retries and their type)
#: -> the repeats key's text up to its inputs. A flow's tasks share a handful of these.
_KEY_HEADS: dict[tuple[Any, ...], str] = {}
_HEADS_KEPT = 256  # distinct heads remembered (a flow that varies them per task gains nothing)


def shell_column(spec: TaskSpec) -> int:
    """``tasks.shell``: 0 no shell, 1 ``shell=True``, 2 the shell was chosen because the string
    command holds shell syntax (docs/ledger.md)."""
    if spec.shell_syntax is not None:
        return 2
    return int(spec.shell)


def repeats_key(spec: TaskSpec) -> str:
    """What ``history.REPEATS_KEY_SQL`` reads from a row that ``repeats_columns(row, spec)``:
    the same columns as one JSON array, so that the quick lane compares one string per task
    (the container and parent columns are NULL in such a row: the SQL gives NULL otherwise)."""
    resources = canonical_json(spec.resources)
    version, retry = spec.version, spec.retry
    head_of = (shell_column(spec), spec.cwd_rel, type(version), version, spec.executor, resources,
               type(retry), retry)
    try:
        head = _KEY_HEADS.get(head_of)
    except TypeError:  # a version that cannot be a dict key
        return _general_key(spec, resources)
    if head is None:
        head = canonical_json([head_of[0], spec.cwd_rel, version, spec.executor, resources, retry])[:-1]
        if len(_KEY_HEADS) < _HEADS_KEPT:
            _KEY_HEADS[head_of] = head
    text = f"{head},{_STRING(json_str_list(spec.inputs))},{_STRING(json_str_list(spec.outputs))}]"
    return text if text.isascii() else _general_key(spec, resources)


def _general_key(spec: TaskSpec, resources: str) -> str:
    return canonical_json([shell_column(spec), spec.cwd_rel, spec.version, spec.executor, resources,
                           spec.retry, json_str_list(spec.inputs), json_str_list(spec.outputs)])


def spec_fingerprint(spec: TaskSpec, inputs: Iterable[tuple[str, Optional[str]]]) -> str:
    """``task_fingerprint(spec.definition(), inputs)``: the same sha256, for less work when the
    task is plain (see the module docstring)."""
    command, shell = spec.command, spec.shell
    if spec.container is not None or spec.resources.get("setup") or type(shell) is not bool:
        return task_fingerprint(spec.definition(), inputs)
    pairs = sorted(inputs)
    try:  # the encoder of strings refuses anything else (a command part, a path or a hash that is not one)
        text = "".join((
            '{"command":', _STRING(command) if type(command) is str else "[" + ",".join(map(_STRING, command)) + "]",
            ',"cwd":', _STRING(spec.cwd_rel),
            ',"env":', canonical_json(spec.env),
            ',"inputs":[', ",".join(f"[{_STRING(path)},{'null' if sha is None else _STRING(sha)}]"
                                    for path, sha in pairs),
            '],"outputs":', json_str_list(sorted(spec.outputs)),
            ',"shell":', "true" if shell else "false",
            ',"version":', canonical_json(spec.version), "}",
        ))
    except TypeError:
        return task_fingerprint(spec.definition(), pairs)
    if not text.isascii():
        return task_fingerprint(spec.definition(), pairs)
    return hashlib.sha256(text.encode()).hexdigest()
