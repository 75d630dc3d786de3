"""``scriptflow sql``: a read-only query over a real ledger, by the real CLI, with no sqlite3 tool needed."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys

import pytest
from conftest import py_src, wait_for_file, wait_until

TWO_TASKS = f"""
    def flow_main():
        a = sf.Task({py_src("open('a.txt', 'w').write('1')")}, outputs="a.txt", name="make-a").start()
        sf.Task({py_src("open('b.txt', 'w').write(open('a.txt').read() + '2')")}, inputs=[a], outputs="b.txt",
                name="make-b").result()
"""


@pytest.fixture
def ran(project):
    project.flow(TWO_TASKS)
    project.run("run", "main", "--classic", check=True)
    return project


def _one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("scriptflow: error: "), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_table_is_the_default(ran):
    out = ran.run("sql", "SELECT uid, status, reason FROM tasks ORDER BY id", check=True).stdout
    lines = out.splitlines()
    assert re.split(r"\s+", lines[0].strip()) == ["uid", "status", "reason"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert [re.split(r"\s+", line.strip()) for line in lines[2:]] == [["make-a", "succeeded", "never-run"],
                                                                       ["make-b", "succeeded", "never-run"]]


def test_json_names_duplicate_columns_apart_and_keeps_types(ran):
    rows = json.loads(ran.run("sql", "SELECT f.path, f.sha256, g.sha256, f.size, NULL AS empty FROM files f "
                                     "JOIN files g ON g.id = f.id WHERE f.role = 'output' ORDER BY f.path",
                              "--json", check=True).stdout)
    assert rows == [
        {"path": "a.txt", "sha256": hashlib.sha256(b"1").hexdigest(), "sha256_2": hashlib.sha256(b"1").hexdigest(),
         "size": 1, "empty": None},
        {"path": "b.txt", "sha256": hashlib.sha256(b"12").hexdigest(),
         "sha256_2": hashlib.sha256(b"12").hexdigest(), "size": 2, "empty": None},
    ]


def test_csv_has_a_header_and_empty_nulls(ran):
    out = ran.run("sql", "SELECT uid, exit_code, error FROM failures UNION ALL "
                         "SELECT t.uid, a.exit_code, a.error FROM attempts a JOIN tasks t ON t.id = a.task_id "
                         "ORDER BY 1", "--csv", check=True).stdout
    assert list(csv.reader(io.StringIO(out))) == [["uid", "exit_code", "error"], ["make-a", "0", ""],
                                                  ["make-b", "0", ""]]


def test_no_rows_prints_nothing_and_an_empty_json_list(ran):
    assert ran.run("sql", "SELECT * FROM failures", check=True).stdout == ""
    assert ran.run("sql", "SELECT * FROM failures", "--csv", check=True).stdout == ""
    assert json.loads(ran.run("sql", "SELECT * FROM failures", "--json", check=True).stdout) == []


WRITES = [
    ("DELETE FROM runs", "DELETE"),
    ("UPDATE tasks SET status = 'failed'", "UPDATE"),
    ("INSERT INTO runs (flow) VALUES ('x') RETURNING id", "INSERT"),
    ("WITH d AS (SELECT 1) DELETE FROM tasks", "DELETE"),
    ("CREATE TABLE mine (a)", "schema"),
    ("CREATE TEMP TABLE mine (a)", ""),
    ("DROP VIEW run_summary", "schema"),
    ("ALTER TABLE runs ADD COLUMN x", ""),
    ("PRAGMA query_only = 0", "query_only"),
    ("PRAGMA user_version = 99", "user_version"),
    ("ATTACH 'other.db' AS other", ""),
    ("VACUUM INTO 'copy.db'", ""),
    ("BEGIN IMMEDIATE", ""),
    ("SELECT 1; DELETE FROM runs", "one statement"),
]


def _user_files(project) -> list[str]:
    """Every file in the project but SQLite's own -wal/-shm, which come and go as connections close."""
    return sorted(str(p.relative_to(project.path)) for p in project.path.rglob("*")
                  if not p.name.startswith("ledger.db-"))


@pytest.mark.parametrize(("statement", "word"), WRITES)
def test_statements_that_would_write_are_refused_and_change_nothing(ran, statement, word):
    before = [tuple(r) for r in ran.query("SELECT id, status FROM runs")] + [
        tuple(r) for r in ran.query("SELECT id, status FROM tasks")]
    version = ran.query("PRAGMA user_version")[0][0]
    files = _user_files(ran)
    _one_line_error(ran.run("sql", statement), word)
    after = [tuple(r) for r in ran.query("SELECT id, status FROM runs")] + [
        tuple(r) for r in ran.query("SELECT id, status FROM tasks")]
    assert after == before
    assert ran.query("PRAGMA user_version")[0][0] == version
    assert ran.query("SELECT count(*) FROM sqlite_master WHERE name = 'mine'")[0][0] == 0
    assert _user_files(ran) == files  # no copy.db, no other.db


def test_reading_pragmas_are_allowed(ran):
    rows = json.loads(ran.run("sql", "PRAGMA table_info(runs)", "--json", check=True).stdout)
    assert "flow" in [r["name"] for r in rows]
    assert json.loads(ran.run("sql", "PRAGMA user_version", "--json", check=True).stdout)[0]["user_version"] >= 1


@pytest.mark.parametrize(("statement", "word"), [
    ("SELEC 1", "syntax error"), ("SELECT * FROM no_such_table", "no such table: no_such_table"),
    ("", "no query"), ("   ", "no query"),
])
def test_bad_sql_is_one_line_exit_2(ran, statement, word):
    _one_line_error(ran.run("sql", statement), word)


def test_no_ledger_is_one_line_exit_2(project):
    _one_line_error(project.run("sql", "SELECT 1"), "no ledger")
    assert not (project.path / ".scriptflow").exists()


def test_json_and_csv_together_is_a_usage_error(ran):
    proc = ran.run("sql", "SELECT 1", "--json", "--csv")
    assert proc.returncode == 2 and "choose one of --json and --csv" in proc.stderr


def test_works_while_a_run_is_live(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(wait_for_file("go"))}, name="waiting").result()
    """)
    proc = project.popen("run", "main", "--classic")
    try:
        def running():
            out = project.run("sql", "SELECT r.status, t.uid, t.status FROM runs r JOIN tasks t ON t.run_id = r.id",
                              "--json")
            return out.returncode == 0 and json.loads(out.stdout) == [
                {"status": "running", "uid": "waiting", "status_2": "running"}]

        wait_until(running, "scriptflow sql to see the live run and its running task")
        project.write("go", "")
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(project.run("sql", "SELECT status FROM runs", "--json", check=True).stdout) == [
        {"status": "succeeded"}]


def test_help_examples_run(ran):
    """Every example in `scriptflow sql --help` is a query that runs on a real ledger."""
    text = ran.run("sql", "--help", check=True).stdout
    examples = re.findall(r'^\s+scriptflow sql "(.*)"(?: --\w+)?$', text, re.MULTILINE)
    assert len(examples) >= 5
    for sql in examples:
        ran.run("sql", sql, check=True)


def test_help_does_not_load_the_query_libraries():
    """`scriptflow --help` stays fast: sqlite-utils and tabulate load only when `sql` runs."""
    code = ("import sys, scriptflow.cli; "
            "print(sorted(m for m in ('sqlite_utils', 'tabulate', 'sqlite3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
