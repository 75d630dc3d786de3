"""Observers cannot hang or break a run: a closed stdout, a listener that raises.

When stdout goes away (``scriptflow run FLOW | head``) the run finishes quietly:
the console stops writing, the tasks run to their end and the run is recorded
as usual, with no traceback and its usual exit code.
"""
from __future__ import annotations

import subprocess

from conftest import py_src, wait_for_file


def test_stdout_closed_mid_run_the_run_finishes_quietly_and_is_recorded(project):
    # The test reads three lines and closes its end of the pipe, like `head -3`; only then do
    # the remaining tasks run (and their console lines hit the closed pipe).
    project.flow(f"""
        def flow_main():
            first = sf.Task({py_src("open('first.txt', 'w').write('1')")}, outputs="first.txt", name="first")
            waiter = sf.Task({py_src(wait_for_file("pipe-closed", "open('w.txt', 'w').write('w')"))},
                             inputs=first, outputs="w.txt", name="waiter")
            sf.bag(*[sf.Task({py_src("import sys; open(sys.argv[1], 'w').write('x')")} + [f"after{{i}}.txt"],
                             inputs=waiter, outputs=f"after{{i}}.txt", name=f"after{{i}}") for i in range(20)])
    """)
    proc = project.popen("run", "main", "--classic")
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert all(lines), lines
        proc.stdout.close()
        project.write("pipe-closed", "")
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert project.last_run()["status"] == "succeeded"
    statuses = project.statuses()
    assert len(statuses) == 22 and set(statuses.values()) == {"succeeded"}
    assert all(project.exists(f"after{i}.txt") for i in range(20))
    assert "stdout closed" in project.read(".scriptflow/scriptflow.log")


def test_run_piped_into_head_ends_without_traceback(project):
    # Enough console output (long uids) to overflow the pipe buffer after head has gone.
    project.flow(f"""
        def flow_main():
            sf.bag(*[sf.Task({py_src("pass")}, name=f"task-{{i:04d}}-" + "x" * 200) for i in range(300)])
    """)
    proc = subprocess.run(["bash", "-c", "scriptflow run main | head -3; echo \"exit ${PIPESTATUS[0]}\" >&2"],
                          cwd=project.path, capture_output=True, text=True, timeout=300, check=False)
    assert len(proc.stdout.splitlines()) == 3
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "exit 0", proc.stderr
    assert project.last_run()["status"] == "succeeded"
    assert set(project.statuses().values()) == {"succeeded"}
