"""Where a project's files live, and how paths are written in the ledger.

The project directory is the folder holding the flow file. Everything
scriptflow writes goes under ``<project>/.scriptflow/``; paths in the ledger
are project-relative with '/' separators so that a project can be moved or
shared between machines with the same layout.
"""
from __future__ import annotations

import os
from pathlib import Path


class Project:
    """Paths of one project directory."""

    def __init__(self, directory: os.PathLike | str) -> None:
        self.dir = Path(os.path.abspath(directory))
        self.state_dir = self.dir / ".scriptflow"
        self._dir_str = str(self.dir)
        self._prefix = self._dir_str.rstrip(os.sep) + os.sep

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
        if not os.path.isabs(text):
            text = os.path.join(os.fspath(base) if base is not None else self._dir_str, text)
        return os.path.normpath(text)

    def relative(self, path: os.PathLike | str) -> str:
        """The ledger's spelling of a path: project-relative if inside, else absolute."""
        text = self.absolute_str(path)
        root = self._dir_str
        if text == root:
            return "."
        if text.startswith(self._prefix):
            rel = text[len(self._prefix):]
        else:
            return Path(text).as_posix()
        return rel.replace(os.sep, "/") if os.sep != "/" else rel
