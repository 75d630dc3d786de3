"""What a flow leaves open is flushed and closed as the ``scriptflow`` process ends, although the
command freezes its objects so that the exit does not walk them (scriptflow/run/teardown.py); through
the real command in a subprocess.

Whether Python's teardown freed the flow's module shows in an object the module holds, whose
``__del__`` appends to ``freed.txt``: frozen objects are never freed, so a run that leaves
nothing open ends without freeing it (the quick exit the freeze is for), and a run that leaves a
file open ends freeing it, and the file with it.
"""
from __future__ import annotations

import sqlite3

from scriptflow.run import teardown

FREED = """
    import os


    class _Freed:
        # Late in the teardown builtins such as open() may be gone: what it needs, it holds.
        def __del__(self, _path=os.path.abspath("freed.txt"), _open=os.open, _write=os.write, _close=os.close,
                    _flags=os.O_WRONLY | os.O_CREAT | os.O_APPEND):
            fd = _open(_path, _flags, 0o644)
            _write(fd, b"freed\\\\n")
            _close(fd)


    FREED = _Freed()
"""
COPY = """
    def flow_copy():
        sf.bag(sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="copy"))
"""


def test_a_file_the_flow_left_open_is_flushed_as_the_process_ends(project):
    project.write("in.txt", "data\\n")
    project.flow(FREED + """
    NOTES = open("notes.txt", "w")  # never flushed nor closed by the flow


    def flow_copy():
        sf.bag(sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="copy"))
        NOTES.write("written by the flow\\\\n")
    """)
    project.run("run", "copy", check=True)
    assert project.read("notes.txt") == "written by the flow\\n"
    assert project.read("freed.txt") == "freed\\n"  # the module was freed, and its file with it


def test_an_sqlite_connection_the_flow_left_open_is_closed_as_the_process_ends(project):
    project.write("in.txt", "data\\n")
    project.flow(FREED + """
    import sqlite3

    DB = sqlite3.connect("mine.db", isolation_level=None)
    DB.execute("PRAGMA journal_mode=WAL")
    DB.execute("CREATE TABLE t (x)")
    DB.execute("INSERT INTO t VALUES (42)")
    """ + COPY)
    project.run("run", "copy", check=True)
    assert not project.exists("mine.db-wal")  # closed as it was freed: its log merged into the file
    with sqlite3.connect(project.path / "mine.db") as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
    assert project.read("freed.txt") == "freed\\n"


def test_a_run_that_leaves_nothing_open_ends_without_freeing_its_objects(project):
    project.write("in.txt", "data\\n")
    project.flow(FREED + COPY)
    project.run("run", "copy", check=True)
    project.run("run", "copy", check=True)  # a no-op, too
    assert project.read("out.txt") == "data\\n"
    assert not project.exists("freed.txt")  # frozen, as the command left them: not walked on exit
    assert not project.exists(".scriptflow/ledger.db-wal")  # every ledger connection was closed


def test_the_pipe_to_multiprocessings_resource_tracker_is_not_left_open(project):
    """The tracker (a real process, started as a Dask LocalCluster's queues start it) keeps its
    pipe open until the process ends: freeing objects would close nothing, so the exit stays quick."""
    project.write("in.txt", "data\\n")
    project.flow(FREED + """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    """ + COPY)
    project.run("run", "copy", check=True)
    assert project.read("out.txt") == "data\\n" and not project.exists("freed.txt")


def test_a_file_left_open_beside_the_resource_tracker_is_still_flushed(project):
    project.write("in.txt", "data\\n")
    project.flow(FREED + """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    NOTES = open("notes.txt", "w")
    NOTES.write("written\\\\n")
    """ + COPY)
    project.run("run", "copy", check=True)
    assert project.read("notes.txt") == "written\\n" and project.read("freed.txt") == "freed\\n"


def test_a_file_closed_by_the_flows_own_exit_callback_leaves_nothing_open(project):
    project.write("in.txt", "data\\n")
    project.flow(FREED + """
    import atexit

    NOTES = open("notes.txt", "w")
    atexit.register(NOTES.close)  # runs before the check: registered after it
    """ + COPY)
    project.run("run", "copy", check=True)
    assert project.exists("notes.txt") and not project.exists("freed.txt")


def test_left_open_sees_a_descriptor_opened_since_the_start(tmp_path, monkeypatch):
    monkeypatch.setattr(teardown, "_inherited", teardown.open_descriptors())
    assert teardown.left_open() is False
    f = open(tmp_path / "x.txt", "w")
    try:
        assert teardown.left_open() is True
    finally:
        f.close()
    assert teardown.left_open() is False
    monkeypatch.setattr(teardown, "_inherited", None)  # never listed: assume something is open
    assert teardown.left_open() is True
