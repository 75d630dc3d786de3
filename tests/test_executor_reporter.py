"""The reporter an executor talks back through, against the real local executor (real processes)."""
from __future__ import annotations

import threading

from scriptflow.executors.base import Attempt, Reporter, Started
from scriptflow.executors.registry import create_executor


class Recorder(Reporter):
    def __init__(self, allow: bool) -> None:
        self.allow = allow
        self.started_calls: list[Started] = []
        self.lock = threading.Lock()

    def started(self, started: Started) -> None:
        with self.lock:
            self.started_calls.append(started)

    def may_start(self) -> bool:
        return self.allow


def attempt(tmp_path, command: str) -> Attempt:
    logs = tmp_path / "logs"
    return Attempt(run_id=1, attempt_id=1, task_uid="t", number=1, command=command, shell=True, cwd=tmp_path,
                   env={}, stdout_path=logs / "t.1.out", stderr_path=logs / "t.1.err")


def test_started_is_reported_once_with_the_pid(tmp_path):
    executor = create_executor("local", {"maxsize": 1}, tmp_path)
    reporter = Recorder(allow=True)
    try:
        outcome = executor.submit(attempt(tmp_path, "echo $$ > pid.txt"), reporter).result(timeout=60)
    finally:
        executor.shutdown()
    assert outcome.exit_code == 0 and outcome.error is None
    [started] = reporter.started_calls
    assert started.pid == int((tmp_path / "pid.txt").read_text()) and started.host


def test_may_start_false_starts_nothing(tmp_path):
    """A run that is stopping: the attempt resolves as not started, and its command never runs."""
    executor = create_executor("local", {"maxsize": 1}, tmp_path)
    reporter = Recorder(allow=False)
    try:
        outcome = executor.submit(attempt(tmp_path, "touch ran.txt"), reporter).result(timeout=60)
    finally:
        executor.shutdown()
    assert outcome.exit_code is None and outcome.interrupted and outcome.started_at is None
    assert reporter.started_calls == [] and not (tmp_path / "ran.txt").exists()
