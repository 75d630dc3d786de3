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
        p = Path(path)
        if not p.is_absolute():
            p = Path(base if base is not None else self.dir) / p
        return Path(os.path.normpath(p))

    def relative(self, path: os.PathLike | str) -> str:
        """The ledger's spelling of a path: project-relative if inside, else absolute."""
        p = self.absolute(path)
        try:
            rel = p.relative_to(self.dir)
        except ValueError:
            return p.as_posix()
        text = rel.as_posix()
        return text if text else "."
