"""The original scriptflow README example, copied verbatim, and the skip rules on it.

This is the only slow test of the core suite (the example's tasks sleep 5 s),
so every step runs in one test function, in order.
"""
from __future__ import annotations

import os
import re
import shutil

from conftest import ORIGINAL_EXAMPLE


def _attempts(project, run_id: int) -> dict[str, list]:
    rows = project.query(
        "SELECT t.uid, a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.run_id = ? ORDER BY a.id",
        (run_id,),
    )
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(row["uid"], []).append(row)
    return out


def test_original_example_runs_unchanged_and_skips_what_is_done(project):
    shutil.copy(ORIGINAL_EXAMPLE, project.path / "sflow.py")
    assert "async def flow_sleepit" in project.read("sflow.py")

    # 1. first run: both solvers in parallel, then final; final.txt holds 9.
    first = project.run("run", "sleepit", check=True)
    assert "Traceback" not in first.stderr
    assert project.read("final.txt").strip() == "9"
    assert project.read("test_1.txt") == "5"
    assert project.read("test_2.txt") == "4"
    run1 = project.last_run()
    assert run1["status"] == "succeeded"
    assert project.statuses() == {"solve-1": "succeeded", "solve-2": "succeeded", "final": "succeeded"}
    assert set(project.reasons().values()) == {"never-run"}
    attempts = _attempts(project, run1["id"])
    s1, s2, fin = attempts["solve-1"][0], attempts["solve-2"][0], attempts["final"][0]
    # the solvers overlapped (each started before the other ended) and final came after both
    assert s1["started_at"] < s2["ended_at"] and s2["started_at"] < s1["ended_at"]
    assert fin["started_at"] >= max(s1["ended_at"], s2["ended_at"])

    # 2. nothing changed: nothing runs, everything is cached and the output says so.
    second = project.run("run", "sleepit", check=True)
    run2 = project.last_run()
    assert project.statuses() == {"solve-1": "cached", "solve-2": "cached", "final": "cached"}
    assert set(project.reasons().values()) == {"cached"}
    assert _attempts(project, run2["id"]) == {}
    assert "up to date" in second.stdout
    # one line per cached task, stamped as every plain line is (``PlainConsole.cached_line``)
    assert sorted(re.findall(r"^\[ +\d+\.\d\ds\] cached  (\S+)$", second.stdout, re.M)) == [
        "final", "solve-1", "solve-2"], second.stdout

    # 3. touch (same bytes, new mtime): nothing runs.
    path = project.path / "test_1.txt"
    before = path.stat().st_mtime_ns
    os.utime(path)
    assert path.stat().st_mtime_ns != before
    project.run("run", "sleepit", check=True)
    run3 = project.last_run()
    assert set(project.statuses().values()) == {"cached"}
    assert _attempts(project, run3["id"]) == {}

    # 4. test_1.txt edited by hand: solve-1 reruns and restores it; final is then cached.
    path.write_text("7")
    project.run("run", "sleepit", check=True)
    run4 = project.last_run()
    assert project.statuses() == {"solve-1": "succeeded", "solve-2": "cached", "final": "cached"}
    assert project.reasons()["solve-1"] == "output-modified:test_1.txt"
    assert project.reasons()["final"] == "cached"
    assert project.read("test_1.txt") == "5"
    assert project.read("final.txt").strip() == "9"
    assert set(_attempts(project, run4["id"])) == {"solve-1"}

    # 5. final.txt deleted: final reruns, alone.
    (project.path / "final.txt").unlink()
    project.run("run", "sleepit", check=True)
    run5 = project.last_run()
    assert project.statuses() == {"solve-1": "cached", "solve-2": "cached", "final": "succeeded"}
    assert project.reasons()["final"] == "output-missing:final.txt"
    assert set(_attempts(project, run5["id"])) == {"final"}
    assert project.read("final.txt").strip() == "9"
