"""Fault injection, in process (tests/inprocess.py): listener hooks and ``on_started`` that raise.

No real console raises on demand in every hook, so these tests patch a hook of the
real ``PlainConsole`` to raise; the engine, runner and ledger are the real ones.
"""
from __future__ import annotations

import logging

import pytest
from inprocess import FakeExecutor, run_flow, succeed_writing_outputs

from scriptflow.terminal.console import PlainConsole

FLOW = """
def flow_main():
    a = sf.Task(["a"], outputs="a.txt", name="a", executor="fake")
    b = sf.Task(["b"], inputs=a, outputs="b.txt", name="b", executor="fake")
    sf.bag(a, b)
"""


@pytest.fixture(autouse=True)
def _reset_fake():
    FakeExecutor.reset()
    yield
    FakeExecutor.reset()


def _boom(*args, **kwargs):
    raise RuntimeError("display bug")


@pytest.mark.parametrize("hook", ["task_submitted", "attempt_started", "attempt_failed", "task_finished"])
def test_a_listener_hook_raising_neither_hangs_nor_fails_the_run(tmp_path, monkeypatch, hook):
    """Fault injection: the console's hook raises on every call (task a's first attempt fails, so
    that every hook is called)."""
    monkeypatch.setattr(PlainConsole, hook, _boom)

    def fail_first_attempt_of_a(attempt):
        if attempt.task_uid == "a" and attempt.number == 1:
            from scriptflow.executors.base import Outcome
            return Outcome(exit_code=1, error="exit code 1")
        return succeed_writing_outputs(attempt)

    FakeExecutor.behaviour = staticmethod(fail_first_attempt_of_a)
    result = run_flow(tmp_path, FLOW.replace('name="a",', 'name="a", retry=1,'))
    assert result.exit_code == 0, result
    assert [(r.spec.uid, r.status, r.attempts) for r in result.records] == [("a", "succeeded", 2),
                                                                           ("b", "succeeded", 1)]
    log = (tmp_path / ".scriptflow" / "scriptflow.log").read_text()
    assert log.count(f"listener PlainConsole.{hook} raised") == 1, log
    assert "RuntimeError: display bug" in log


def test_a_listener_raising_on_a_failed_task_still_blocks_its_dependants(tmp_path, monkeypatch):
    """Fault injection: task_finished raises while the engine finishes a failed task."""
    monkeypatch.setattr(PlainConsole, "task_finished", _boom)

    def fail(attempt):
        from scriptflow.executors.base import Outcome
        return Outcome(exit_code=1, error="exit code 1")

    FakeExecutor.behaviour = staticmethod(fail)
    result = run_flow(tmp_path, FLOW, keep_going=True)
    assert result.exit_code == 1
    assert {r.spec.uid: r.status for r in result.records} == {"a": "failed", "b": "upstream-failed"}


def test_a_second_sigterm_ends_a_run_whose_executor_never_reports_back(tmp_path, monkeypatch):
    """Fault injection: the fake executor's attempt never ends and ignores cancellation."""
    import os
    import signal
    import threading

    from conftest import wait_until

    from scriptflow.core.current import current_engine

    release = threading.Event()

    def stuck(attempt):
        release.wait(120)
        from scriptflow.executors.base import Outcome
        return Outcome(exit_code=0)

    FakeExecutor.behaviour = staticmethod(stuck)
    monkeypatch.setattr("scriptflow.run.driving.ABANDON_AFTER_SECONDS", 0.5)

    def signal_twice() -> None:
        wait_until(lambda: FakeExecutor.submitted, "the attempt to be submitted")
        os.kill(os.getpid(), signal.SIGTERM)
        wait_until(lambda: current_engine() is not None and current_engine().interrupted, "the interrupt")
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=signal_twice, daemon=True)
    sender.start()
    late_errors: list[logging.LogRecord] = []
    catcher = _Collect(late_errors)
    logging.getLogger().addHandler(catcher)  # "exception calling callback" goes to concurrent.futures
    try:
        try:
            result = run_flow(tmp_path, FLOW)
        finally:
            release.set()  # the abandoned attempt reports back now, after the engine has shut its pools
            sender.join()
        wait_until(lambda: not any(t.name == "sf-fake" for t in threading.enumerate()), "the late report")
    finally:
        logging.getLogger().removeHandler(catcher)
    assert result.exit_code == 143 and result.status == "interrupted"
    assert {r.spec.uid: r.status for r in result.records} == {"a": "interrupted", "b": "not-started"}
    import sqlite3
    conn = sqlite3.connect(tmp_path / ".scriptflow" / "ledger.db")
    assert conn.execute("SELECT status FROM attempts").fetchall() == [("interrupted",)]
    assert conn.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    assert [r.getMessage() for r in late_errors] == []
    assert "internal error" not in (tmp_path / ".scriptflow" / "scriptflow.log").read_text()


class _Collect(logging.Handler):
    """Every error logged anywhere (the root logger), kept for the test to look at."""

    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def test_on_started_raising_kills_and_reaps_the_local_command_and_fails_the_attempt(tmp_path, monkeypatch):
    """Fault injection: the engine's on_started hook raises (as a failing ledger write would) right
    after the local executor started a real, long-running command."""
    import sqlite3
    import sys

    from conftest import process_gone

    from scriptflow.core.engine import Engine

    pids: list[int] = []

    def failing_start(self, record, attempt, started):
        pids.append(started.pid)
        raise RuntimeError("cannot record the start")

    monkeypatch.setattr(Engine, "_attempt_started", failing_start)
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    result = run_flow(tmp_path, f"""
def flow_main():
    sf.Task({sleeper!r}, name="sleeper", retry=1).result()
""")
    assert result.exit_code == 1
    assert len(pids) == 2 and all(process_gone(pid) for pid in pids)
    conn = sqlite3.connect(tmp_path / ".scriptflow" / "ledger.db")
    rows = conn.execute("SELECT status, error FROM attempts ORDER BY number").fetchall()
    assert [r[0] for r in rows] == ["failed", "failed"]
    assert all("recording the start failed (RuntimeError: cannot record the start)" in r[1] for r in rows)
    assert {r.spec.uid: r.status for r in result.records} == {"sleeper": "failed"}


def test_ctrl_c_while_the_outcome_is_recorded_waits_until_it_is_in_the_ledger(tmp_path, monkeypatch):
    """Fault injection: SIGINT arrives exactly as the runner starts writing the run's outcome (a window
    of milliseconds no real Ctrl-C can be aimed at). The outcome is recorded, then the interrupt counts."""
    import os
    import signal
    import sqlite3

    from scriptflow.ledger.writer import LedgerWriter

    real_set_heartbeat = LedgerWriter.set_heartbeat

    def set_heartbeat_with_ctrl_c(self, beat, *args, **kwargs):
        if beat is None:  # the runner stops the heartbeat right before it records the outcome
            os.kill(os.getpid(), signal.SIGINT)
        return real_set_heartbeat(self, beat, *args, **kwargs)

    monkeypatch.setattr(LedgerWriter, "set_heartbeat", set_heartbeat_with_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_flow(tmp_path, FLOW)
    conn = sqlite3.connect(tmp_path / ".scriptflow" / "ledger.db")
    assert conn.execute("SELECT status, exit_code FROM runs").fetchall() == [("succeeded", 0)]
