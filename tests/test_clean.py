"""`scriptflow clean`: removes recorded outputs that still hold their recorded bytes,
keeps hand-edited files, never touches anything outside the project, never
writes the ledger."""
from __future__ import annotations

import hashlib
import os
import time
import sqlite3
from pathlib import Path

import pytest

from conftest import Project

FLOWS = '''
import sys
PY = sys.executable
WRITE = ("import os, sys; os.makedirs(os.path.dirname(sys.argv[1]) or '.', exist_ok=True); "
         "open(sys.argv[1], 'w').write(sys.argv[2])")


def flow_first():
    a = sf.Task([PY, "-c", WRITE, "a.txt", "A"], outputs="a.txt", name="a").start()
    b = sf.Task([PY, "-c", WRITE, "out/b.txt", "B"], outputs="out/b.txt", inputs=[a], name="b").start()
    sf.bag(a, b)


def flow_second():
    sf.Task([PY, "-c", WRITE, "c.txt", "C"], outputs="c.txt", name="c").result()
'''


def said(output: str, outcome: str, path: str) -> bool:
    """clean printed `OUTCOME  PATH [ (detail)]` (outcomes are padded to one width)."""
    for line in output.splitlines():
        rest = line[len(outcome):].strip() if line.startswith(outcome) else None
        if rest is not None and (rest == path or rest.startswith(path + "  (")):
            return True
    return False


def ledger_state(project: Project) -> tuple[str, str]:
    """The main file's bytes and the whole content (closing the last reader may drop an empty WAL)."""
    path = project.path / ".scriptflow" / "ledger.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        dump = "\n".join(conn.iterdump())
    return hashlib.sha256(path.read_bytes()).hexdigest(), hashlib.sha256(dump.encode()).hexdigest()


@pytest.fixture
def made(project: Project) -> Project:
    project.flow(FLOWS)
    project.run("run", "first", check=True)
    project.run("run", "second", "--name", "later", check=True)
    return project


def test_dry_run_then_clean_keeps_hand_edited_files(made: Project) -> None:
    made.write("out/b.txt", "edited by hand")
    before = ledger_state(made)

    dry = made.run("clean", "--dry-run", check=True).stdout
    assert said(dry, "would remove", "a.txt") and said(dry, "would remove", "c.txt")
    assert said(dry, "kept (modified since recorded)", "out/b.txt")
    assert "would remove 2 files, kept 1, 0 already gone" in dry
    assert made.exists("a.txt") and made.exists("c.txt")

    out = made.run("clean", check=True).stdout
    assert said(out, "removed", "a.txt") and said(out, "removed", "c.txt")
    assert "removed 2 files, kept 1, 0 already gone" in out
    assert not made.exists("a.txt") and not made.exists("c.txt")
    assert made.read("out/b.txt") == "edited by hand"
    assert ledger_state(made) == before  # clean never writes the ledger

    again = made.run("clean", check=True).stdout
    assert said(again, "already gone", "a.txt") and "removed 0 files" in again

    # the next run remakes what clean removed (and restores the hand-edited output)
    made.run("run", "first", check=True)
    assert made.reasons()["a"] == "output-missing:a.txt"
    assert made.read("a.txt") == "A" and made.read("out/b.txt") == "B"


def test_clean_one_flow_or_one_run(made: Project) -> None:
    out = made.run("clean", "second", check=True).stdout
    assert said(out, "removed", "c.txt") and "a.txt" not in out
    assert made.exists("a.txt") and made.exists("out/b.txt") and not made.exists("c.txt")

    made.run("run", "second", check=True)  # run 3: remakes c.txt
    out = made.run("clean", "--run", "1", check=True).stdout
    assert said(out, "removed", "a.txt") and said(out, "removed", "out/b.txt") and "c.txt" not in out
    assert made.exists("c.txt")

    made.run("run", "second", "--name", "later", check=True)  # run 4 (c.txt is cached)
    out = made.run("clean", "--run", "later", check=True).stdout
    assert said(out, "removed", "c.txt") and not made.exists("c.txt")


def test_clean_usage_errors(made: Project) -> None:
    both = made.run("clean", "first", "--run", "1")
    assert both.returncode == 2 and "not both" in both.stderr and "Traceback" not in both.stderr
    unknown = made.run("clean", "nosuchflow")
    assert unknown.returncode == 2 and "never ran" in unknown.stderr


def test_clean_never_touches_files_outside_the_project(project: Project, tmp_path_factory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (project.path / "linked").symlink_to(outside, target_is_directory=True)
    project.flow(f'''
import sys
PY = sys.executable
WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
OUTSIDE = {str(outside / "abs.txt")!r}


def flow_out():
    a = sf.Task([PY, "-c", WRITE, OUTSIDE, "X"], outputs=OUTSIDE, name="abs").start()
    b = sf.Task([PY, "-c", WRITE, "linked/via_link.txt", "Y"], outputs="linked/via_link.txt", name="link").start()
    c = sf.Task([PY, "-c", WRITE, "inside.txt", "Z"], outputs="inside.txt", name="inside").start()
    sf.bag(a, b, c)
''')
    project.run("run", "out", check=True)
    paths = {r["path"] for r in project.query("SELECT path FROM files WHERE role = 'output'")}
    assert str(outside / "abs.txt") in {os.path.normpath(p) for p in paths}

    out = project.run("clean", check=True).stdout
    assert said(out, "removed", "inside.txt")
    assert said(out, "kept (outside the project)", "linked/via_link.txt")
    assert said(out, "kept (outside the project)", Path(outside, "abs.txt").as_posix())
    assert (outside / "abs.txt").read_text() == "X"
    assert (outside / "via_link.txt").read_text() == "Y"
    assert not project.exists("inside.txt")


def test_clean_without_a_ledger(project: Project) -> None:
    proc = project.run("clean")
    assert proc.returncode == 2 and "no ledger" in proc.stderr


def test_clean_refuses_while_a_run_holds_the_project(made: Project) -> None:
    made.flow(FLOWS + '''

def flow_slow():
    sf.Task([PY, "-c", "import os, time\\nwhile not os.path.exists('go'): time.sleep(0.05)\\nopen('s.txt', 'w')"],
            outputs="s.txt", name="slow").result()
''')
    run = made.popen("run", "slow", "--classic")
    try:
        note = made.path / ".scriptflow" / "run.lock.json"
        deadline = time.monotonic() + 30
        while not note.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert note.exists(), "the run never took the project lock"
        busy = made.run("clean")
        assert busy.returncode == 3 and "busy" in busy.stderr and made.exists("a.txt")
        assert made.run("clean", "--dry-run").returncode == 0  # listing needs no lock
    finally:
        made.write("go", "")
        run.communicate(timeout=60)
    assert run.returncode == 0
