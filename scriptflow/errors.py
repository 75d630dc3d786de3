"""Errors a user can act on.

Anything derived from ``ScriptflowError`` is shown as one line (no traceback)
by the command line, with its ``exit_code``; everything else is a bug.
"""
from __future__ import annotations


class ScriptflowError(Exception):
    """A problem the user can fix, reported in one line."""

    exit_code = 2


class ConfigError(ScriptflowError):
    """Bad configuration: unknown key, wrong type, unknown executor."""


class FlowFileError(ScriptflowError):
    """sflow.py is missing, does not import, or has no such flow."""


class TaskDefinitionError(ScriptflowError):
    """A task was declared inconsistently (duplicate uid, two producers of one file...)."""


class LedgerError(ScriptflowError):
    """The ledger cannot be opened or is of an unknown schema version."""


class BundleError(ScriptflowError):
    """scriptflow bundle cannot build the single-file archive (a compiled or missing requirement...)."""


class FlowCodeError(ScriptflowError):
    """The flow function itself raised an exception."""

    exit_code = 1


class TaskError(Exception):
    """Raised by ``Task.result()`` when a task did not succeed.

    Flows may catch it to react to a failure; when it escapes the flow the
    run reports the task, not a traceback.
    """

    def __init__(self, uid: str, status: str, message: str) -> None:
        super().__init__(f"task {uid} {status}: {message}" if message else f"task {uid} {status}")
        self.uid = uid
        self.status = status


class TaskFailed(TaskError):
    """The task ran and failed (non-zero exit, missing output, missing input)."""


class UpstreamFailed(TaskError):
    """A task this one depends on failed, so it was not run."""


class TaskNotStarted(TaskError):
    """The run was stopping (a failure without --keep-going, or an interrupt)."""


def task_error(uid: str, status: str, message: str) -> TaskError:
    """The exception ``result()`` raises for a task that ended with ``status`` (not a success)."""
    if status == "upstream-failed":
        return UpstreamFailed(uid, status, message)
    if status in ("not-started", "interrupted"):
        return TaskNotStarted(uid, status, message)
    return TaskFailed(uid, status, message)
