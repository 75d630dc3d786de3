"""A damaged ledger (random bytes written into .scriptflow/ledger.db) is caught, never trusted:
one line naming the file and `scriptflow doctor --repair`, never a traceback, and never a run
recorded as succeeded that exited non-zero. Real CLI, real SQLite file, seeded damage."""
from __future__ import annotations

import random
import shutil
import sqlite3

import pytest

from conftest import Project, py_src, sha256_file

TASKS = 30
FLOW = f"""
def flow_main():
    for i in range({TASKS}):
        sf.Task({py_src("import sys; open(sys.argv[1], 'w').write('x' * 3000 + sys.argv[1])")} + [f"out{{i}}.txt"],
                name=f"make-{{i}}", outputs=f"out{{i}}.txt").start()
"""
READ_ONLY_COMMANDS = [("runs",), ("show", "1"), ("report", "out3.txt"), ("why", "make-3"),
                      ("logs", "1", "make-3")]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Project:
    """A project with two runs of 30 tasks: a ledger of many pages."""
    project = Project(tmp_path_factory.mktemp("pristine"))
    project.flow(FLOW)
    project.run("run", "main", check=True)
    project.run("run", "main", "-F", check=True)
    ledger = project.path / ".scriptflow" / "ledger.db"
    sqlite3.connect(ledger).close()  # the last connection checkpoints: everything is in the main file
    assert not (project.path / ".scriptflow" / "ledger.db-wal").exists()
    return project


def damaged_copy(pristine: Project, tmp_path, offset: int, seed: int) -> Project:
    target = tmp_path / "project"
    shutil.copytree(pristine.path, target)
    ledger = target / ".scriptflow" / "ledger.db"
    noise = random.Random(seed).randbytes(64)
    with open(ledger, "r+b") as fh:
        fh.seek(offset)
        fh.write(noise)
    return Project(target)


def assert_one_line_or_ok(proc) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("scriptflow: error: "), proc.stderr


def offsets(size: int) -> list[tuple[int, int]]:
    rng = random.Random(20240611)
    chosen = [0, 16, 4096, size // 2, size - 4096]  # header, page size, first table page, middle, last page
    chosen += [rng.randrange(100, size - 64) for _ in range(5)]
    return [(offset, seed) for seed, offset in enumerate(chosen)]


def test_run_and_read_only_commands_on_damaged_ledgers(pristine, tmp_path):
    size = (pristine.path / ".scriptflow" / "ledger.db").stat().st_size
    assert size > 40_000
    caught = 0
    for index, (offset, seed) in enumerate(offsets(size)):
        project = damaged_copy(pristine, tmp_path / str(index), offset, seed)
        ledger = project.path / ".scriptflow" / "ledger.db"
        before = sha256_file(ledger)
        proc = project.run("run", "main", "-F")
        assert_one_line_or_ok(proc)
        if proc.returncode == 2 and "nothing was written" in proc.stderr:
            caught += 1
            assert str(ledger) in proc.stderr and "scriptflow doctor --repair" in proc.stderr
            assert sha256_file(ledger) == before, "a damaged ledger was written to"
        try:
            bad = [tuple(r) for r in project.query("SELECT id, status, exit_code FROM runs "
                                                   "WHERE status = 'succeeded' AND exit_code != 0")]
        except (sqlite3.DatabaseError, UnicodeDecodeError):  # the damage itself may be in the runs table
            bad = []
        assert bad == [], f"offset {offset}: succeeded recorded for a failed exit"
        if proc.returncode == 0:
            last = project.last_run()
            assert (last["status"], last["exit_code"]) == ("succeeded", 0)
        for args in READ_ONLY_COMMANDS:
            assert_one_line_or_ok(project.run(*args))
    assert caught >= 2, "the header and page-size damage at least must be caught before the run"


def test_damage_in_a_table_page_is_caught_before_the_run(pristine, tmp_path):
    """Every byte of a data page overwritten: quick_check sees it; the run refuses at once."""
    ledger = pristine.path / ".scriptflow" / "ledger.db"
    size = ledger.stat().st_size
    project = damaged_copy(pristine, tmp_path, size // 2 - (size // 2) % 4096, 7)
    with open(project.path / ".scriptflow" / "ledger.db", "r+b") as fh:
        fh.seek(size // 2 - (size // 2) % 4096)
        fh.write(random.Random(7).randbytes(4096))
    before = sha256_file(project.path / ".scriptflow" / "ledger.db")
    made = (project.path / "out0.txt").stat().st_mtime_ns
    proc = project.run("run", "main", "-F", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "is damaged" in proc.stderr and "scriptflow doctor --repair" in proc.stderr
    assert sha256_file(project.path / ".scriptflow" / "ledger.db") == before
    assert (project.path / "out0.txt").stat().st_mtime_ns == made, "a task ran on a damaged ledger"


def test_damage_met_during_a_run_fails_it_with_the_same_line(pristine, tmp_path, monkeypatch, capsys):
    """A big ledger gets only the header and schema check before a run: damage in a page the run
    reads later (the index of task uids) must still stop it, with the same line, and
    the run must not be recorded as succeeded. In process, with the quick_check size limit set to 0
    to stand for a ledger too big for it; the damage and everything else are real."""
    from inprocess import run_flow

    from scriptflow.ledger import health

    monkeypatch.setattr(health, "QUICK_CHECK_MAX_BYTES", 0)
    target = tmp_path / "project"
    shutil.copytree(pristine.path, target)
    ledger = target / ".scriptflow" / "ledger.db"
    with sqlite3.connect(ledger) as conn:
        pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'tasks_uid' "
                                            "AND pagetype = 'leaf'")]
    with open(ledger, "r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * 4096)
            fh.write(random.Random(page).randbytes(4096))
    result = run_flow(target, FLOW.replace("import scriptflow as sf\n", ""))
    assert result.exit_code == 2 and result.status == "failed"
    assert "is damaged" in result.error and "scriptflow doctor --repair" in result.error
    assert "scriptflow: error: the ledger" in capsys.readouterr().err
    with sqlite3.connect(ledger) as conn:
        rows = conn.execute("SELECT status, exit_code FROM runs WHERE id = ?", (result.run_id,)).fetchall()
    assert rows in ([], [("failed", 2)]), rows
