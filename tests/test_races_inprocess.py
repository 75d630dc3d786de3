"""Races between the flow thread and the threads that finish tasks, made certain in process.

A real run hits these only when a dependency finishes within microseconds of a
moment in the flow thread; the test holds the flow thread at that moment (a
listener hook that waits) while the fake executor of ``tests/inprocess.py``
finishes the dependency. The engine, runner and ledger are the real ones.
"""
from __future__ import annotations

import sqlite3
import threading

from inprocess import FakeExecutor, run_flow

from scriptflow.terminal.console import PlainConsole

FLOW = """
def flow_main():
    a = sf.Task(["a"], outputs="a.txt", name="a", executor="fake")
    a.start()
    b = sf.Task(["b"], inputs=a, outputs="b.txt", name="b", executor="fake")
    sf.bag(a, b)
"""


def test_a_dependency_finishing_while_its_consumer_is_submitted_starts_the_consumer_once(tmp_path, monkeypatch):
    """b is registered while a still runs; a then finishes before the flow thread, which registered
    b, goes on. b was decided and launched by both threads: two attempts at once, the second
    deleting the output the first had just written (seen as a flaky "declared output was not
    written"). b must run exactly once."""
    a_finished = threading.Event()
    release_a = threading.Event()
    real_submitted = PlainConsole.task_submitted
    real_finished = PlainConsole.task_finished

    def submitted(self, record):
        real_submitted(self, record)
        if record.spec.uid == "b":  # b is registered, waiting for a: now let a finish
            release_a.set()
            assert a_finished.wait(30), "a did not finish"

    def finished(self, record):
        real_finished(self, record)
        if record.spec.uid == "a":
            a_finished.set()

    def a_waits_for_b_to_be_registered(attempt):
        from inprocess import succeed_writing_outputs
        if attempt.task_uid == "a":
            assert release_a.wait(30), "b was never submitted"
        return succeed_writing_outputs(attempt)

    monkeypatch.setattr(PlainConsole, "task_submitted", submitted)
    monkeypatch.setattr(PlainConsole, "task_finished", finished)
    monkeypatch.setattr(FakeExecutor, "behaviour", staticmethod(a_waits_for_b_to_be_registered))
    monkeypatch.setattr(FakeExecutor, "submitted", [])
    result = run_flow(tmp_path, FLOW)
    assert result.exit_code == 0, [(r.spec.uid, r.status, r.error) for r in result.records]
    conn = sqlite3.connect(tmp_path / ".scriptflow" / "ledger.db")
    rows = conn.execute("SELECT t.uid, a.number, a.status FROM attempts a JOIN tasks t ON t.id = a.task_id "
                        "ORDER BY t.uid, a.number").fetchall()
    assert rows == [("a", 1, "succeeded"), ("b", 1, "succeeded")]
    assert sorted(a.task_uid for a in FakeExecutor.submitted) == ["a", "b"]
