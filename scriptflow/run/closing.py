"""Closing a run in the ledger, even after some of its writes were lost.

The run's last write is one unit: the run's outcome, and every task and
attempt of the run still open (possible only when earlier writes were lost
to a full disk or a failed statement) closed as ``lost``/``not-started``,
so no row of a finished run says ``running``. It is a rescue operation: the
writer tries it even after it has failed, in case space came back; if even
that fails, the next run's recovery marks the run lost, as for a crash.
"""
from __future__ import annotations

from typing import Optional

from ..clock import utc_now
from ..ledger.writer import FailedOperation, LedgerWriter, Statement

LEDGER_LOST = "its outcome could not be written to the ledger"


def ledger_problem(writer: LedgerWriter) -> Optional[str]:
    """Why the run cannot be called a success because of its own ledger writes, if it cannot."""
    if writer.failure is not None:
        return str(writer.failure)
    if writer.errors_total:
        first: FailedOperation = writer.errors[0]
        return (f"{writer.errors_total} ledger write(s) failed and were rolled back "
                f"(first: {first.error}); see .scriptflow/scriptflow.log")
    return None


def closing_statements(run_id: int, status: str, exit_code: int, error: Optional[str], files_hashed: int,
                       files_from_stat_cache: int) -> list[Statement]:
    now = utc_now()
    return [
        ("UPDATE attempts SET status = 'lost', ended_at = ?, error = ? "
         "WHERE run_id = ? AND status IN ('queued', 'running')", (now, LEDGER_LOST, run_id)),
        ("UPDATE tasks SET status = 'lost', ended_at = ? WHERE run_id = ? AND status = 'running'", (now, run_id)),
        ("UPDATE tasks SET status = 'not-started', reason = coalesce(reason, 'run-stopping'), ended_at = ? "
         "WHERE run_id = ? AND status IN ('waiting', 'deciding')", (now, run_id)),
        ("UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, error = ?, files_hashed = ?, "
         "files_from_stat_cache = ? WHERE id = ?",
         (status, now, exit_code, error, files_hashed, files_from_stat_cache, run_id)),
    ]
