"""File names made from task uids: log files, job scripts, exit files, scheduler job names.

A uid is any text (``solve-1``, ``fits/2024``, ``model (b)``), but a file name
must be safe on every filesystem and in a shell line. ``safe_text`` keeps the
readable part; ``file_stem`` adds what makes it one-to-one, so two tasks never
share a log or a job script (``a/b`` and ``a_b`` both read as ``a_b``).
One module so that the engine (log files) and the cluster executors (job
scripts) cannot drift apart.
"""
from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Joins the readable part and the uid's hash: outside the safe characters, so a stem holds
#: it exactly when sanitising changed something, and no untouched uid can look hashed.
_MARK = "+"
_HASH_CHARS = 8
#: Readable part of a stem, in characters: file names stay far below the usual 255-byte limit.
_MAX_TEXT = 100
#: Device names Windows reserves whatever the extension (``CON.1.out`` cannot be created).
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"COM{i}" for i in range(1, 10)] + [f"LPT{i}" for i in range(1, 10)])


def safe_text(uid: str) -> str:
    """The uid with every run of characters outside ``A-Za-z0-9._-`` replaced by ``_``
    (readable, not one-to-one: for scheduler job names, which may repeat)."""
    return _UNSAFE.sub("_", uid)


def file_stem(uid: str) -> str:
    """A file name stem for ``uid``, distinct for distinct uids.

    An ordinary uid is its own stem (``solve-1`` -> ``solve-1``, so its first
    log is ``solve-1.1.out``). Any other (unsafe characters, empty, hidden,
    too long, a Windows device name) becomes its safe text, shortened, plus
    ``+`` and 8 hex digits of the exact uid's sha256: ``a/b`` ->
    ``a_b+<hash>``, never ``a_b``.
    """
    text = safe_text(uid)
    if text == uid and _plain(text):
        return uid
    readable = text[:_MAX_TEXT].lstrip(".") or "task"
    if not _plain(readable):
        readable = "_" + readable  # a device name: _CON+<hash>
    digest = hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    return f"{readable}{_MARK}{digest}"


def _plain(text: str) -> bool:
    """Safe text usable as a file name as it is: not empty, not hidden, not too long, no device name."""
    return (bool(text) and not text.startswith(".") and len(text) <= _MAX_TEXT
            and text.split(".")[0].upper() not in _WINDOWS_RESERVED)
