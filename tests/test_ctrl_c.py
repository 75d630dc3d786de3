"""Ctrl-C (SIGINT) at any moment of ``scriptflow run``: exit 130 and no traceback from scriptflow's code.

(Ctrl-C while waiting for the project lock and while tasks run: test_lock.py, test_interrupt.py.)
"""
from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
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
