"""`scriptflow doctor` and `doctor --repair` on real ledgers: healthy, damaged pages, a destroyed
header, a dead run, a busy project. Damage is real bytes written into the real file."""
from __future__ import annotations

import os
import random
import re
import shutil
import socket
import sqlite3

import pytest
from filelock import FileLock

from conftest import Project, sha256_file

from test_damaged_ledger import FLOW, TASKS

COUNTED = ("runs", "tasks", "attempts", "files", "events")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Project:
    project = Project(tmp_path_factory.mktemp("pristine"))
    project.flow(FLOW)
    project.run("run", "main", check=True)
    project.run("run", "main", "-F", check=True)
    sqlite3.connect(project.path / ".scriptflow" / "ledger.db").close()
    return project


def copy(pristine: Project, tmp_path) -> Project:
    shutil.copytree(pristine.path, tmp_path / "p")
    return Project(tmp_path / "p")


def ledger(project: Project):
    return project.path / ".scriptflow" / "ledger.db"


def counts(path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def damage_page(path, page: int, seed: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(page * 4096)
        fh.write(random.Random(seed).randbytes(4096))


def table_pages(path, table: str) -> list[int]:
    """0-based page numbers holding rows of ``table`` (SQLite's dbstat, when compiled in; else the root page)."""
    with sqlite3.connect(path) as conn:
        try:
            return [r[0] - 1 for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'",
                                                   (table,))]
        except sqlite3.OperationalError:
            return [conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0] - 1]


def test_doctor_on_a_healthy_ledger(pristine):
    proc = pristine.run("doctor", check=True)
    assert "healthy" in proc.stdout and "damaged" not in proc.stdout
    assert "nothing to repair" in pristine.run("doctor", "--repair", check=True).stdout


def test_doctor_finds_damage_and_repair_salvages_the_rest(pristine, tmp_path):
    project = copy(pristine, tmp_path)
    before = counts(ledger(project))
    pages = table_pages(ledger(project), "files")
    damage_page(ledger(project), pages[len(pages) // 2], seed=3)
    damaged_sum = sha256_file(ledger(project))

    proc = project.run("doctor")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "damaged:" in proc.stdout and "doctor --repair" in proc.stdout
    assert project.run("run", "main").returncode == 2

    proc = project.run("doctor", "--repair", check=True)
    assert "Traceback" not in proc.stderr
    kept = [p for p in os.listdir(project.path / ".scriptflow")
            if p.startswith("ledger.db.damaged-") and not p.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and kept[0] in proc.stdout
    assert sha256_file(project.path / ".scriptflow" / kept[0]) == damaged_sum
    after = counts(ledger(project))
    table = {m.group(1): (int(m.group(2)), int(m.group(3)))
             for m in re.finditer(r"^(\w+)\s+(\d+)\s+(\d+)", proc.stdout, re.M)}
    for name in COUNTED:
        assert table[name][0] == after[name], (name, proc.stdout)
    assert after["runs"] == before["runs"] and after["tasks"] == before["tasks"]
    assert 0 < after["files"] < before["files"] and table["files"][1] >= before["files"] - after["files"]
    with sqlite3.connect(ledger(project)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM stat_cache").fetchone()[0] == 0

    assert "healthy" in project.run("doctor", check=True).stdout
    project.run("run", "main", check=True)
    assert project.last_run()["status"] == "succeeded"
    project.run("runs", check=True)


def test_repair_of_a_ledger_whose_header_is_destroyed(pristine, tmp_path):
    project = copy(pristine, tmp_path)
    with open(ledger(project), "r+b") as fh:
        fh.write(b"\0" * 100)
    assert project.run("doctor").returncode == 1
    proc = project.run("doctor", "--repair", check=True)
    assert "nothing could be read" in proc.stdout
    assert any(p.startswith("ledger.db.damaged-") for p in os.listdir(project.path / ".scriptflow"))
    project.run("run", "main", check=True)  # a fresh ledger: every task runs again (hash-based skip has no record)
    assert len(project.statuses()) == TASKS


def test_doctor_notes_a_run_left_running_by_a_dead_process(pristine, tmp_path):
    """The dead run is made by editing the real file (a crash leaves exactly this row)."""
    project = copy(pristine, tmp_path)
    with sqlite3.connect(ledger(project)) as conn:
        conn.execute("UPDATE runs SET status = 'running', pid = ?, host = ? WHERE id = 2",
                     (2**22 + 4321, socket.gethostname()))
    proc = project.run("doctor", check=True)
    assert "run 2" in proc.stdout and "left running" in proc.stdout


def test_repair_refuses_while_a_run_holds_the_project(pristine, tmp_path):
    project = copy(pristine, tmp_path)
    damage_page(ledger(project), table_pages(ledger(project), "tasks")[0], seed=5)
    with FileLock(str(project.path / ".scriptflow" / "run.lock")):
        proc = project.run("doctor", "--repair")
    assert proc.returncode == 3 and proc.stderr.startswith("scriptflow: error:"), proc.stderr
    assert not any(p.startswith("ledger.db.damaged-") for p in os.listdir(project.path / ".scriptflow"))
