"""The quick lane (core/quicklane.py): a no-op's tasks are found up to date in one pass, and
whatever that pass cannot vouch for takes the general path, which answers as before.

The other no-op tests (test_skip.py, test_reuses.py, test_fast_paths.py, test_input_changes.py)
run through the lane too; these cover the cases where it must step aside.
"""
from __future__ import annotations

from conftest import py_src

COPY_FLOW = "open('gen.py', 'w').write(open('sflow.py').read())"


def test_a_cached_task_whose_output_is_now_the_flow_file_is_still_refused(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(COPY_FLOW)}, outputs="gen.py", name="gen").result()
    """)
    project.run("run", "main", check=True)
    again = project.run("run", "main", check=True)
    assert "all 1 tasks up to date" in again.stdout
    runs = len(project.query("SELECT id FROM runs"))
    # gen.py now holds the same flow: run from it, the up-to-date task declares the flow file as output
    refused = project.run("run", "--file", "gen.py", "main", check=False)
    assert "output gen.py is the flow file" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert project.read("gen.py") == project.read("sflow.py")  # nothing removed
    reuses = project.query("SELECT r.run_id FROM reuses r JOIN runs ON runs.id = r.run_id WHERE runs.id > ?",
                           (runs,))
    assert reuses == []


def test_an_input_that_a_created_task_produces_starts_that_task_on_a_no_op(project):
    def flow(producer_text: str) -> None:
        project.flow(f"""
            def flow_main():
                sf.Task({py_src(f"open('a.txt', 'w').write({producer_text!r})")}, outputs="a.txt", name="p")
                sf.Task({py_src("open('b.txt', 'w').write(open('a.txt').read() + '!')")}, inputs="a.txt",
                        outputs="b.txt", name="c").result()
        """)

    flow("one")
    project.run("run", "main", check=True)
    assert project.read("b.txt") == "one!"
    noop = project.run("run", "main", check=True)
    assert project.statuses() == {"p": "cached", "c": "cached"}
    assert "never started" not in noop.stdout + noop.stderr
    flow("two")  # the producer changed: Make's rule must still start it before its consumer
    project.run("run", "main", check=True)
    assert project.reasons() == {"p": "command-changed", "c": "input-changed:a.txt"}
    assert project.read("b.txt") == "two!"


def test_a_second_task_of_a_reused_uid_is_bound_or_refused_as_in_any_run(project):
    """The lane lets go of a reused task's earlier row (history.forget): a second task of that
    uid in the same run must still be the same task (one run, one row) or a clear error, never
    decided afresh against a row that is gone."""
    def flow(second: str) -> None:
        project.flow(f"""
            def flow_main():
                a = sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="t").start()
                b = sf.Task({second}, inputs="in.txt", outputs="out.txt", name="t").start()
                sf.bag(a, b)
        """)

    project.write("in.txt", "data\n")
    flow('["cp", "in.txt", "out.txt"]')
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    assert project.statuses() == {"t": "cached"}
    assert len(project.query("SELECT * FROM reuses WHERE run_id = (SELECT max(id) FROM runs)")) == 1
    flow('["cp", "-p", "in.txt", "out.txt"]')
    refused = project.run("run", "main", check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "two different tasks are named 't' (command differs)" in refused.stderr
    assert project.read("out.txt") == "data\n"


def _stat_cache_vouches(project, path: str, sha256: str, hashed_after_change_ns: int) -> None:
    """Set the stat-cache entry of ``path`` to the file's stat now, with ``sha256`` hashed
    ``hashed_after_change_ns`` after its last change (what a run would have stored had it read
    the file then). Fault injection: a real run cannot be made to read a file in the same
    timestamp tick as a write it then misses."""
    st = (project.path / path).stat()
    with project.ledger() as conn:
        updated = conn.execute(
            "UPDATE stat_cache SET size = ?, mtime_ns = ?, ctime_ns = ?, inode = ?, sha256 = ?, hashed_at_ns = ? "
            "WHERE path = ?", (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, sha256,
                               max(st.st_mtime_ns, st.st_ctime_ns) + hashed_after_change_ns, path)).rowcount
    assert updated == 1


def _same_size_edit_flow(project) -> str:
    project.write("in.txt", "aaa\n")
    project.flow("""
        def flow_main():
            sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="t").result()
    """)
    project.run("run", "main", check=True)
    recorded = project.query("SELECT sha256 FROM files WHERE role = 'output' AND path = 'out.txt'")[0][0]
    _stat_cache_vouches(project, "out.txt", recorded, hashed_after_change_ns=1_000_000_000)  # settled
    project.write("out.txt", "bbb\n")  # same size, new content: only the stat (mtime, ctime) tells
    return recorded


def test_an_output_edited_to_the_same_size_is_not_vouched_for_by_its_old_stat(project):
    """The lane compares size, mtime, ctime and inode with the stat-cache entry: an output
    rewritten to the same size after its settled entry was made must be read again, found
    modified and rebuilt."""
    _same_size_edit_flow(project)
    project.run("run", "main", check=True)
    assert project.statuses() == {"t": "succeeded"}
    assert project.reasons() == {"t": "output-modified:out.txt"}
    assert project.read("out.txt") == "aaa\n"


def test_a_racy_stat_cache_entry_is_read_again_and_a_settled_one_trusted(project):
    """An entry hashed within the timestamp granularity of its file's last change may have
    missed a write in the same tick: the lane must not trust it. Here it claims the recorded
    hash for content that changed since; read again, the task is rebuilt. The same entry made
    a second after the change is trusted, as the general path would."""
    recorded = _same_size_edit_flow(project)
    _stat_cache_vouches(project, "out.txt", recorded, hashed_after_change_ns=1_000)  # racy: read again
    project.run("run", "main", check=True)
    assert project.statuses() == {"t": "succeeded"}
    assert project.reasons() == {"t": "output-modified:out.txt"}
    assert project.read("out.txt") == "aaa\n"

    project.write("out.txt", "bbb\n")
    _stat_cache_vouches(project, "out.txt", recorded, hashed_after_change_ns=1_000_000_000)  # settled
    project.run("run", "main", check=True)
    assert project.statuses() == {"t": "cached"}  # the entry is believed: the file is not read
    assert project.read("out.txt") == "bbb\n"


AWKWARD = dict(  # names and values that JSON must escape, or keep as they are: SQLite and Python must agree
    dir='sub "q" \\ é\ttab',
    inp='in "1" \\ é\x01.txt',
    out='out "1" \\ ü\n.txt',
    version='v"2"\\\x7f\u2028',
)


def test_sqlite_reads_a_row_as_the_same_repeats_key_python_builds_for_its_task(project):
    """The quick lane compares one string per task: the JSON array SQLite builds from the
    earlier row (``history.REPEATS_KEY_SQL``) with the one ``tasktext.repeats_key`` builds from
    the spec. Were they spelled differently for some value, every such task would take the
    slow general path (still correct); here they must be equal for names and values JSON
    escapes, and differ as soon as one compared column does."""
    import scriptflow as sf
    from scriptflow.core.history import REPEATS_KEY_SQL
    from scriptflow.core.tasktext import repeats_key
    from scriptflow.core.spec import build_spec
    from scriptflow.project import Project as Folder

    (project.path / AWKWARD["dir"]).mkdir()
    project.write(f"{AWKWARD['dir']}/{AWKWARD['inp']}", "data\n")
    arguments = dict(inputs=AWKWARD["inp"], outputs=AWKWARD["out"], name="t", cwd=AWKWARD["dir"],
                     version=AWKWARD["version"], retry=1, mem="2G", timeout=60)
    project.flow(f"""
        def flow_main():
            sf.Task(["cp", {AWKWARD['inp']!r}, {AWKWARD['out']!r}], **{arguments!r}).result()
    """)
    project.run("run", "main", check=True)
    again = project.run("run", "main", check=True)
    assert "all 1 tasks up to date" in again.stdout
    [(from_sqlite,)] = project.query(f"SELECT {REPEATS_KEY_SQL} FROM tasks AS t WHERE uid = 't'")

    def key(**changed) -> str:
        task = sf.Task(["cp", AWKWARD["inp"], AWKWARD["out"]], **{**arguments, **changed})
        return repeats_key(build_spec(task, Folder(project.path), "local"))

    assert from_sqlite == key()
    assert from_sqlite is not None and "é" in from_sqlite  # kept as UTF-8, as both write it
    for changed in (dict(retry=2), dict(version="v3"), dict(mem="3G"), dict(outputs=[AWKWARD["out"], "x"])):
        assert key(**changed) != from_sqlite, changed


def test_sqlite_finds_the_same_entries_racy_as_python():
    """The history reads only the stat-cache entries that are not racy (``store.SETTLED_SQL``);
    the quick lane then trusts a matching entry without asking ``is_racy``. Both spellings must
    agree on every moment: a second's first and last nanosecond, coarse (whole-second) and fine
    timestamps, a hash just before, at and after the granularity, before 1970."""
    import itertools
    import sqlite3

    from scriptflow.ledger.store import COARSE_GRANULARITY_NS, FINE_GRANULARITY_NS, SETTLED_SQL, is_racy

    second = 1_000_000_000
    changes = [0, 1, second - 1, second, 1_700_000_000 * second, 1_700_000_000 * second + 123_456_789,
               -second, -1, -second - 1, 2**62]
    gaps = [g + d for g in (0, FINE_GRANULARITY_NS, COARSE_GRANULARITY_NS) for d in (-1, 0, 1)] + [-5, 10**18]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE stat_cache (n INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, hashed_at_ns INTEGER)")
    rows = []
    for number, (mtime, ctime, gap) in enumerate(itertools.product(changes, changes, gaps)):
        rows.append((number, mtime, ctime, max(mtime, ctime) + gap))
    conn.executemany("INSERT INTO stat_cache VALUES (?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO stat_cache VALUES (-1, 5, NULL, 10)")  # a damaged entry: never settled
    settled = {n for (n,) in conn.execute(f"SELECT n FROM stat_cache WHERE {SETTLED_SQL}")}
    expected = {n for n, mtime, ctime, hashed in rows if not is_racy(mtime, ctime, hashed)}
    assert settled == expected
    assert 0 < len(settled) < len(rows)
