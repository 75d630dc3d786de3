"""The quick lane's tables read while a run starts (core/prefetch.py): used when nothing wrote
to the ledger meanwhile, dropped when anything did, so that a run decides exactly as if its first
task had read them."""
from __future__ import annotations

import signal

from conftest import PY, kill_leftovers, wait_until
from scriptflow.core.history import LedgerHistory
from scriptflow.core.prefetch import HistoryPrefetch
from scriptflow.ledger.store import open_for_reading

FLOW = """
    def flow_main():
        for i in range(3):
            sf.Task({cmd}, inputs=f"in{{i}}.txt", outputs=f"out{{i}}.txt", name=f"t{{i}}").start()
"""
COPY = "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read())"


def _built(project) -> None:
    for i in range(3):
        project.write(f"in{i}.txt", f"{i}\n")
    project.flow(FLOW.format(cmd=f"[{PY!r}, '-c', {COPY!r}, f'in{{i}}.txt', f'out{{i}}.txt']"))
    project.run("run", "main", check=True)


def _ledger(project):
    return project.path / ".scriptflow" / "ledger.db"


def test_it_reads_what_the_first_task_would_read_for_the_run_id_the_run_gets(project):
    _built(project)
    project.run("run", "main", check=True)  # reuses rows, and a stat cache written twice
    prefetch = HistoryPrefetch.start(_ledger(project))
    assert prefetch is not None
    read = prefetch.take()
    assert read is not None
    run_id, tables = read
    assert run_id == project.last_run()["id"] + 1
    conn = open_for_reading(_ledger(project))
    try:
        assert tables == LedgerHistory(lambda: conn, run_id).tables()
    finally:
        conn.close()
    lean, outputs, stat = tables
    assert sorted(lean) == ["t0", "t1", "t2"] and len(outputs) == 3 and len(stat) == 6


def test_a_commit_by_any_connection_after_it_began_drops_it(project):
    _built(project)
    prefetch = HistoryPrefetch.start(_ledger(project))
    assert prefetch is not None
    prefetch.wait()  # the read has ended: the commit below comes after it, never before it began
    with project.ledger() as conn:  # what a dead run's closing, a migration or another process does
        conn.execute("UPDATE runs SET name = 'renamed' WHERE id = 1")
    assert prefetch.take() is None


def test_nothing_is_read_without_a_ledger_or_from_a_file_that_is_not_one(project):
    assert HistoryPrefetch.start(_ledger(project)) is None
    project.write(".scriptflow/ledger.db", "not a database, but a file someone left here\n" * 100)
    prefetch = HistoryPrefetch.start(_ledger(project))
    assert prefetch is not None
    assert prefetch.take() is None
    prefetch.close()  # closing twice is harmless


def test_closing_it_while_it_reads_ends_the_read_and_leaves_nothing(project):
    _built(project)
    prefetch = HistoryPrefetch.start(_ledger(project))
    assert prefetch is not None
    prefetch.close()  # at once: while connecting or reading, the read stops (interrupted or never begun)
    assert prefetch.take() is None
    project.run("run", "main", check=True)  # the ledger is left as it was: no lock, no transaction held


def test_a_run_stopped_before_its_flow_starts_closes_the_read(project):
    _built(project)
    project.flow("def flow_main(:\n")  # a syntax error: the run ends while loading the flow
    bad = project.run("run", "main", check=False)
    assert "Traceback" not in bad.stderr
    assert "sflow.py" in bad.stderr
    assert project.query("SELECT count(*) AS n FROM runs")[0]["n"] == 1  # nothing recorded


def test_a_no_op_uses_it_and_says_so_in_the_debug_log(project):
    _built(project)
    noop = project.run("run", "main", "--set", "debug=true", check=True)
    assert "all 3 tasks up to date" in noop.stdout
    run_id = project.last_run()["id"]
    assert f"run {run_id}: earlier tasks and stat cache read while the run started" in project.read(
        ".scriptflow/scriptflow.log")
    assert project.statuses() == {"t0": "cached", "t1": "cached", "t2": "cached"}


def test_the_rows_a_dead_run_left_are_closed_before_the_next_run_decides_with_them(project):
    """A run killed while it reran t0 leaves t0's row running; the next run closes it before
    deciding, so t0's latest row becomes the dead run's, and t0 is decided from it
    (previous-failed: it runs again). That the history read while the run started is dropped
    after such a closing is held by the fault-injection test below, which can time the commit."""
    hold = ("import os, sys, time\n"
            "if os.path.exists('hold'):\n"
            "    open('started', 'w').write(str(os.getpid()))\n"
            "    while not os.path.exists('go'): time.sleep(0.05)\n" + COPY)
    for i in range(3):
        project.write(f"in{i}.txt", f"{i}\n")
    project.flow(FLOW.format(cmd=f"[{PY!r}, '-c', {hold!r}, f'in{{i}}.txt', f'out{{i}}.txt']"))
    project.run("run", "main", check=True)
    project.write("hold", "")
    proc = project.popen("run", "main", "--force", "t0", "--classic")
    try:
        wait_until(lambda: project.exists("started") and project.read("started"), "t0 to start in the run to kill")
        task_pid = int(project.read("started"))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = project.last_run()["id"]
    assert project.tasks(killed)["t0"]["status"] == "running"  # nobody closed it
    (project.path / "hold").unlink()
    try:
        project.run("run", "main", "--set", "debug=true", check=True)
    finally:
        kill_leftovers([task_pid])
    assert project.statuses(killed)["t0"] != "running"  # closed by the next run
    assert project.statuses() == {"t0": "succeeded", "t1": "cached", "t2": "cached"}
    assert project.reasons()["t0"] == "previous-failed"


def test_a_commit_made_while_the_run_starts_is_seen_by_its_decisions(project, monkeypatch):
    """Fault injection (the real runner, ledger and local executor in this process, as
    tests/inprocess.py runs them): once the history has been read at start, and before the run
    takes it, another connection marks t1's row failed, as a dead run's closing or another
    process would. No real process can be timed to commit in that window. The run must drop
    what it read and decide t1 from the failed row (previous-failed: it runs again), where the
    read made before the commit says succeeded and would have called t1 cached."""
    from inprocess import run_flow
    from scriptflow.run import runner

    _built(project)
    reads: list[HistoryPrefetch] = []
    start, recover = HistoryPrefetch.start.__func__, runner.recover

    def recording_start(cls, path):
        reads.append(start(cls, path))
        return reads[-1]

    def committing_recover(writer, project_):
        reads[0].wait()
        with project.ledger() as conn:
            conn.execute("UPDATE tasks SET status = 'failed' WHERE uid = 't1' AND run_id = 1")
        return recover(writer, project_)

    monkeypatch.setattr(HistoryPrefetch, "start", classmethod(recording_start))
    monkeypatch.setattr(runner, "recover", committing_recover)
    result = run_flow(project.path, project.read("sflow.py").split("\n", 1)[1])
    assert result.exit_code == 0
    assert len(reads) == 1
    assert project.statuses() == {"t0": "cached", "t1": "succeeded", "t2": "cached"}
    assert project.reasons()["t1"] == "previous-failed"


def test_a_run_without_a_quick_lane_lets_go_of_the_lean_rows_it_was_given(project):
    """A dry run or a container default executor has no quick lane: the lean rows read before the
    run began are dropped, and a later ``tables()`` reads the ledger as it is then."""
    from scriptflow.core.quicklane import lane_for_run
    from scriptflow.core.runstate import RunOptions
    from scriptflow.project import Project

    _built(project)
    read = HistoryPrefetch.start(_ledger(project)).take()
    assert read is not None
    run_id, tables = read
    conn = open_for_reading(_ledger(project))
    try:
        history = LedgerHistory(lambda: conn, run_id)
        assert history.seed(tables, run_id)
        assert not history.seed(tables, run_id)  # once, and only before anything was read
        assert not LedgerHistory(lambda: conn, run_id + 1).seed(tables, run_id)  # another run's id
        assert history.tables() is not None and history.tables()[0] is tables[0]
        with project.ledger() as writer:
            writer.execute("UPDATE tasks SET status = 'failed' WHERE uid = 't1'")
        options = RunOptions(run_id=run_id, config={}, dry_run=True)
        assert lane_for_run(history, options, Project(project.path), None) is None
        assert history.tables()[0]["t1"][1] == "failed"
    finally:
        conn.close()
