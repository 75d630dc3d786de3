"""Before a run writes anything: a writable ``.scriptflow``, a sound ledger, dead runs closed.

Each failure here is one line and exit code 2, and leaves the ledger as it
was: a read-only folder or a damaged file must never produce a traceback
or a half-written run.
"""
from __future__ import annotations

import os
import sqlite3
import uuid

from ..errors import LedgerError
from ..executors.base import RecordedJob
from ..ledger.health import StartedCheck
from ..ledger.recovery import recover_dead_runs
from ..ledger.sqlerrors import damaged_message, is_damage
from ..ledger.writer import LedgerWriter
from ..project import Project

__all__ = ["StartedCheck", "ensure_writable", "recover"]


def ensure_writable(project: Project) -> None:
    """Create ``.scriptflow`` if needed and prove it can be written (permissions alone do not tell:
    root ignores them, and a read-only mount refuses even root)."""
    probe = project.state_dir / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        project.ensure_state_dir()
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise LedgerError(f"cannot write {project.state_dir} ({reason}): a run records its ledger there; "
                          f"read-only commands (runs, show, logs, report, why) still work") from None


def recover(writer: LedgerWriter, project: Project) -> dict[str, RecordedJob]:
    """Close the runs a dead process left open; damage met doing so is the damaged-ledger line."""
    try:
        return writer.call(lambda conn: recover_dead_runs(conn, project)).result()
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            raise LedgerError(damaged_message(project.ledger_path, exc)) from None
        raise LedgerError(f"cannot write the ledger {project.ledger_path}: {exc}") from None
