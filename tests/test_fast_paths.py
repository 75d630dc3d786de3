"""The fast paths of a run give the answers the slow ones gave: real runs, real files, real ledger.

A no-op decides every task from one bulk read of the ledger, on the thread that
released it, and records it in one unit; a local attempt's environment is copied
from ``os.environ``'s encoded form; racy stat-cache entries are refreshed when a
run ends. Each test checks what a user or the ledger sees, never a timing.
"""
from __future__ import annotations

from conftest import py_src

FLOW = """
def flow_main():
    sf.bag(*[sf.Task(["cp", f"in_{i}.txt", f"out_{i}.txt"], inputs=f"in_{i}.txt", outputs=f"out_{i}.txt",
                     name=f"t{i}").start() for i in range(5)])
"""


def make(project, n: int = 5) -> None:
    """The flow's five tasks, with the first ``n`` inputs."""
    project.flow(FLOW)
    for i in range(n):
        project.write(f"in_{i}.txt", f"content {i}\n")


def test_first_no_op_after_a_run_reads_no_file(project):
    """Outputs hashed as their task ended are racy; the run refreshes them when it ends, so the
    next run takes every hash from the stat cache, as the one after it does."""
    make(project)
    project.run("run", "main")
    project.run("run", "main")
    run = project.last_run()
    assert set(project.statuses().values()) == {"cached"}
    assert (run["files_hashed"], run["files_from_stat_cache"]) == (0, 10)


def test_a_file_changed_after_its_refresh_still_reruns_its_task(project):
    """The refreshed cache entry describes the file as it was; an edit (even of the same size, in
    the same second) changes its mtime or inode, so the next run reads it and reruns."""
    make(project)
    project.run("run", "main")
    project.write("in_2.txt", "CONTENT 2\n")  # same size
    project.run("run", "main")
    reasons = project.reasons()
    assert reasons["t2"] == "input-changed:in_2.txt"
    assert {uid for uid, r in reasons.items() if r == "cached"} == {"t0", "t1", "t3", "t4"}
    assert project.read("out_2.txt") == "CONTENT 2\n"


def test_a_stat_cache_entry_that_is_not_numbers_is_read_again_not_trusted(project):
    """Fault injection through the real ledger file: an entry whose mtime is text or whose sha256
    is not 64 hexadecimal digits (SQLite keeps any type in any column) is not packed into the
    run's memory; its file is read and hashed again, its task stays cached, and the entry is
    written anew."""
    make(project)
    project.run("run", "main")
    project.run("run", "main")
    import sqlite3

    with sqlite3.connect(project.path / ".scriptflow" / "ledger.db") as conn:
        conn.execute("UPDATE stat_cache SET mtime_ns = 'not a number' WHERE path = 'in_3.txt'")
        # and sha256s that are not one: not hexadecimal, too short, a number (kept in memory as 32 bytes)
        conn.execute("UPDATE stat_cache SET sha256 = 'zz' || substr(sha256, 3) WHERE path = 'out_0.txt'")
        conn.execute("UPDATE stat_cache SET sha256 = substr(sha256, 3) WHERE path = 'in_1.txt'")
        conn.execute("UPDATE stat_cache SET sha256 = 12 WHERE path = 'out_4.txt'")
    project.run("run", "main", check=True)
    run = project.last_run()
    assert set(project.statuses().values()) == {"cached"}
    assert (run["files_hashed"], run["files_from_stat_cache"]) == (4, 6)
    rows = project.query("SELECT path, typeof(mtime_ns) AS t, length(sha256) AS n FROM stat_cache "
                         "WHERE path IN ('in_3.txt', 'out_0.txt', 'in_1.txt', 'out_4.txt')")
    assert {(r["path"], r["t"], r["n"]) for r in rows} == {
        (p, "integer", 64) for p in ("in_3.txt", "out_0.txt", "in_1.txt", "out_4.txt")}


def test_a_cached_task_is_recorded_complete(project):
    """One reuses row per cached task, which run_tasks presents complete (decision and status),
    with the input row and the output row, pointing to the attempt that wrote the file, of the
    task it reused."""
    make(project, 5)
    project.run("run", "main")
    first = project.tasks(1)
    project.run("run", "main")
    row = project.tasks(2)["t3"]
    assert (row["status"], row["reason"], row["compared_task_id"]) == ("cached", "cached", first["t3"]["id"])
    assert row["fingerprint"] == first["t3"]["fingerprint"]
    assert row["decided_at"] and row["ended_at"] and row["command"] == first["t3"]["command"]
    files = project.query("SELECT role, path, sha256, producer_attempt_id FROM files WHERE task_id = ? "
                          "ORDER BY role", (row["id"],))
    attempt = project.query("SELECT id FROM attempts WHERE task_id = ?", (first["t3"]["id"],))[0]["id"]
    old = {r["role"]: r["sha256"] for r in project.query("SELECT role, sha256 FROM files WHERE task_id = ?",
                                                         (first["t3"]["id"],))}
    assert [tuple(r) for r in files] == [("input", "in_3.txt", old["input"], None),
                                         ("output", "out_3.txt", old["output"], attempt)]


def test_big_inputs_are_decided_in_the_pool_with_the_same_answers(project):
    """An input too big to hash where the task was released goes to the prepare pool: the same
    decisions (run, cached, input-changed) follow."""
    project.flow("""
    def flow_main():
        sf.Task(["cp", "big.bin", "copy.bin"], inputs="big.bin", outputs="copy.bin", name="copy").start()
        sf.Task(["cp", "in_0.txt", "out_0.txt"], inputs="in_0.txt", outputs="out_0.txt", name="small").start()
    """)
    project.write("in_0.txt", "x\n")
    (project.path / "big.bin").write_bytes(b"a" * (3 << 20))
    project.run("run", "main")
    assert project.statuses() == {"copy": "succeeded", "small": "succeeded"}
    project.run("run", "main")
    assert project.statuses() == {"copy": "cached", "small": "cached"}
    (project.path / "big.bin").write_bytes(b"b" * (3 << 20))
    project.run("run", "main")
    assert project.reasons() == {"copy": "input-changed:big.bin", "small": "cached"}


def test_an_attempt_sees_os_environ_as_the_flow_left_it(project):
    """The environment is copied per attempt from ``os.environ`` as it is then: a flow that changes
    it between two tasks is seen by the second; the task's own overrides and the attempt's
    SCRIPTFLOW_ATTEMPT are there too."""
    show = py_src("import os, sys; open(sys.argv[1], 'w').write("
                  "os.environ.get('SF_MODE', '-') + ' ' + os.environ.get('SF_OWN', '-') + ' ' "
                  "+ os.environ.get('SCRIPTFLOW_ATTEMPT', '-'))")
    project.flow(f"""
    import os

    def flow_main():
        os.environ["SF_MODE"] = "first"
        sf.Task({show} + ["a.txt"], outputs="a.txt", name="a").result()
        os.environ["SF_MODE"] = "second"
        sf.Task({show} + ["b.txt"], outputs="b.txt", name="b", env={{"SF_OWN": "mine"}}).result()
    """)
    project.run("run", "main")
    attempts = {r["uid"]: r["id"] for r in project.query(
        "SELECT t.uid, a.id FROM attempts a JOIN tasks t ON t.id = a.task_id")}
    assert project.read("a.txt") == f"first - {attempts['a']}"
    assert project.read("b.txt") == f"second mine {attempts['b']}"


def test_dry_run_lists_every_task_in_aligned_columns(project):
    make(project, 4)  # in_4.txt is missing: t4 would fail
    out = project.run("run", "main", "--dry-run").stdout
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("task"))
    assert lines[start].split() == ["task", "decision", "reason"]
    assert set(lines[start + 1].replace(" ", "")) == {"-"}
    rows = lines[start + 2:start + 7]
    assert [r.split()[0] for r in rows] == ["t0", "t1", "t2", "t3", "t4"]
    assert all(r.index("would") == lines[start].index("decision") for r in rows)
    assert rows[4].split()[1:] == ["would", "fail", "input-missing:in_4.txt"]
    assert "dry run: 4 of 5 tasks would run" in out


def test_path_lists_written_directly_equal_the_canonical_json_ones():
    """``json_str_list`` writes a task's input and output lists without the JSON encoder; it must
    spell exactly what ``canonical_json`` gives (the columns a no-op compares), escapes included."""
    from scriptflow.core.fingerprint import canonical_json, json_str_list

    for items in ([], ["a"], ['a"b', "c\\d", "\n\t", "é", "\udcff", "x/y z"], ("t", "u")):
        assert json_str_list(items) == canonical_json(list(items))


def test_canonical_json_through_the_shared_c_encoder_equals_the_json_encoders_text():
    """``canonical_json`` calls the C encoder it made once instead of ``JSONEncoder.encode``
    (which makes one per call); fingerprints and stored columns depend on its text being the
    encoder's, byte for byte, for every kind of value a task holds."""
    import json

    from scriptflow.core import fingerprint

    assert fingerprint._C_ENCODE is not None  # CPython: the shared encoder is what runs
    reference = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    values = ["", "plain", 'q"uote\\back', "\x00\x1f\n\t", "é ü \u2028", ["cp", "in 1.txt", "é"], ("a", "b"),
              None, True, False, 0, -3, 2.5, 1e300, {}, [], {"b": 1, "a": [None, {"d": "x", "c": 2.0}]},
              {"command": ["sh", "-c", "echo $HOME"], "env": {"Z": "1", "A": "é"}, "inputs": [["in", None]]}]
    for value in values:
        assert fingerprint.canonical_json(value) == reference.encode(value), value
    assert fingerprint.canonical_json(["\udcff"]) == '["\\udcff"]'  # a lone surrogate is still escaped
