"""A task found up to date is one small ``reuses`` row (schema 5), and every answer stays the same.

The ledger must grow by at most 100 bytes per cached task on a no-op run
(a size, measured with ``dbstat``), while ``report``, ``why``, ``show``,
``runs``, ``clean --run``, ``logs``, ``resume`` and the views answer as they
did when each cached task had a full ``tasks`` row and its ``files`` rows.
Everything here runs the real CLI on a real ledger.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from conftest import Project

PAIRS = 500  # 1,000 tasks: a_I copies in_I.txt to mid_I.txt, b_I copies mid_I.txt to out_I.txt

BIG_FLOW = f"""
def flow_big():
    tasks = []
    for i in range({PAIRS}):
        a = sf.Task(["cp", f"in_{{i}}.txt", f"mid_{{i}}.txt"], inputs=f"in_{{i}}.txt", outputs=f"mid_{{i}}.txt",
                    name=f"a{{i}}").start()
        b = sf.Task(["cp", f"mid_{{i}}.txt", f"out_{{i}}.txt"], inputs=f"mid_{{i}}.txt", outputs=f"out_{{i}}.txt",
                    name=f"b{{i}}").start()
        tasks += [a, b]
    sf.bag(*tasks)
"""

CHAIN_FLOW = """
import os

def flow_chain():
    a = sf.Task(["cp", "seed.txt", "a.txt"], inputs="seed.txt", outputs="a.txt", name="make-a").start()
    b = sf.Task(["cp", "a.txt", "b.txt"], inputs="a.txt", outputs="b.txt", name="make-b").start()
    c = sf.Task(["sh", "-c", "test ! -e broken && cat b.txt b.txt > c.txt"], inputs="b.txt", outputs="c.txt",
                name="make-c", retry=int(os.environ.get("RETRIES", "0"))).start()
    sf.bag(a, b, c)
"""


def used_bytes(ledger: Path) -> tuple[int, dict[str, int]]:
    """Bytes of the pages the ledger's tables and indexes use (through the WAL), and per b-tree."""
    conn = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        per_tree = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        return sum(per_tree.values()), per_tree
    finally:
        conn.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """1,000 tasks built once, then one no-op (the first no-op after a build refreshes the stat cache)."""
    project = Project(tmp_path_factory.mktemp("big"))
    project.flow(BIG_FLOW)
    for i in range(PAIRS):
        (project.path / f"in_{i}.txt").write_text(f"{i}\n")
    project.run("run", "big", check=True)
    project.run("run", "big", check=True)
    return project


def test_a_no_op_grows_the_ledger_by_at_most_100_bytes_per_cached_task(big: Project) -> None:
    ledger = big.path / ".scriptflow" / "ledger.db"
    before, trees_before = used_bytes(ledger)
    big.run("run", "big", check=True)
    after, trees_after = used_bytes(ledger)
    tasks = 2 * PAIRS
    growth = {name: size - trees_before.get(name, 0) for name, size in trees_after.items()
              if size != trees_before.get(name, 0)}
    assert (after - before) / tasks <= 100, f"{(after - before) / tasks:.0f} B per cached task: {growth}"
    # every task of the run is a reuse: none has a tasks row or files rows of its own
    run = big.last_run()["id"]
    assert big.query("SELECT count(*) FROM reuses WHERE run_id = ?", (run,))[0][0] == tasks
    assert big.query("SELECT count(*) FROM tasks WHERE run_id = ?", (run,))[0][0] == 0
    assert big.query("SELECT count(*) FROM files WHERE run_id = ?", (run,))[0][0] == 0
    # ... and the views count them as the run's cached tasks
    summary = big.query("SELECT tasks, cached, succeeded FROM run_summary WHERE run_id = ?", (run,))[0]
    assert tuple(summary) == (tasks, tasks, 0)
    assert set(big.statuses().values()) == {"cached"} and len(big.statuses()) == tasks


def test_reuses_point_to_rows_holding_the_definition_never_to_a_reuse(big: Project) -> None:
    """No chains: after several no-ops every reuse names the row of the run that ran the task."""
    rows = big.query("SELECT DISTINCT t.run_id, t.status, t.command IS NOT NULL FROM reuses AS u "
                     "JOIN tasks AS t ON t.id = u.task_id")
    assert [tuple(r) for r in rows] == [(1, "succeeded", 1)]
    files = big.query("SELECT count(*) FROM files WHERE task_id IN (SELECT task_id FROM reuses)")[0][0]
    assert files == 4 * PAIRS  # the reused rows hold an input and an output row each


def test_runs_and_show_list_the_cached_tasks_with_their_commands(big: Project) -> None:
    run = big.last_run()["id"]
    listing = big.run("runs", check=True).stdout
    line = next(li for li in listing.splitlines() if re.match(rf"\s*{run}\s", li))
    assert re.search(rf"\b0\s+{2 * PAIRS}\s+0\s*$", line), line  # ran 0, cached 1000, failed 0
    shown = json.loads(big.run("show", str(run), "--json", check=True).stdout)
    by_uid = {t["uid"]: t for t in shown["tasks"]}
    assert len(by_uid) == 2 * PAIRS
    assert by_uid["b7"]["status"] == "cached" and by_uid["b7"]["reason"] == "cached"
    assert by_uid["b7"]["command"] == ["cp", "mid_7.txt", "out_7.txt"]
    assert by_uid["b7"]["attempts"] == 0 and by_uid["b7"]["executor"] == "local"
    text = big.run("show", str(run), check=True).stdout
    assert re.search(r"^a0\s+cached\s+0\s+local\s+cached$", text, re.M), text[:500]


@pytest.fixture
def chain(project: Project) -> Project:
    project.flow(CHAIN_FLOW)
    project.write("seed.txt", "seed\n")
    return project


def _report_json(project: Project, path: str) -> dict:
    return json.loads(project.run("report", path, "--json", check=True).stdout)


def test_report_and_why_answer_after_a_no_op_as_when_the_task_ran(chain: Project) -> None:
    chain.run("run", "chain", check=True)  # run 1 ran everything
    report_text = chain.run("report", "c.txt", check=True).stdout
    report = _report_json(chain, "c.txt")
    assert "(recorded by run 1)" in report_text
    chain.run("run", "chain", check=True)  # run 2: all cached
    chain.run("run", "chain", check=True)  # run 3: all cached, compared with run 2's (reused) tasks
    assert chain.query("SELECT count(*) FROM reuses WHERE run_id IN (2, 3)")[0][0] == 6

    after_text = chain.run("report", "c.txt", check=True).stdout
    after = _report_json(chain, "c.txt")
    # the lineage is the same attempts, commands and hashes; only "recorded by" names the latest run
    assert after_text == report_text.replace("(recorded by run 1)", "(recorded by run 3)")
    assert after["tasks"] == report["tasks"]
    assert after["file"]["producer"] == report["file"]["producer"] == {
        "attempt_id": report["tasks"][0]["attempt_id"], "uid": "make-c", "run_id": 1}
    assert after["file"]["recorded_in_run"] == 3
    assert after["file"]["recorded_at"] == chain.query("SELECT at FROM reuses WHERE run_id = 3 AND task_id = "
                                                       "(SELECT id FROM tasks WHERE uid = 'make-c')")[0][0]
    # --run 2: as of the first no-op
    assert _report_json(chain, "c.txt")["tasks"] == report["tasks"]
    as_of_2 = json.loads(chain.run("report", "c.txt", "--run", "2", "--json", check=True).stdout)
    assert as_of_2["file"]["recorded_in_run"] == 2 and as_of_2["tasks"] == report["tasks"]

    why = chain.run("why", "c.txt", check=True).stdout
    assert "task make-c, run 3 (decided " in why
    assert "skipped: cached" in why
    assert "match what run 2 recorded" in why  # the previous record, as with full rows
    assert "unchanged since run 3 recorded it" in why
    latest = chain.query("SELECT recorded_in_run_id, attempt_id, uid FROM latest_producers WHERE path = 'c.txt'")
    assert tuple(latest[0]) == (3, report["tasks"][0]["attempt_id"], "make-c")

    # an edit reruns the task: the decision compared with the latest (reused) record, run 3
    chain.write("seed.txt", "seed, edited\n")
    chain.run("run", "chain", check=True)  # run 4
    why = chain.run("why", "make-a", check=True).stdout
    assert "input seed.txt changed (compared with run 3)" in why, why
    assert chain.reasons() == {"make-a": "input-changed:seed.txt", "make-b": "input-changed:a.txt",
                               "make-c": "input-changed:b.txt"}


def test_logs_clean_and_file_history_of_a_no_op_run(chain: Project) -> None:
    chain.run("run", "chain", check=True)
    chain.run("run", "chain", check=True)
    proc = chain.run("logs", "2", "make-b", check=False)
    assert "scriptflow: error: task make-b of run 2 never ran (no attempt, so no logs)" in proc.stderr
    assert chain.run("logs", "1", "make-b", check=True).returncode == 0
    history = chain.query("SELECT run_id, task_status, producer_run_id FROM file_history "
                          "WHERE path = 'b.txt' AND role = 'output'")
    assert [tuple(r) for r in history] == [(1, "succeeded", 1), (2, "cached", 1)]
    inputs = chain.query("SELECT DISTINCT run_id FROM run_files WHERE path = 'seed.txt' AND role = 'input'")
    assert [r[0] for r in inputs] == [1, 2]
    listed = chain.run("clean", "--run", "2", "--dry-run", check=True).stdout
    assert re.findall(r"^would remove\s+(\S+)$", listed, re.M) == ["a.txt", "b.txt", "c.txt"]
    chain.run("clean", "--run", "2", check=True)
    assert not chain.exists("c.txt") and chain.exists("seed.txt")


def test_resume_after_a_run_whose_tasks_were_partly_cached(chain: Project) -> None:
    chain.run("run", "chain", check=True)  # run 1
    chain.write("broken", "")
    chain.run("run", "chain", "-f", "make-c", check=False)  # run 2: make-a and make-b cached, make-c fails
    assert chain.statuses() == {"make-a": "cached", "make-b": "cached", "make-c": "failed"}
    assert chain.query("SELECT count(*) FROM reuses WHERE run_id = 2")[0][0] == 2
    assert chain.query("SELECT status FROM runs WHERE id = 2")[0][0] == "failed"
    os.unlink(chain.path / "broken")
    chain.run("resume", check=True)  # run 3 resumes run 2
    assert chain.last_run()["parent_run_id"] == 2
    assert chain.statuses() == {"make-a": "cached", "make-b": "cached", "make-c": "succeeded"}
    assert chain.reasons()["make-c"] == "previous-failed"
    # the failed run keeps its cached tasks
    assert chain.statuses(2) == {"make-a": "cached", "make-b": "cached", "make-c": "failed"}
    summary = chain.query("SELECT tasks, cached, failed FROM run_summary WHERE run_id = 2")[0]
    assert tuple(summary) == (3, 2, 1)
    why = chain.run("why", "make-b", check=True).stdout
    assert "task make-b, run 3" in why and "match what run 2 recorded" in why


def test_a_definition_change_the_fingerprint_ignores_gets_a_row_of_its_own(chain: Project) -> None:
    """retry= is not part of the fingerprint: the task stays cached, but its row says what this
    run asked for; the next no-op reuses that row, not the first one."""
    chain.run("run", "chain", check=True)  # run 1
    chain.run("run", "chain", check=True, env={"RETRIES": "2"})  # run 2
    tasks = chain.tasks()
    assert tasks["make-c"]["status"] == "cached" and tasks["make-c"]["reused"] == 0
    assert tasks["make-c"]["max_retries"] == 2 and tasks["make-b"]["reused"] == 1
    full = tasks["make-c"]["id"]
    assert chain.query("SELECT count(*) FROM files WHERE task_id = ?", (full,))[0][0] == 2
    chain.run("run", "chain", check=True, env={"RETRIES": "2"})  # run 3
    assert chain.query("SELECT task_id FROM reuses WHERE run_id = 3 AND task_id = ?", (full,))[0][0] == full
    report = _report_json(chain, "c.txt")
    assert report["file"]["producer"]["run_id"] == 1 and report["file"]["recorded_in_run"] == 3


def test_a_touched_output_stays_cached_and_its_stat_cache_entry_is_renewed(chain: Project) -> None:
    chain.run("run", "chain", check=True)
    chain.run("run", "chain", check=True)
    before = chain.query("SELECT mtime_ns FROM stat_cache WHERE path = 'c.txt'")[0][0]
    os.utime(chain.path / "c.txt", ns=(before + 10**9, before + 10**9))
    chain.run("run", "chain", check=True)  # run 3
    assert chain.statuses() == {"make-a": "cached", "make-b": "cached", "make-c": "cached"}
    assert chain.query("SELECT count(*) FROM reuses WHERE run_id = 3")[0][0] == 3
    assert chain.query("SELECT mtime_ns FROM stat_cache WHERE path = 'c.txt'")[0][0] == before + 10**9
    dry = chain.run("run", "chain", "--dry-run", check=True).stdout
    assert "0 of 3 tasks would run" in dry


def test_adopted_tasks_keep_their_row_and_are_reused_after(project: Project) -> None:
    project.flow("""
        def flow_main():
            sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="copy").start()
    """)
    project.write("in.txt", "x\n")
    project.write("out.txt", "x\n")
    os.utime(project.path / "in.txt", (1_000_000_000, 1_000_000_000))
    project.run("run", "main", "--adopt", check=True)  # run 1
    assert project.tasks()["copy"]["reason"] == "adopted" and project.tasks()["copy"]["reused"] == 0
    project.run("run", "main", check=True)  # run 2
    assert project.tasks()["copy"]["reused"] == 1 and project.tasks()["copy"]["status"] == "cached"
    report = _report_json(project, "out.txt")
    assert report["file"]["origin"] == "adopted" and report["file"]["recorded_in_run"] == 2


def test_a_task_that_waited_for_its_dependency_is_recorded_as_a_reuse_too(project: Project) -> None:
    """A task whose dependency is still being decided gets a `waiting` row at once; found up to
    date, that row is replaced by a reuse. Touching the 2 MiB input makes the stat cache unable to
    vouch for it, so `first` is hashed in the prepare pool while `second` waits."""
    project.flow("""
        def flow_main():
            a = sf.Task(["cp", "big.bin", "mid.bin"], inputs="big.bin", outputs="mid.bin", name="first").start()
            b = sf.Task(["cp", "mid.bin", "out.bin"], inputs="mid.bin", outputs="out.bin", name="second").start()
            sf.bag(a, b)
    """)
    (project.path / "big.bin").write_bytes(os.urandom(2 << 20))
    project.run("run", "main", check=True)
    stamp = (project.path / "big.bin").stat().st_mtime_ns + 10**9
    os.utime(project.path / "big.bin", ns=(stamp, stamp))
    project.run("run", "main", check=True)  # run 2
    assert project.statuses() == {"first": "cached", "second": "cached"}
    assert project.query("SELECT count(*) FROM tasks WHERE run_id = 2")[0][0] == 0
    assert project.query("SELECT count(*) FROM reuses WHERE run_id = 2")[0][0] == 2
    assert project.query("SELECT mtime_ns FROM stat_cache WHERE path = 'big.bin'")[0][0] == stamp


def test_repair_copies_the_reuses_and_drops_those_whose_task_was_lost(chain: Project) -> None:
    """`doctor --repair`'s salvage, called on a real ledger: reuses have no rowid, so they are copied
    by ranges of run ids; one whose task row is gone (deleted here, as a damaged page would lose
    it) is dropped like any row without its parent."""
    from scriptflow.ledger.salvage import salvage

    chain.run("run", "chain", check=True)
    chain.run("run", "chain", check=True)
    chain.run("run", "chain", check=True)
    ledger = chain.path / ".scriptflow" / "ledger.db"
    before = chain.query("SELECT * FROM run_summary")
    report = salvage(ledger)
    saved = {t.name: (t.saved, t.lost) for t in report.tables}
    assert saved["reuses"] == (6, 0)
    assert [tuple(r) for r in chain.query("SELECT * FROM run_summary")] == [tuple(r) for r in before]

    with sqlite3.connect(ledger) as conn:  # make-c's row lost: its two reuses lose their parent
        conn.execute("DELETE FROM files WHERE task_id = (SELECT id FROM tasks WHERE uid = 'make-c')")
        conn.execute("DELETE FROM attempts WHERE task_id = (SELECT id FROM tasks WHERE uid = 'make-c')")
        conn.execute("DELETE FROM tasks WHERE uid = 'make-c'")
    report = salvage(ledger, stamp="second")
    saved = {t.name: (t.saved, t.orphaned) for t in report.tables}
    assert saved["reuses"] == (4, 2)
    assert chain.query("SELECT count(*) FROM reuses")[0][0] == 4
    assert chain.query("PRAGMA foreign_key_check") == []
