"""Closing a run in the ledger, even after some of its writes were lost.

The run's last write is one unit: the run's outcome, and every task and
attempt of the run still open (possible only when earlier writes were lost
to a full disk or a failed statement) closed as ``lost``/``not-started``,
so no row of a finished run says ``running``. It is a rescue operation: the
writer tries it even after it has failed, in case space came back; if even
that fails, the next run's recovery marks the run lost, as for a crash.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Optional

from ..clock import utc_now
from ..errors import LedgerError
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


@dataclass(frozen=True)
class RunEnd:
    """How a run ended, as the ledger records it."""

    status: str
    exit_code: int
    error: Optional[str]


def close_run(writer: LedgerWriter, run_id: int, end: RunEnd, files_hashed: int, files_from_stat_cache: int) -> RunEnd:
    """Write the run's end; returns what was really recorded (or what the run must report).

    The check for lost writes happens on the writer's thread, in the same
    transaction as the closing, so a failure in a batch committed just
    before can never be followed by a ``succeeded`` written after it.
    """
    def close(conn: sqlite3.Connection) -> RunEnd:
        problem = ledger_problem(writer)
        final = RunEnd("failed", LedgerError.exit_code, problem) if problem else end
        for sql, params in closing_statements(run_id, final.status, final.exit_code, final.error, files_hashed,
                                              files_from_stat_cache):
            conn.execute(sql, params)
        return final

    try:
        final: RunEnd = writer.call(close, rescue=True).result()
        writer.flush()
        return final
    except Exception as exc:  # noqa: BLE001 - whatever stopped the closing, the run did not succeed
        problem = ledger_problem(writer) or f"cannot write the ledger {writer.path}: {exc}"
        return RunEnd("failed", LedgerError.exit_code, problem)


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
