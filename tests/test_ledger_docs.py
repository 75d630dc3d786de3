"""Every query of docs/ledger.md, pasted into bash in a real project (three real runs) and
run in each documented form (the real sqlite3 tool, `scriptflow sql`, the `sqlite-utils`
command), with its answer checked. Adding a query to the docs without a check here fails."""
from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import subprocess

import pytest

from conftest import REPO, Project

DOC = REPO / "docs" / "ledger.md"

# The README example's names, fast: solve-1 reads a source (seed.txt), final sums.
FLOWS = '''
import sys
PY = sys.executable


def flow_sleepit(value="4"):
    t1 = sf.Task([PY, "-c", "open('test_1.txt','w').write(open('seed.txt').read())"],
                 inputs=["seed.txt"], outputs="test_1.txt", name="solve-1").start()
    t2 = sf.Task([PY, "-c", f"open('test_2.txt','w').write('{value}')"], outputs="test_2.txt", name="solve-2").start()
    final = sf.Task([PY, "-c", "import time; time.sleep(0.3); "
                     "s = int(open('test_1.txt').read()) + int(open('test_2.txt').read()); "
                     "open('final.txt','w').write(str(s)); print('sum=' + str(s))"],
                    inputs=[t1, t2], outputs="final.txt", name="final", watch=r"sum=(\\d+)")
    final.result()


def flow_broken():
    sf.Task([PY, "-c", "import sys; sys.stderr.write('boom\\\\n'); sys.exit(3)"], outputs="never.txt",
            name="boom").result()
'''

pytestmark = pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum")

SQLITE3_LINE = 'sqlite3 .scriptflow/ledger.db "$Q"'
#: The documented forms of each query: the line to run, and the flags that make its output parseable.
FORMS = {
    "sqlite3": (SQLITE3_LINE, ""),
    "scriptflow-sql": ('# or: scriptflow sql "$Q"', " --csv"),
    "sqlite-utils": ('# or: sqlite-utils .scriptflow/ledger.db "$Q" --table', ""),
}
TOOL = {"sqlite3": "sqlite3", "scriptflow-sql": "scriptflow", "sqlite-utils": "sqlite-utils"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def documented_queries() -> dict[int, str]:
    """{N: shell text} of each ```shell block in docs/ledger.md that queries the ledger."""
    found: dict[int, str] = {}
    for block in re.findall(r"```shell\n(.*?)```", DOC.read_text(), re.S):
        if "ledger.db" not in block:
            continue
        m = re.match(r"# (\d+)\. ", block)
        assert m, f"a documented query needs a '# N. title' first line:\n{block}"
        for line, _ in FORMS.values():
            assert line in block.splitlines(), f"query {m.group(1)} lacks the line {line!r}:\n{block}"
        assert int(m.group(1)) not in found, f"query number {m.group(1)} used twice"
        found[int(m.group(1))] = block
    return found


@pytest.fixture(scope="module")
def ledger_project(tmp_path_factory) -> Project:
    """Run 1: sleepit (all ran); run 2: broken (failed); run 3: sleepit value=6 (solve-1 cached)."""
    project = Project(tmp_path_factory.mktemp("docs"))
    project.flow(FLOWS)
    project.write("seed.txt", "5")
    project.run("run", "sleepit", check=True)
    project.run("run", "broken", check=False)
    project.run("run", "sleepit", "value=6", check=True)
    assert project.read("final.txt") == "11"
    return project


def paste(project: Project, shell_text: str, form: str = "sqlite3") -> list[list[str]]:
    """Run a documented block as pasted (sqlite3), or with its `# or:` line in place of the sqlite3 one;
    the rows of the answer as text, parsed from sqlite3's `|` lines or from CSV."""
    if shutil.which(TOOL[form]) is None:
        pytest.skip(f"needs the {TOOL[form]} command")
    line, flags = FORMS[form]
    if form != "sqlite3":
        command = line.removeprefix("# or: ").replace(" --table", " --csv") + flags
        shell_text = shell_text.replace(SQLITE3_LINE, command)
    proc = subprocess.run(["bash", "-c", shell_text], cwd=project.path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr, f"{shell_text}\nexit {proc.returncode}: {proc.stderr}"
    if form == "sqlite3":
        return [line.split("|") for line in proc.stdout.splitlines()]
    return list(csv.reader(io.StringIO(proc.stdout)))[1:]  # without the header line


def check_1(rows, p):  # the ten slowest tasks of the last run
    assert [r[0] for r in rows] == ["final", "solve-2"]  # solve-1 was cached: no attempt
    durations = [float(r[2]) for r in rows]
    assert durations == sorted(durations, reverse=True) and durations[0] >= 0.3


def check_2(rows, p):  # runs that read this content of test_1.txt
    assert [(r[0], r[1]) for r in rows] == [("1", "sleepit"), ("3", "sleepit")]


def check_3(rows, p):  # outputs changed between run 1 and run 3
    assert [(r[0], r[1], r[2]) for r in rows] == [("final.txt", sha("9"), sha("11")),
                                                  ("test_2.txt", sha("4"), sha("6"))]


def check_4(rows, p):  # latest producer of final.txt
    (row,) = rows
    assert row[:3] == ["final", "3", "1"] and "time.sleep(0.3)" in row[3] and row[4] == "0"


def check_5(rows, p):  # failures with stderr
    (row,) = rows
    assert row[:4] == ["2", "boom", "1", "3"]
    assert (p.path / row[4]).read_text() == "boom\n"


def check_6(rows, p):  # run summary
    assert [r[:3] for r in rows] == [["3", "sleepit", "succeeded"], ["2", "broken", "failed"],
                                     ["1", "sleepit", "succeeded"]]
    assert [r[4:] for r in rows] == [["3", "2", "1", "0"], ["1", "0", "0", "1"], ["3", "3", "0", "0"]]
    assert all(float(r[3]) > 0 for r in rows)


def check_7(rows, p):  # every content of test_2.txt
    assert rows == [[sha("4"), "1", "1", "1"], [sha("6"), "3", "3", "1"]]


def check_8(rows, p):  # why each task of the last run ran
    assert rows == [["solve-1", "cached", "cached"], ["solve-2", "succeeded", "command-changed"],
                    ["final", "succeeded", "input-changed:test_2.txt"]]


def check_9(rows, p):  # source files of the last run
    assert rows == [["seed.txt", sha("5")]]


def check_10(rows, p):  # final.txt still as recorded?
    assert rows == [["unchanged"]]


def check_11(rows, p):  # what the watched task of the last run printed
    assert rows == [["final", "1", "sum=11", "11"]]


CHECKS = {int(name.split("_")[1]): fn for name, fn in globals().items() if name.startswith("check_")}


def test_docs_have_at_least_five_queries_and_each_is_checked() -> None:
    queries = documented_queries()
    assert len(queries) >= 5
    assert set(queries) == set(CHECKS), "docs/ledger.md queries and the checks here must match one to one"


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("number", sorted(CHECKS))
def test_documented_query(ledger_project: Project, number: int, form: str) -> None:
    rows = paste(ledger_project, documented_queries()[number], form)
    CHECKS[number](rows, ledger_project)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_query_10_notices_a_hand_edit(ledger_project: Project, form: str) -> None:
    original = ledger_project.read("final.txt")
    ledger_project.write("final.txt", "12")
    try:
        assert paste(ledger_project, documented_queries()[10], form) == [["changed since run 3"]]
    finally:
        ledger_project.write("final.txt", original)
