"""Where a project's files live, and how paths are written in the ledger.

The project directory is the folder holding the flow file. Everything
scriptflow writes goes under ``<project>/.scriptflow/``; paths in the ledger
are project-relative with '/' separators so that a project can be moved,
copied or shared between machines with the same layout; paths outside the
project stay absolute.

The ledger spelling of a path is text, and any bytes a file name may hold
must survive it (SQLite stores UTF-8 text, and Python writes an undecodable
byte of a name as a lone surrogate that SQLite cannot encode). So a name is
written as its bytes decoded as UTF-8, each byte that is not valid UTF-8 as
``\\xNN`` and a backslash as ``\\\\``; ``path_from_ledger`` gets the exact
bytes back. Ordinary UTF-8 names without backslashes are stored unchanged.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

_ESCAPE = re.compile(rb"\\(\\|x[0-9a-f]{2})")


def ledger_text(path: str) -> str:
    """The ledger spelling of a path (or any file-system text): valid UTF-8, reversible."""
    if path.isascii() and "\\" not in path:  # the common case: spelled as it is
        return path
    raw = os.fsencode(path)
    if b"\\" not in raw:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def path_from_ledger(text: str) -> str:
    """The file-system path (exact bytes, as ``os.fsdecode`` spells them) of a ledger spelling."""
    if "\\" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]),
                      text.encode("utf-8", "surrogateescape"))
    return os.fsdecode(raw)


def ledger_free_text(text: str) -> str:
    """Free text for the ledger (an error message, a flow's exception) as valid UTF-8: a lone
    surrogate (an undecodable byte Python kept) becomes the escape ``\\udcNN`` instead of
    making SQLite raise in the writer thread."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: The folder of scriptflow's own state in a project (ledger, logs, lock).
STATE_FOLDER = ".scriptflow"
#: Inside it, the one folder that holds task outputs: the return values of ``sf.call`` tasks.
VALUES_FOLDER = "values"


#: On POSIX, a path without these (and not ending in '/') is already what normpath makes of it.
_POSIX = os.sep == "/" and os.altsep is None


def _plain(text: str) -> bool:
    """``text`` needs no normalising: no '//', no '.' or '..' component, no trailing '/'."""
    return _POSIX and "//" not in text and "/." not in text and text[:1] != "." and text[-1:] != "/"


class Project:
    """Paths of one project directory."""

    def __init__(self, directory: os.PathLike | str) -> None:
        self.dir = Path(os.path.abspath(directory))
        self.state_dir = self.dir / STATE_FOLDER
        self._dir_str = str(self.dir)
        self._prefix = self._dir_str.rstrip(os.sep) + os.sep

    def working_dir(self, cwd: os.PathLike | str | None) -> str:
        """A task's working folder, absolute: the project folder when it names none."""
        return self._dir_str if cwd is None else self.absolute_str(cwd)

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / "ledger.db"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "run.lock"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "scriptflow.log"

    def logs_dir(self, run_id: int) -> Path:
        return self.state_dir / "logs" / str(run_id)

    def ensure_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ignore = self.state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# scriptflow's run ledger and logs\n*\n")

    def absolute(self, path: os.PathLike | str, base: os.PathLike | str | None = None) -> Path:
        """Absolute, normalised path; relative paths are taken from ``base`` (default: project)."""
        return Path(self.absolute_str(path, base))

    def absolute_str(self, path: os.PathLike | str, base: os.PathLike | str | None = None) -> str:
        """``absolute`` as a string (plain os.path: this runs several times per task)."""
        text = os.fspath(path)
        if type(text) is str and text and _plain(text):  # the common case, without os.path's generality
            if text[0] == "/":
                return text
            if base is None or base == self._dir_str:
                return self._prefix + text
        if not os.path.isabs(text):
            text = os.path.join(os.fspath(base) if base is not None else self._dir_str, text)
        return os.path.normpath(text)

    def resolve(self, path: os.PathLike | str, base: os.PathLike | str | None = None) -> tuple[str, str]:
        """``(absolute_str(path, base), relative(...))`` in one step; a plain relative ASCII name
        in the project folder (most of a flow's paths) needs no string arithmetic at all."""
        if (type(path) is str and path and path[0] != "/" and (base is None or base == self._dir_str)
                and _plain(path) and path.isascii() and "\\" not in path):
            return self._prefix + path, path
        absolute = self.absolute_str(path, base)
        return absolute, self.relative(absolute)

    def relative(self, path: os.PathLike | str) -> str:
        """The ledger's spelling of a path: project-relative if inside, else absolute
        (see ``ledger_text`` for names that are not valid UTF-8)."""
        text = self.absolute_str(path)
        root = self._dir_str
        if text == root:
            return "."
        if text.startswith(self._prefix):
            rel = text[len(self._prefix):]
        else:
            return ledger_text(Path(text).as_posix())
        return ledger_text(rel.replace(os.sep, "/") if os.sep != "/" else rel)

    def path_of(self, recorded: str) -> str:
        """The absolute file-system path of a path as the ledger spells it."""
        return self.absolute_str(path_from_ledger(recorded))
