"""Files on disk today, compared with what the ledger recorded: for ``report``, ``why`` and ``clean``.

Its own module because all three readers ask the same question ("is this
file still the bytes the ledger knows?") and must answer it alike: through
the ledger's stat cache (an unchanged file is not read again) and without
ever writing that cache, since readers never write the ledger.
"""
from __future__ import annotations

import glob
import os
import sqlite3

from ..core.fingerprint import FileHasher
from ..core.paths import OutputPattern
from ..ledger.store import read_stat_entry
from ..project import Project


def disk_hasher(conn: sqlite3.Connection, project: Project) -> FileHasher:
    """Hashes files on disk, trusting the ledger's stat cache (keyed by project-relative path) and
    never storing into it."""
    return FileHasher(lambda path: read_stat_entry(conn, project.relative(path)))


def disk_state(project: Project, hasher: FileHasher, path: str, recorded: str | None) -> tuple[str, str | None]:
    """('unchanged' | 'modified' | 'deleted', sha256 on disk today) of ``path`` (ledger spelling)."""
    now = hasher.hash(recorded_path(project, path, recorded))
    if now is None:
        return "deleted", None
    return ("unchanged" if now.sha256 == recorded else "modified"), now.sha256


def recorded_path(project: Project, path: str, recorded: str | None) -> str:
    """The absolute path of a ``files`` row, as an ``OutputPattern`` when the row is an output
    declared by pattern (a ``dir:`` hash, wildcards in its path, and no such directory)."""
    absolute = str(project.path_of(path))
    if recorded and recorded.startswith("dir:") and glob.has_magic(path) and not os.path.isdir(absolute):
        return OutputPattern(os.path.normpath(absolute))
    return absolute
