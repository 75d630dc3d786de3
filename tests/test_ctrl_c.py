"""Ctrl-C (SIGINT) at any moment of ``scriptflow run``: exit 130 and no traceback from scriptflow's code.

(Ctrl-C while waiting for the project lock and while tasks run: test_lock.py, test_interrupt.py.)
"""
from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import wait_until


def _run_status(project):
    if not project.exists(".scriptflow/ledger.db"):
        return None
    try:
        rows = project.query("SELECT status FROM runs")
    except sqlite3.OperationalError:  # the ledger is being created
        return None
    return rows[0]["status"] if rows else None


def _no_scriptflow_traceback(stderr: str) -> None:
    """No traceback through scriptflow's own modules (the interpreter's start-up, before any of
    them runs, is out of scriptflow's reach)."""
    assert not re.search(r'File "[^"]*/scriptflow/[^"]*\.py"', stderr), stderr
    assert "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_during_start_up(project, delay):
    project.flow("""
        def flow_main():
            sf.Task(["true"], name="t").start()
    """)
    proc = project.popen("run", "main")
    time.sleep(delay)  # not an assertion on timing: any moment must be fine
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    _no_scriptflow_traceback(err)
    # killed before Python installed its handler (-2), interrupted (130), or already done (0);
    # or the interpreter's own start-up (site) was interrupted, before any scriptflow code ran
    if proc.returncode == 1:
        assert "Fatal Python error: init_import_site" in err, err
    else:
        assert proc.returncode in (-signal.SIGINT, 130, 0), (proc.returncode, out, err)


def test_ctrl_c_while_sflow_is_imported(project):
    project.write("sflow.py", (
        "import os, time\n"
        "open('importing', 'w').close()\n"
        "deadline = time.time() + 60\n"
        "while not os.path.exists('never') and time.time() < deadline:\n"
        "    time.sleep(0.01)\n"
        "import scriptflow as sf\n"
        "def flow_main():\n"
        "    pass\n"
    ))
    proc = project.popen("run", "main")
    wait_until(lambda: project.exists("importing"), "sflow.py to be imported")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert err.strip() == "scriptflow: interrupted"


def test_ctrl_c_while_the_summary_is_written(project):
    # The flow fills the stdout pipe, which the test does not read, so the run blocks writing its
    # summary, after it recorded its outcome. Ctrl-C there ends it with 130 and the ledger holds the run.
    project.flow("""
        import sys
        def flow_main():
            sf.Task(["true"], name="t").result()
            sys.stdout.write("x" * 65000)
            sys.stdout.flush()
    """)
    proc = subprocess.Popen(["scriptflow", "run", "main", "--classic"], cwd=project.path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: _run_status(project) not in (None, "running"), "the run to be recorded")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    _no_scriptflow_traceback(err.decode())
    assert project.last_run()["status"] == "succeeded"


#: Fault injection: a real Ctrl-C lands at these moments only by chance (the CI run that found the
#: flow thread's one took hundreds of tries), so the program below raises SIGINT itself, in the
#: main thread, right after the named function returns (for ``Thread.start``: the flow thread's).
_AT_MOMENT = """
import importlib, signal, sys, threading
module, attribute, thread_name = sys.argv[1:4]
owner = importlib.import_module(module)
*outer, name = attribute.split(".")
for part in outer:
    owner = getattr(owner, part)
original = getattr(owner, name)
fired = []

def wrapped(*args, **kwargs):
    result = original(*args, **kwargs)
    wanted = not thread_name or getattr(args[0], "name", None) == thread_name
    if wanted and not fired and threading.current_thread() is threading.main_thread():
        fired.append(True)
        open("signalled", "w").close()
        signal.raise_signal(signal.SIGINT)
    return result

setattr(owner, name, wrapped)
sys.argv = ["scriptflow", "run", "main"]
from scriptflow.entry import main
main()
"""


@pytest.mark.parametrize("module, attribute, thread_name", [
    ("scriptflow.core.engine", "create_executor", ""),  # the engine sets up its executor (a Dask cluster)
    ("scriptflow.run.childlink", "open_link", ""),  # the link for commands that create tasks is open
    ("threading", "Thread.start", "sf-flow"),  # the flow thread has just started
    ("scriptflow.terminal.console", "RunConsole.begin", ""),  # "run N started" printed
    ("scriptflow.core.engine", "Engine.__exit__", ""),  # the tasks are done and the engine has shut down
], ids=["executor-set-up", "link-opened", "flow-thread-started", "run-begun", "engine-closed"])
def test_ctrl_c_at_each_moment_of_the_start_records_the_run_interrupted(project, module, attribute, thread_name):
    project.flow("""
        def flow_main():
            sf.Task(["sh", "-c", "echo done > t.txt"], outputs="t.txt", name="t").start()
    """)
    proc = subprocess.run([sys.executable, "-c", _AT_MOMENT, module, attribute, thread_name], cwd=project.path,
                          capture_output=True, text=True, timeout=120)
    assert project.exists("signalled"), proc.stderr  # the moment was reached
    _no_scriptflow_traceback(proc.stderr)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    [run] = project.query("SELECT status, exit_code FROM runs")
    assert (run["status"], run["exit_code"]) == ("interrupted", 130)
    assert project.query("SELECT status FROM attempts WHERE status IN ('queued', 'running', 'lost')") == []
    # whatever the flow thread did after the signal, it went no further than the engine allowed:
    # t either ran to the end and was recorded so, or did not run
    tasks = {r["uid"]: r["status"] for r in project.query("SELECT uid, status FROM tasks")}
    assert tasks.get("t", "not-started") in ("succeeded", "not-started", "interrupted"), tasks
    again = project.run("run", "main", check=True)
    assert "lost" not in again.stdout + again.stderr
    assert project.read("t.txt").strip() == "done"
    assert [r["status"] for r in project.query("SELECT status FROM runs ORDER BY id")] == ["interrupted", "succeeded"]


#: Fault injection: the flow thread is made to read the ledger for one second (as loading a big
#: ledger's history does) right after it sends the Ctrl-C, and notes whether the engine's reading
#: connections were closed meanwhile. Closing a SQLite connection another thread is using
#: crashed the interpreter (a segmentation fault, once in about 30 such Ctrl-Cs). An engine that
#: does not wait for the submission ends the run under it: the process is gone before the note
#: can be written, and the task being started is missing from the ledger.
_SLOW_SUBMISSION = """
import os, signal, sys, threading, time
from scriptflow.core.history import LedgerHistory
from scriptflow.ledger.store import ThreadLocalReader
tables, close = LedgerHistory.tables, ThreadLocalReader.close

def slow_tables(self):
    if threading.current_thread().name == "sf-flow":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)
        if os.path.exists("reader-closed"):
            open("closed-under-submission", "w").close()
    return tables(self)

def noted_close(self):
    open("reader-closed", "w").close()
    close(self)

LedgerHistory.tables, ThreadLocalReader.close = slow_tables, noted_close
sys.argv = ["scriptflow", "run", "main"]
from scriptflow.entry import main
main()
"""


def test_the_engine_never_closes_the_ledger_under_a_submission(project):
    project.flow("""
        def flow_main():
            sf.Task(["sh", "-c", "echo done > t.txt"], outputs="t.txt", name="t").start()
    """)
    proc = subprocess.run([sys.executable, "-c", _SLOW_SUBMISSION], cwd=project.path, capture_output=True,
                          text=True, timeout=120)
    _no_scriptflow_traceback(proc.stderr)
    assert proc.returncode == 130, proc.stdout + proc.stderr
    assert project.exists("reader-closed")
    assert not project.exists("closed-under-submission")
    assert [tuple(r) for r in project.query("SELECT status, exit_code FROM runs")] == [("interrupted", 130)]
    assert [tuple(r) for r in project.query("SELECT uid, status FROM tasks")] == [("t", "not-started")]


#: Fault injection: a Ctrl-C (or SIGTERM) that lands inside a weakref callback, where Python can only
#: print "Exception ignored" (CI saw it inside the import system's module-lock callback, 0.05 s
#: after start). The callback raises the signal itself, in the main thread, when the named
#: function is called: before the flow file is located, or once the run has started.
_SIGNAL_IN_A_CALLBACK = """
import importlib, signal, sys, weakref
module, name, signame = sys.argv[1:4]
owner = importlib.import_module(module)
original = getattr(owner, name)
signum = getattr(signal, signame)

class Thing:
    pass

def after_a_lost_signal(*args, **kwargs):
    thing = Thing()
    ref = weakref.ref(thing, lambda r: signal.raise_signal(signum))
    del thing  # the callback runs here; what it raises cannot propagate
    open("callback-ran", "w").close()
    return original(*args, **kwargs)

setattr(owner, name, after_a_lost_signal)
sys.argv = ["scriptflow", "run", "main"]
from scriptflow.entry import main
main()
"""


@pytest.mark.parametrize("module, name, signame, code, run_status", [
    ("scriptflow.run.flowfile", "locate", "SIGINT", 130, None),  # start-up: no run recorded
    ("scriptflow.run.childlink", "open_link", "SIGINT", 130, "interrupted"),
    ("scriptflow.run.childlink", "open_link", "SIGTERM", 143, "interrupted"),
])
def test_a_signal_python_would_ignore_in_a_callback_still_stops_the_command(project, module, name, signame, code,
                                                                            run_status):
    project.flow("""
        def flow_main():
            sf.Task(["sh", "-c", "sleep 5; echo done > t.txt"], outputs="t.txt", name="t").result()
    """)
    proc = subprocess.run([sys.executable, "-c", _SIGNAL_IN_A_CALLBACK, module, name, signame],
                          cwd=project.path, capture_output=True, text=True, timeout=120)
    assert project.exists("callback-ran"), proc.stderr
    _no_scriptflow_traceback(proc.stderr)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert not project.exists("t.txt")  # the command stopped: the task did not run to its end
    assert _run_status(project) == run_status
