"""The re-attach contract, driven in-process by the fake executor of ``tests/inprocess.py``.

Only a fake can make ``reattach`` answer None, follow, or raise on demand, and
the dead run it re-attaches to is forged in the ledger (a run left
``running`` with an attempt holding a job id, which is exactly what a
``kill -9`` of the runner leaves behind); the engine, runner, writer and
ledger are the real ones.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from inprocess import FakeExecutor, run_flow

FLOW = """
def flow_main():
    sf.Task(["make-a"], outputs="out/a.txt", name="a", executor="fake").start()
    sf.Task(["make-b"], outputs="out/b.txt", name="b", executor="fake").start()
"""


@pytest.fixture(autouse=True)
def _fresh_fake():
    FakeExecutor.reset()
    yield
    FakeExecutor.reset()


def query(project: Path, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    conn = sqlite3.connect(project / ".scriptflow" / "ledger.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def leave_job_behind(project: Path) -> int:
    """Run the flow, then make the ledger look as if the runner was killed while task ``a``'s
    job J1 was in the scheduler (the state ``recover_dead_runs`` hands to the next run)."""
    first = run_flow(project, FLOW)
    assert first.exit_code == 0
    conn = sqlite3.connect(project / ".scriptflow" / "ledger.db")
    with conn:
        conn.execute("UPDATE runs SET status = 'running', ended_at = NULL WHERE id = ?", (first.run_id,))
        conn.execute("UPDATE tasks SET status = 'running' WHERE run_id = ? AND uid = 'a'", (first.run_id,))
        conn.execute("UPDATE attempts SET status = 'running', job_id = 'J1', job_script = 'a.sh' "
                     "WHERE task_id = (SELECT id FROM tasks WHERE run_id = ? AND uid = 'a')", (first.run_id,))
    conn.close()
    FakeExecutor.submitted = []
    return first.run_id


def attempts_of(project: Path, run_id: int, uid: str) -> list[sqlite3.Row]:
    return query(project, "SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id "
                          "WHERE t.run_id = ? AND t.uid = ? ORDER BY a.id", (run_id, uid))


def test_reattach_none_records_the_attempt_once_and_submits_anew(tmp_path):
    """None: the engine records the attempt exactly once (it used to insert it a second time,
    and the UNIQUE error rolled back a whole batch of unrelated statements), with the new
    attempt's own log files, and submits the task again."""
    dead = leave_job_behind(tmp_path)
    FakeExecutor.reattach_result = "none"
    result = run_flow(tmp_path, FLOW)
    assert result.exit_code == 0, result.error
    assert len(FakeExecutor.reattach_calls) == 1
    job, _ = FakeExecutor.reattach_calls[0]
    assert job.job_id == "J1" and job.task_uid == "a"
    [row] = attempts_of(tmp_path, result.run_id, "a")
    assert row["status"] == "succeeded" and row["job_id"] is None
    assert row["stderr_path"] == f".scriptflow/logs/{result.run_id}/a.1.err"
    assert [a.task_uid for a in FakeExecutor.submitted] == ["a"]  # b was cached: its outputs are intact
    statuses = {r["uid"]: r["status"] for r in query(tmp_path, "SELECT uid, status FROM run_tasks WHERE run_id = ?",
                                                      (result.run_id,))}
    assert statuses == {"a": "succeeded", "b": "cached"}
    # Nothing of the batch around the attempt was lost: outputs, events and the dead run's closing.
    assert query(tmp_path, "SELECT status FROM runs WHERE id = ?", (dead,))[0]["status"] == "lost"
    outputs = query(tmp_path, "SELECT path FROM run_files WHERE run_id = ? AND role = 'output' ORDER BY path",
                    (result.run_id,))
    assert [r["path"] for r in outputs] == ["out/a.txt", "out/b.txt"]
    assert not query(tmp_path, "SELECT * FROM events WHERE run_id = ? AND kind = 'reattach'", (result.run_id,))


def test_reattach_follows_the_job_on_the_recorded_row(tmp_path):
    """A future: one attempt row, carrying the dead run's job id and log files, and a reattach event."""
    dead = leave_job_behind(tmp_path)
    FakeExecutor.reattach_result = "follow"
    result = run_flow(tmp_path, FLOW)
    assert result.exit_code == 0, result.error
    [row] = attempts_of(tmp_path, result.run_id, "a")
    assert row["status"] == "succeeded" and row["job_id"] == "J1"
    assert row["stderr_path"] == f".scriptflow/logs/{dead}/a.1.err"
    assert FakeExecutor.submitted == []
    events = query(tmp_path, "SELECT task_uid, detail FROM events WHERE run_id = ? AND kind = 'reattach'",
                   (result.run_id,))
    assert [(e["task_uid"], e["detail"]) for e in events] == [("a", '{"job_id":"J1"}')]


def test_reattach_that_raises_fails_the_attempt_without_submitting(tmp_path):
    """An executor that cannot tell (reattach raised) must not have the task submitted next to a
    job that may still run: the attempt fails with the reason, recorded once, and nothing else
    of the run is lost."""
    leave_job_behind(tmp_path)
    FakeExecutor.reattach_result = "raise"
    result = run_flow(tmp_path, FLOW)
    assert result.exit_code == 1
    [row] = attempts_of(tmp_path, result.run_id, "a")
    assert row["status"] == "failed"
    assert "cannot re-attach to job J1" in row["error"] and "the fake cannot ask" in row["error"]
    assert FakeExecutor.submitted == []
    statuses = {r["uid"]: r["status"] for r in query(tmp_path, "SELECT uid, status FROM run_tasks WHERE run_id = ?",
                                                      (result.run_id,))}
    assert statuses["a"] == "failed"
