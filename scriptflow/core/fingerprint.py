"""File hashes with a stat cache, and task fingerprints.

Hashes are plain sha256 of the file's bytes, so anyone can check them with
``sha256sum``. The stat cache maps (size, mtime_ns, ctime_ns, inode) to the
hash so a run where nothing changed reads no file contents; ctime catches a
same-size edit whose mtime was set back. An entry hashed within the
filesystem's timestamp granularity of the file's last change is "racy" (a
later write could keep the same timestamps) and is hashed again next time, as
git does with its index.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat as stat_module
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional

from ..executors.outputs import OutputPattern
from ..ledger.store import StatEntry, stat_key

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileHash:
    sha256: str
    size: int


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                return h.hexdigest()
            h.update(block)


class FileHasher:
    """Hashes files, trusting the stat cache for files that did not change.

    ``lookup`` reads a cached entry (from the ledger); ``store`` hands a new
    entry to the ledger writer. Both get absolute paths: turning them into
    the ledger's project-relative spelling is the caller's business. Entries made during this run are kept in
    memory because the writer commits them asynchronously.
    """

    def __init__(
        self,
        lookup: Callable[[str], Optional[StatEntry]] = lambda path: None,
        store: Callable[[StatEntry], None] = lambda entry: None,
    ) -> None:
        self._lookup = lookup
        self._store = store
        self._memo: dict[str, StatEntry] = {}
        self._lock = threading.Lock()
        self.files_hashed = 0
        self.files_from_stat_cache = 0
        #: absolute directory path (or output pattern) -> {relative file path: sha256}, for each tree hashed
        self.manifests: dict[str, dict[str, str]] = {}

    def hash(self, path: str, recheck: bool = False) -> Optional[FileHash]:
        """Hash of the file (or directory tree) at absolute ``path``; None if it does not exist.

        An ``OutputPattern`` is hashed as the tree of the files matching it (None if none does).
        ``recheck`` is for looking again at a file this run already hashed (an input after its
        task ran): an entry hashed within the timestamp granularity of its change is read again,
        since a write in the same tick would keep the same size and mtime.
        """
        if isinstance(path, OutputPattern):
            return self._hash_pattern(path, recheck)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat_module.S_ISDIR(st.st_mode):
            return self._hash_directory(path, recheck)
        with self._lock:
            entry = self._memo.get(path)
        # hashed by this run: racy or not, it is what we just read (unless asked to look again)
        trusted = entry is not None and not recheck
        if entry is None:
            entry = self._lookup(path)
        if entry is not None and entry.matches(st) and (trusted or not entry.racy):
            with self._lock:
                self.files_from_stat_cache += 1
                self._memo[path] = entry
            return FileHash(entry.sha256, entry.size)
        for _ in range(5):
            hashed_at = time.time_ns()
            digest = sha256_of(path)
            after = os.stat(path)
            if stat_key(after) == stat_key(st):
                break
            st = after  # changed while we read it: read again
        entry = StatEntry(path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, digest, hashed_at)
        with self._lock:
            self.files_hashed += 1
            self._memo[path] = entry
        self._store(entry)
        return FileHash(digest, st.st_size)

    def vouched(self, count: int) -> None:
        """Count ``count`` files the stat cache vouched for without this hasher (``quicklane.py``)."""
        with self._lock:
            self.files_from_stat_cache += count

    def entries(self) -> list[StatEntry]:
        """The stat-cache entries this run made or confirmed (for ``refresh.refresh_racy``)."""
        with self._lock:
            return list(self._memo.values())

    def unread_bytes(self, path: str) -> int:
        """How many bytes ``hash(path)`` would read now: 0 when the stat cache vouches for the
        file or it does not exist, -1 for a directory (unknown). Lets the engine hash small
        files where it stands instead of handing the task to another thread."""
        if isinstance(path, OutputPattern):
            return -1
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        if stat_module.S_ISDIR(st.st_mode):
            return -1
        entry = self._memo.get(path)  # a dict read: atomic, no lock needed
        if entry is not None:
            return 0 if entry.matches(st) else st.st_size
        entry = self._lookup(path)
        if entry is not None and entry.matches(st) and not entry.racy:
            with self._lock:  # what ``hash`` would keep: it then finds the entry without a second look-up
                self._memo.setdefault(path, entry)
            return 0
        return st.st_size

    def _hash_directory(self, path: str, recheck: bool = False) -> FileHash:
        """A directory output: sha256 over its sorted (relative path, file hash) pairs."""
        files: list[str] = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            files.extend(os.path.join(root, name) for name in sorted(names))
        return self._tree(path, path, files, recheck)

    def _hash_pattern(self, pattern: OutputPattern, recheck: bool) -> Optional[FileHash]:
        """An output pattern: the tree of the files matching it, relative to its fixed folder."""
        files = pattern.matches()
        if not files:
            return None
        return self._tree(pattern, pattern.folder(), files, recheck)

    def _tree(self, key: str, folder: str, files: Iterable[str], recheck: bool) -> FileHash:
        """``dir:`` + sha256 over the ``RELATIVE-PATH\\0SHA256\\n`` lines of ``files`` in the order
        given (a directory's walk order, a pattern's sorted matches; relative to ``folder``);
        their manifest is kept under ``key``."""
        h = hashlib.sha256()
        total = 0
        manifest: dict[str, str] = {}
        for full in files:
            fh = self.hash(full, recheck)
            if fh is None:
                continue
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            h.update(f"{rel}\0{fh.sha256}\n".encode())
            total += fh.size
            manifest[rel] = fh.sha256
        with self._lock:
            self.manifests[key] = manifest
        return FileHash("dir:" + h.hexdigest(), total)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _c_encoder() -> Optional[Callable[[object, int], list[str]]]:
    """The C encoder behind ``_CANONICAL``, made once: ``JSONEncoder.encode`` makes a new one for
    every call (2-3 µs of a fresh task's five or six encodings). It checks no circular reference,
    so it holds no state between calls and threads may share it; nothing encoded here refers to
    itself. None where the C accelerator is missing or takes other arguments: the encoder is then
    used as it is."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - a Python without _json
        return None
    try:
        encode = make(None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, True)
        sample = {"b": [1, 2.5, "é\n"], "a": None, "c": {"y": True, "x": "q\"uote"}}
        same = "".join(encode(sample, 0)) == _CANONICAL.encode(sample)
    except TypeError:  # pragma: no cover - another Python's signature
        return None
    return encode if same else None


_C_ENCODE = _c_encoder()
_EMPTY: dict[type, str] = {dict: "{}", list: "[]"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def canonical_json(value: object) -> str:
    """Compact, sorted JSON, always valid UTF-8 text.

    A file-system string Python could not decode (a non-UTF-8 argument or
    name) holds lone surrogates, which SQLite and ``.encode()`` refuse; they
    are written as JSON ``\\udcXX`` escapes, which ``json.loads`` turns back
    into the same string. Everything else is unchanged, so fingerprints are too.
    """
    if type(value) in _EMPTY and not value:  # {} and [] (a task's env, a decision's detail...)
        return _EMPTY[type(value)]
    text = "".join(_C_ENCODE(value, 0)) if _C_ENCODE is not None else _CANONICAL.encode(value)
    if text.isascii():  # no lone surrogate to escape: skip the regular expression
        return text
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


_JSON_STRING = json.encoder.encode_basestring  # what the encoder writes for a str (ensure_ascii=False)


def json_str_list(items: Iterable[str]) -> str:
    """``canonical_json(list(items))`` for strings, without the encoder's generality (this
    runs for a task's inputs and outputs in every decision and task row)."""
    items = list(items)
    text = "[" + ",".join(map(_JSON_STRING, items)) + "]"
    return text if text.isascii() else canonical_json(items)  # surrogates are escaped there


def task_fingerprint(definition: Mapping[str, object], inputs: Iterable[tuple[str, Optional[str]]]) -> str:
    """sha256 of everything that defines a task's result (see DESIGN.md, Skip and rerun)."""
    doc = dict(definition)
    doc["inputs"] = sorted([p, h] for p, h in inputs)
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()
