"""The ledger's check begun before the runner is imported (run/earlycheck.py, ledger/health.py
``StartedCheck``): it checks the ledger the run then uses, its verdict stops a damaged ledger
before anything is written, and a run that waited for the lock checks again. Real CLI, real
SQLite file, the real project lock held by the test."""
from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from conftest import sha256_file
from scriptflow.ledger.health import LedgerDamaged, check_before_run
from scriptflow.project import Project as Paths
from scriptflow.run import flowfile
from scriptflow.run.earlycheck import begin_ledger_check
from scriptflow.run.lock import ProjectLock
from test_damaged_ledger import FLOW
from test_lock import Lines, _stop


@pytest.mark.parametrize("cwd, file, directory, project_dir", [
    ("proj", None, None, "proj"),
    (".", None, "proj", "proj"),
    ("proj", "sub/other.py", None, "proj/sub"),
    (".", "other.py", "proj/sub", "proj/sub"),
    (".", "../sflow.py", "proj/sub", "proj"),
    ("proj/sub", None, "..", "proj"),
])
def test_it_checks_the_ledger_the_run_then_uses(tmp_path, monkeypatch, cwd, file, directory, project_dir) -> None:
    for folder in ("proj", "proj/sub"):
        (tmp_path / folder / ".scriptflow").mkdir(parents=True)
        (tmp_path / folder / ".scriptflow" / "ledger.db").write_bytes(b"")  # an empty ledger: sound
    (tmp_path / "proj" / "sflow.py").write_text("def flow_main():\n    pass\n")
    (tmp_path / "proj" / "sub" / "other.py").write_text("def flow_main():\n    pass\n")
    monkeypatch.chdir(tmp_path / cwd)
    check = begin_ledger_check(file, directory)
    assert check is not None
    check.verdict()
    used = Paths(flowfile.locate(file, directory).parent).ledger_path
    assert check.path == used == Paths(tmp_path / project_dir).ledger_path


def test_no_check_is_begun_where_there_is_no_ledger(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert begin_ledger_check(None, None) is None


def _damaged_in_the_middle(ledger: Path) -> None:
    """The root page of ``files`` overwritten: a page the header and schema checks do not read,
    which ``quick_check`` does."""
    conn = sqlite3.connect(ledger)
    try:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'files'").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    wal = Path(f"{ledger}-wal")
    assert root > 1 and (not wal.exists() or wal.stat().st_size == 0)  # every page in the file itself
    with open(ledger, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(random.Random(7).randbytes(page_size))
    with pytest.raises(LedgerDamaged):
        check_before_run(ledger)


def test_a_damaged_ledger_stops_the_run_before_anything_is_written(project) -> None:
    project.flow(FLOW)
    project.run("run", "main", check=True)
    project.run("run", "main", "-F", check=True)
    ledger = project.path / ".scriptflow" / "ledger.db"
    _damaged_in_the_middle(ledger)
    before = sha256_file(ledger)
    proc = project.run("run", "main", "-F", check=False)
    assert proc.returncode == 2 and "nothing was written" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(ledger) in proc.stderr
    assert sha256_file(ledger) == before


def test_a_run_that_waited_for_the_lock_checks_the_ledger_again(project) -> None:
    """The ledger is sound when the run starts (its early check passes) and damaged while it
    waits for the lock: the verdict given after the wait must be the later one."""
    project.flow(FLOW)
    project.run("run", "main", check=True)
    project.run("run", "main", "-F", check=True)
    ledger = project.path / ".scriptflow" / "ledger.db"
    lock = ProjectLock(Paths(project.path))
    lock.acquire(wait=False)
    held = True
    proc = project.popen("run", "main", "-F", "--classic")
    try:
        Lines(proc.stdout).wait_for("waiting:")
        _damaged_in_the_middle(ledger)
        before = sha256_file(ledger)
        lock.release()
        held = False
        _, err = proc.communicate(timeout=120)
    finally:
        _stop(proc)
        if held:
            lock.release()
    assert proc.returncode == 2 and "nothing was written" in err, err
    assert sha256_file(ledger) == before
