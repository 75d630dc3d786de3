"""`scriptflow report PATH`: lineage from real ledgers made by real runs.

The README example (verbatim, 5 s sleeps) runs once for the whole module; the
other tests use tiny flows of their own.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import sqlite3

import pytest

from conftest import ORIGINAL_EXAMPLE, Project

EXAMPLE_COMMANDS = {
    "solve-1": ["python", "-c", "import time; time.sleep(5); open('test_1.txt','w').write('5');"],
    "solve-2": ["python", "-c", "import time; time.sleep(5); open('test_2.txt','w').write('4');"],
    "final": ["python", "-c", "import sflow; sflow.combine_file()"],
}

CHAIN = '''
import sys
PY = sys.executable
UPPER = "import sys; open(sys.argv[2], 'w').write(open(sys.argv[1]).read().upper())"


def flow_chain():
    """src.txt (a source) -> up -> mid.txt -> down -> out.txt"""
    sf.Task([PY, "-c", UPPER, "src.txt", "mid.txt"], inputs=["src.txt"], outputs="mid.txt", name="up").start()
    sf.Task([PY, "-c", UPPER, "mid.txt", "out.txt"], inputs=["mid.txt"], outputs="out.txt", name="down").result()


def flow_down():
    """Only the second step: mid.txt is whatever is on disk."""
    sf.Task([PY, "-c", UPPER, "mid.txt", "out.txt"], inputs=["mid.txt"], outputs="out.txt", name="down").result()
'''


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def report_json(project: Project, *args: str, cwd=None) -> dict:
    proc = project.run("report", *args, "--json", check=True)
    doc = json.loads(proc.stdout)
    assert doc["format"] == "scriptflow-report/1"
    return doc


def tasks_by_uid(doc: dict) -> dict[str, dict]:
    return {t["uid"]: t for t in doc["tasks"]}


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Project:
    """The README example, run once, its ledger shared by the tests below (which must not change it)."""
    project = Project(tmp_path_factory.mktemp("example"))
    shutil.copy(ORIGINAL_EXAMPLE, project.path / "sflow.py")
    project.run("run", "sleepit", check=True)
    return project


@pytest.fixture
def chain(project: Project) -> Project:
    project.flow(CHAIN)
    project.write("src.txt", "hello\n")
    project.run("run", "chain", check=True)
    assert project.read("out.txt") == "HELLO\n"
    return project


# -- the README example --------------------------------------------------------------------


def test_example_lineage_unlimited(example: Project) -> None:
    doc = report_json(example, "final.txt")
    assert doc["path"] == "final.txt" and doc["depth"] is None and doc["as_of_run"] is None
    root = doc["file"]
    assert root["sha256"] == sha(b"9\n") and root["size"] == 2
    assert root["state"] == "unchanged" and root["origin"] == "task"
    assert root["producer"]["uid"] == "final"
    tasks = tasks_by_uid(doc)
    assert [t["uid"] for t in doc["tasks"]][0] == "final"
    assert set(tasks) == {"final", "solve-1", "solve-2"}
    final = tasks["final"]
    assert final["depth"] == 1 and tasks["solve-1"]["depth"] == 2 and tasks["solve-2"]["depth"] == 2
    inputs = {i["path"]: i for i in final["inputs"]}
    assert set(inputs) == {"test_1.txt", "test_2.txt"}
    assert inputs["test_1.txt"]["sha256"] == sha(b"5") and inputs["test_2.txt"]["sha256"] == sha(b"4")
    assert inputs["test_1.txt"]["producer"]["uid"] == "solve-1"
    assert inputs["test_2.txt"]["producer"]["uid"] == "solve-2"
    run_id = example.last_run()["id"]
    for uid, task in tasks.items():
        assert task["command"] == EXAMPLE_COMMANDS[uid]  # exactly as run
        assert task["shell"] is False and task["cwd"] == "."
        assert task["executor"] == "local" and task["job_id"] is None
        assert task["host"] == socket.gethostname()
        assert task["exit_code"] == 0 and task["attempt"] == 1 and task["run_id"] == run_id
        assert task["started_at"] < task["ended_at"]
        assert task["stderr_path"].startswith(".scriptflow/logs/")
    assert tasks["solve-1"]["inputs"] == [] and tasks["solve-2"]["inputs"] == []
    assert tasks["solve-1"]["duration_seconds"] >= 4.9
    assert tasks["solve-1"]["outputs"] == [{"path": "test_1.txt", "sha256": sha(b"5"), "size": 1}]


def test_example_lineage_depth_1(example: Project) -> None:
    doc = report_json(example, "final.txt", "--depth", "1")
    assert doc["depth"] == 1
    assert [t["uid"] for t in doc["tasks"]] == ["final"]
    producers = {i["path"]: i["producer"]["uid"] for i in doc["tasks"][0]["inputs"]}
    assert producers == {"test_1.txt": "solve-1", "test_2.txt": "solve-2"}

    tree = example.run("report", "final.txt", "--depth", "1", check=True).stdout
    assert "import sflow; sflow.combine_file()" in tree
    assert "time.sleep(5)" not in tree  # the solvers' commands are beyond depth 1
    assert re.search(r"test_1\.txt .*made by solve-1 \(run \d+; beyond --depth\)", tree)


def test_example_default_tree(example: Project) -> None:
    out = example.run("report", "final.txt", check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("final.txt") and "unchanged" in lines[0]
    assert re.match(r"└── final  run \d+, attempt 1, exit 0", lines[1])
    text = "\n".join(lines)
    assert "$ python -c 'import sflow; sflow.combine_file()'" in text
    # final <- test_1.txt (solve-1) and test_2.txt (solve-2), each with its command
    order = [text.index(s) for s in ("test_1.txt", "solve-1", "test_2.txt", "solve-2")]
    assert order == sorted(order)
    assert """$ python -c "import time; time.sleep(5); open('test_1.txt','w').write('5');\"""" in text
    assert "no inputs" in text


def test_example_table(example: Project) -> None:
    out = example.run("report", "final.txt", "--table", check=True).stdout.splitlines()
    assert out[0].split()[:2] == ["depth", "task"]
    rows = [line.split() for line in out[2:]]
    assert [(r[0], r[1]) for r in rows] == [("1", "final"), ("2", "solve-1"), ("2", "solve-2")]


def test_example_dot(example: Project) -> None:
    dot = example.run("report", "final.txt", "--dot", check=True).stdout
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    labels = dict(re.findall(r'^\s*"([^"]+)" \[.*label="([^"]*)"', dot, re.M))
    edges = set(re.findall(r'^\s*"([^"]+)" -> "([^"]+)";', dot, re.M))

    def node(prefix: str) -> str:
        found = [n for n, label in labels.items() if label.split("\\n")[0] == prefix]
        assert len(found) == 1, (prefix, labels)
        return found[0]

    final, s1, s2 = node("final"), node("solve-1"), node("solve-2")
    f_final, f1, f2 = node("final.txt"), node("test_1.txt"), node("test_2.txt")
    assert edges == {(final, f_final), (f1, final), (f2, final), (s1, f1), (s2, f2)}


def test_example_paths_relative_absolute_and_from_a_subfolder(example: Project, tmp_path) -> None:
    absolute = str(example.path / "final.txt")
    elsewhere = Project(tmp_path)
    by_abs = json.loads(elsewhere.run("report", absolute, "--json", "-C", str(example.path), check=True).stdout)
    assert by_abs["path"] == "final.txt"
    by_dir = json.loads(elsewhere.run("report", "final.txt", "--json", "-C", str(example.path), check=True).stdout)
    assert by_dir["path"] == "final.txt"
    sub = example.path / "sub"
    sub.mkdir(exist_ok=True)
    proc = Project(sub).run("report", "../final.txt", "--json", check=True)
    assert json.loads(proc.stdout)["file"]["producer"]["uid"] == "final"


def test_report_writes_nothing_and_never_imports_sflow(example: Project) -> None:
    ledger = example.path / ".scriptflow" / "ledger.db"
    before = example.query("SELECT count(*) FROM files")[0][0], ledger.read_bytes()
    flow = example.read("sflow.py")
    (example.path / "sflow.py").write_text("raise SystemExit('imported!')\n")
    try:
        example.run("report", "final.txt", check=True)
    finally:
        (example.path / "sflow.py").write_text(flow)
    assert (example.query("SELECT count(*) FROM files")[0][0], ledger.read_bytes()) == before


# -- small flows ---------------------------------------------------------------------------------


def test_modified_and_deleted_since(chain: Project) -> None:
    doc = report_json(chain, "out.txt")
    assert doc["file"]["state"] == "unchanged"
    chain.write("out.txt", "edited by hand\n")
    (chain.path / "mid.txt").unlink()
    chain.write("src.txt", "changed\n")

    doc = report_json(chain, "out.txt")
    root = doc["file"]
    assert root["state"] == "modified" and root["sha256"] == sha(b"HELLO\n")
    assert root["current_sha256"] == sha(b"edited by hand\n")
    tasks = tasks_by_uid(doc)
    mid = tasks["down"]["inputs"][0]
    assert (mid["path"], mid["state"], mid["current_sha256"], mid["producer"]["uid"]) == (
        "mid.txt", "deleted", None, "up")
    src = tasks["up"]["inputs"][0]
    assert (src["path"], src["origin"], src["state"], src["producer"]) == ("src.txt", "source", "modified", None)
    assert src["sha256"] == sha(b"hello\n") and src["current_sha256"] == sha(b"changed\n")

    tree = chain.run("report", "out.txt", check=True).stdout
    assert re.search(r"^out\.txt .*MODIFIED since", tree, re.M)
    assert re.search(r"mid\.txt .*DELETED since", tree)
    assert re.search(r"src\.txt .*MODIFIED since .*source", tree)

    dot = chain.run("report", "out.txt", "--dot", check=True).stdout
    assert re.search(r'"file:mid\.txt@[0-9a-f]+" \[shape=note, color=red', dot)


def test_source_input_and_unknown_path(chain: Project) -> None:
    proc = chain.run("report", "src.txt")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "src.txt was not produced by any task" in proc.stderr
    assert "source input of up" in proc.stderr and "unchanged since run 1" in proc.stderr

    proc = chain.run("report", "nothing/here.txt")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "nothing/here.txt is unknown to the ledger" in proc.stderr


def test_lineage_as_of_a_run_and_cached_runs(chain: Project) -> None:
    chain.run("run", "chain", check=True)  # all cached: the lineage still names run 1's attempts
    assert set(chain.statuses().values()) == {"cached"}
    doc = report_json(chain, "out.txt")
    assert doc["file"]["recorded_in_run"] == 2
    assert {t["run_id"] for t in doc["tasks"]} == {1}

    chain.write("src.txt", "second\n")
    chain.run("run", "chain", "--name", "nightly", check=True)  # run 3
    now = report_json(chain, "out.txt")
    assert now["file"]["sha256"] == sha(b"SECOND\n") and {t["run_id"] for t in now["tasks"]} == {3}

    old = report_json(chain, "out.txt", "--run", "2")
    assert old["as_of_run"] == 2 and old["file"]["sha256"] == sha(b"HELLO\n")
    assert old["file"]["state"] == "modified"
    assert {t["run_id"] for t in old["tasks"]} == {1}
    by_name = report_json(chain, "out.txt", "--run", "nightly")
    assert by_name["as_of_run"] == 3

    proc = chain.run("report", "out.txt", "--run", "nosuchrun")
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "nosuchrun" in proc.stderr


def test_input_edited_outside_scriptflow(chain: Project) -> None:
    chain.write("mid.txt", "by hand\n")
    chain.run("run", "down", check=True)
    doc = report_json(chain, "out.txt")
    assert doc["file"]["sha256"] == sha(b"BY HAND\n")
    (mid,) = doc["tasks"][0]["inputs"]
    assert mid["origin"] == "edited" and mid["producer"] is None
    assert [t["uid"] for t in doc["tasks"]] == ["down"]


def test_only_one_output_format(chain: Project) -> None:
    proc = chain.run("report", "out.txt", "--json", "--dot")
    assert proc.returncode == 2 and "one of" in proc.stderr


def test_report_queries_are_index_lookups(chain: Project) -> None:
    """No full scan of files, tasks or attempts: report stays fast on a ledger of millions of rows."""
    from scriptflow.readers import report

    conn = sqlite3.connect(chain.path / ".scriptflow" / "ledger.db")
    for sql in (report._LATEST_OUTPUT, report._PRODUCER_OF_INPUT, report._ATTEMPT):
        plan = " / ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?")))
        assert "SCAN" not in plan, plan
