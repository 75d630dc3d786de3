"""History commands on a real ledger: ``runs``, ``show``, ``logs``, ``--name``, and ``resume``."""
from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timezone

from conftest import PY, py_src

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")

# ok: succeeds and logs; bad: exits 2 while 'broken' exists; dep: needs bad.
OK = "import sys\nprint('out of ok')\nprint('err of ok', file=sys.stderr)\nopen('ok.txt', 'w').write('ok')\n"
BAD = ("import os, sys\nprint('bad says hi')\nif os.path.exists('broken'): sys.exit(2)\n"
       "open('bad.txt', 'w').write('bad')\n")
DEP = "open('dep.txt', 'w').write(open('bad.txt').read() + '+dep')\n"
COUNTED = (
    "import os, sys\n"
    "n = int(open('count').read()) + 1 if os.path.exists('count') else 1\n"
    "open('count', 'w').write(str(n))\n"
    "print(f'stdout of attempt {n}')\n"
    "print(f'stderr of attempt {n}', file=sys.stderr)\n"
    "if n <= 2: sys.exit(1)\n"
    "open('flaky.txt', 'w').write(str(n))\n"
)


def _three_task_flow(project) -> None:
    project.flow(f"""
        def flow_main():
            ok = sf.Task({py_src(OK)}, outputs="ok.txt", name="ok").start()
            bad = sf.Task({py_src(BAD)}, outputs="bad.txt", name="bad").start()
            dep = sf.Task({py_src(DEP)}, inputs=[bad], outputs="dep.txt", name="dep").start()
            sf.bag(ok, bad, dep)

        def flow_other():
            sf.Task({py_src("open('other.txt', 'w').write('other')")}, outputs="other.txt", name="other").result()
    """)


def _failed_then_fixed(project) -> None:
    """Run 1 fails (bad exits 2, dep upstream-failed); run 2 succeeds with ok cached."""
    _three_task_flow(project)
    project.write("broken", "")
    assert project.run("run", "main", "-k", "--classic").returncode == 1
    (project.path / "broken").unlink()
    project.run("run", "main", "--classic", check=True)


def _json(project, *args) -> object:
    return json.loads(project.run(*args, check=True).stdout)


def _one_line_error(proc, *words: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """A tabulate 'simple' table: header words and rows split on runs of 2+ spaces."""
    lines = [line for line in text.splitlines() if line.strip()]
    rule = next(i for i, line in enumerate(lines) if set(line.replace(" ", "")) == {"-"})
    header = re.split(r"\s{2,}", lines[rule - 1].strip())
    # columns from the rule's dashes, so empty cells stay in place
    spans = [m.span() for m in re.finditer(r"-+", lines[rule])]
    rows = []
    for line in lines[rule + 1:]:
        padded = line.ljust(spans[-1][1])
        cells, start = [], 0
        for i, _span in enumerate(spans):
            stop = spans[i + 1][0] if i + 1 < len(spans) else len(padded)
            cells.append(padded[start:stop].strip())
            start = stop
        rows.append(cells)
    return header, rows


# -- names -------------------------------------------------------------------------------


def test_names_are_reusable_and_mean_the_latest_run(project):
    project.flow(f"""
        def flow_main(msg):
            sf.Task([{PY!r}, "-c", f"print({{msg!r}}); open('say.txt', 'w').write({{msg!r}})"], outputs="say.txt",
                    name="say").result()
    """)
    project.run("run", "main", "v1", "--name", "nightly", "--classic", check=True)
    project.run("run", "main", "v2", "--name", "other", "--classic", check=True)
    project.run("run", "main", "v3", "--name", "nightly", "--classic", check=True)

    runs = _json(project, "runs", "--json")
    assert [(r["id"], r["name"]) for r in runs] == [(3, "nightly"), (2, "other"), (1, "nightly")]
    latest = _json(project, "show", "nightly", "--json")
    assert (latest["id"], latest["name"]) == (3, "nightly")
    older = _json(project, "show", "1", "--json")
    assert (older["id"], older["name"]) == (1, "nightly")
    assert project.run("show", "nightly", check=True).stdout.splitlines()[0].startswith("run 3 'nightly'")

    assert project.run("logs", "nightly", "say", check=True).stdout == "v3\n"
    assert project.run("logs", "other", "say", check=True).stdout == "v2\n"
    assert project.run("logs", "1", "say", check=True).stdout == "v1\n"


# -- runs ----------------------------------------------------------------------------------


def test_runs_json_shape_and_counts(project):
    _failed_then_fixed(project)
    project.run("run", "other", "--name", "side", "--classic", check=True)
    runs = _json(project, "runs", "--json")
    assert isinstance(runs, list) and [r["id"] for r in runs] == [3, 2, 1]
    keys = {"id", "name", "flow", "status", "started_at", "ended_at", "duration_seconds", "tasks", "ran",
            "cached", "failed"}
    for r in runs:
        assert keys <= set(r), sorted(r)
        assert ISO_UTC.match(r["started_at"]) and ISO_UTC.match(r["ended_at"]), r
        assert isinstance(r["duration_seconds"], (int, float)) and r["duration_seconds"] >= 0
        start = datetime.strptime(r["started_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        end = datetime.strptime(r["ended_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        assert abs((end - start).total_seconds() - r["duration_seconds"]) < 0.01
    third, second, first = runs
    assert (third["name"], third["flow"], third["status"]) == ("side", "other", "succeeded")
    assert (third["tasks"], third["ran"], third["cached"], third["failed"]) == (1, 1, 0, 0)
    assert (second["name"], second["flow"], second["status"]) == (None, "main", "succeeded")
    assert (second["tasks"], second["ran"], second["cached"], second["failed"]) == (3, 2, 1, 0)
    assert (first["flow"], first["status"]) == ("main", "failed")
    assert (first["tasks"], first["ran"], first["cached"], first["failed"]) == (3, 1, 0, 1)

    assert [r["id"] for r in _json(project, "runs", "--json", "--limit", "2")] == [3, 2]
    assert [r["id"] for r in _json(project, "runs", "--json", "--limit", "1")] == [3]


def test_runs_table(project):
    _failed_then_fixed(project)
    project.run("run", "other", "--name", "side", "--classic", check=True)
    header, rows = _table(project.run("runs", check=True).stdout)
    assert header[:4] == ["id", "name", "flow", "status"]
    assert any(h.startswith("started") for h in header)
    assert "duration" in header
    assert header[-3:] == ["ran", "cached", "failed"]
    col = {h: i for i, h in enumerate(header)}
    by_id = {row[0]: row for row in rows}
    assert set(by_id) == {"1", "2", "3"}
    assert [row[0] for row in rows] == ["3", "2", "1"]  # latest first
    assert (by_id["3"][col["name"]], by_id["3"][col["flow"]], by_id["3"][col["status"]]) == ("side", "other",
                                                                                              "succeeded")
    assert (by_id["2"][col["ran"]], by_id["2"][col["cached"]], by_id["2"][col["failed"]]) == ("2", "1", "0")
    assert by_id["1"][col["status"]] == "failed"
    assert (by_id["1"][col["ran"]], by_id["1"][col["cached"]]) == ("1", "0")
    assert int(by_id["1"][col["failed"]]) >= 1
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", by_id["1"][[i for h, i in col.items()
                                                                      if h.startswith("started")][0]])
    assert by_id["1"][col["duration"]]
    _, limited = _table(project.run("runs", "--limit", "2", check=True).stdout)
    assert [row[0] for row in limited] == ["3", "2"]


# -- show ---------------------------------------------------------------------------------------


def test_show_lists_failures_first_with_details(project):
    _failed_then_fixed(project)
    header, rows = _table(project.run("show", "1", check=True).stdout.split("\n", 1)[1])
    for word in ("task", "status", "attempts", "exit", "duration", "executor", "reason"):
        assert word in header, header
    col = {h: i for i, h in enumerate(header)}
    assert [r[col["task"]] for r in rows] == ["bad", "dep", "ok"]
    bad, dep, ok = rows
    assert (bad[col["status"]], bad[col["attempts"]], bad[col["exit"]], bad[col["executor"]],
            bad[col["reason"]]) == ("failed", "1", "2", "local", "never-run")
    assert bad[col["duration"]].endswith("s")
    assert (dep[col["status"]], dep[col["attempts"]], dep[col["reason"]]) == ("upstream-failed", "0",
                                                                             "upstream-failed:bad")
    assert (ok[col["status"]], ok[col["exit"]], ok[col["reason"]]) == ("succeeded", "0", "never-run")
    first_line = project.run("show", "1", check=True).stdout.splitlines()[0]
    assert "run 1" in first_line and "main" in first_line and "failed" in first_line

    shown = project.run("show", "2", check=True).stdout
    assert "resumes" not in shown
    _, rows = _table(shown.split("\n", 1)[1])
    assert {r[0]: r[1] for r in rows} == {"ok": "cached", "bad": "succeeded", "dep": "succeeded"}


def test_show_json_shape(project):
    _failed_then_fixed(project)
    shown = _json(project, "show", "1", "--json")
    assert {"id", "name", "flow", "status", "started_at", "ended_at", "parent_run_id", "tasks"} <= set(shown)
    assert (shown["id"], shown["flow"], shown["status"], shown["parent_run_id"]) == (1, "main", "failed", None)
    tasks = shown["tasks"]
    assert [t["uid"] for t in tasks] == ["bad", "dep", "ok"]
    for t in tasks:
        assert {"uid", "status", "attempts", "exit_code", "duration_seconds", "executor", "reason"} <= set(t), t
    bad, dep, ok = tasks
    assert (bad["status"], bad["attempts"], bad["exit_code"], bad["executor"], bad["reason"]) == (
        "failed", 1, 2, "local", "never-run")
    assert isinstance(bad["duration_seconds"], (int, float)) and bad["duration_seconds"] > 0
    assert (dep["status"], dep["attempts"], dep["exit_code"], dep["reason"]) == (
        "upstream-failed", 0, None, "upstream-failed:bad")
    assert (ok["status"], ok["attempts"], ok["exit_code"]) == ("succeeded", 1, 0)
    cached = {t["uid"]: t for t in _json(project, "show", "2", "--json")["tasks"]}
    assert (cached["ok"]["status"], cached["ok"]["reason"], cached["ok"]["attempts"]) == ("cached", "cached", 0)


# -- logs ------------------------------------------------------------------------------------------


def test_logs_stdout_stderr_and_attempts(project):
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(OK)}, outputs="ok.txt", name="ok").start()
            sf.Task({py_src(COUNTED)}, outputs="flaky.txt", name="flaky", retry=2).result()
    """)
    project.run("run", "main", "--classic", check=True)
    assert project.run("logs", "1", "ok", check=True).stdout == "out of ok\n"
    assert project.run("logs", "1", "ok", "--stderr", check=True).stdout == "err of ok\n"
    # the last attempt by default; any attempt with --attempt
    assert project.run("logs", "1", "flaky", check=True).stdout == "stdout of attempt 3\n"
    for n in (1, 2, 3):
        assert project.run("logs", "1", "flaky", "--attempt", str(n), check=True).stdout == f"stdout of attempt {n}\n"
        assert project.run("logs", "1", "flaky", "--attempt", str(n), "--stderr",
                           check=True).stdout == f"stderr of attempt {n}\n"
    _one_line_error(project.run("logs", "1", "flaky", "--attempt", "4"), "flaky")


def test_unknown_run_or_task_is_a_one_line_error(project):
    _three_task_flow(project)
    project.run("run", "main", "--name", "first", "--classic", check=True)
    _one_line_error(project.run("show", "99"), "99")
    _one_line_error(project.run("show", "no-such-name"), "no-such-name")
    _one_line_error(project.run("show", "99", "--json"), "99")
    _one_line_error(project.run("logs", "99", "ok"), "99")
    _one_line_error(project.run("logs", "first", "no-such-task"), "no-such-task")
    _one_line_error(project.run("logs", "1", "no-such-task", "--stderr"), "no-such-task")
    _one_line_error(project.run("resume", "99"), "99")
    assert project.query("SELECT count(*) FROM runs")[0][0] == 1
    # a cached task has no attempt and so no log
    project.run("run", "main", "--classic", check=True)
    _one_line_error(project.run("logs", "2", "ok"), "ok")


def test_history_commands_before_any_run(project):
    _three_task_flow(project)
    for args in (("show", "1"), ("logs", "1", "ok"), ("resume",), ("resume", "1")):
        _one_line_error(project.run(*args))
    runs = project.run("runs")  # "no runs yet" or a one-line error: never a traceback
    assert "Traceback" not in runs.stdout + runs.stderr
    assert len((runs.stdout + runs.stderr).strip().splitlines()) == 1
    assert not project.exists(".scriptflow/ledger.db") or not project.query("SELECT * FROM runs")


# -- resume ---------------------------------------------------------------------------------------


def test_resume_without_argument_takes_the_latest_run_that_did_not_succeed(project):
    _three_task_flow(project)
    project.write("broken", "")
    assert project.run("run", "main", "--classic").returncode == 1          # run 1: failed
    project.run("run", "other", "--classic", check=True)                    # run 2: succeeded
    (project.path / "broken").unlink()
    proc = project.run("resume", "--classic")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = project.last_run()
    assert (run["id"], run["flow"], run["parent_run_id"], run["status"]) == (3, "main", 1, "succeeded")
    assert project.statuses(3) == {"ok": "cached", "bad": "succeeded", "dep": "succeeded"}
    assert project.reasons(3)["bad"] == "previous-failed"
    assert project.read("dep.txt") == "bad+dep"
    assert _json(project, "show", "3", "--json")["parent_run_id"] == 1
    assert "resumes run 1" in project.run("show", "3", check=True).stdout


def test_resume_from_another_folder_uses_the_recorded_project(project, tmp_path_factory):
    _three_task_flow(project)
    project.write("broken", "")
    assert project.run("run", "main", "--classic").returncode == 1
    (project.path / "broken").unlink()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    proc = subprocess.run(["scriptflow", "resume", "1", "-C", str(project.path), "--classic"], cwd=elsewhere,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project.last_run()["id"], project.last_run()["parent_run_id"]) == (2, 1)
    assert project.read("dep.txt") == "bad+dep"
    assert not list(elsewhere.iterdir())  # nothing written where it was started


def test_resuming_a_succeeded_run_does_nothing_unless_forced(project):
    _three_task_flow(project)
    project.run("run", "main", "--name", "good", "--classic", check=True)
    proc = project.run("resume", "good")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "succeeded" in proc.stdout + proc.stderr
    assert project.query("SELECT count(*) FROM runs")[0][0] == 1
    assert project.query("SELECT count(*) FROM tasks")[0][0] == 3

    proc = project.run("resume", "1", "--force", "--classic")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = project.last_run()
    assert (run["id"], run["flow"], run["parent_run_id"], run["status"]) == (2, "main", 1, "succeeded")
    assert project.statuses(2) == {"ok": "cached", "bad": "cached", "dep": "cached"}


def test_resume_replays_flow_arguments_and_recorded_config(project):
    # four independent workers that fail while 'broken' exists; the flow records its arguments
    worker = ("import os, sys, time\n"
              "time.sleep(0.3)\n"
              "if os.path.exists('broken'): sys.exit(1)\n"
              "open('w' + sys.argv[1] + '.txt', 'w').write(sys.argv[2])\n")
    project.flow(f"""
        import json
        def flow_main(*args, **kwargs):
            words = json.dumps([list(args), kwargs])
            tasks = [sf.Task([{PY!r}, "-c", {worker!r}, str(i), words], outputs=f"w{{i}}.txt", name=f"w{{i}}").start()
                     for i in range(4)]
            sf.bag(*tasks)
    """)
    project.write("broken", "")
    assert project.run("run", "main", "a", "b", "key=value", "-j", "1", "--classic").returncode == 1
    assert project.last_run()["status"] == "failed"
    (project.path / "broken").unlink()
    proc = project.run("resume", "--classic")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = project.last_run()
    assert (run["id"], run["parent_run_id"], run["status"]) == (2, 1, "succeeded")
    assert json.loads(run["flow_args"]) == ["a", "b", "key=value"]
    for i in range(4):
        assert json.loads(project.read(f"w{i}.txt")) == [["a", "b"], {"key": "value"}]
    # -j 1 was replayed: the resumed run's attempts never overlap
    rows = project.query("SELECT started_at, ended_at FROM attempts WHERE run_id = 2 ORDER BY started_at")
    assert len(rows) == 4
    for before, after in zip(rows, rows[1:]):
        assert before["ended_at"] <= after["started_at"], [dict(r) for r in rows]


def test_uids_that_read_alike_keep_their_own_logs(project):
    """`a/b` and `a_b` (and `a b`) sanitise to the same text: each still gets its own log files,
    and an ordinary uid keeps the plain documented name (`solve-1.1.out`)."""
    uids = ["a/b", "a_b", "a b", "solve-1"]
    tasks = "\n".join(
        f"            sf.Task([PY, '-c', {f'print({uid!r})'!r}], name={uid!r}).start()" for uid in uids)
    project.flow(f"""
        import sys
        PY = sys.executable

        def flow_main():
{tasks}
    """)
    project.run("run", "main", "--classic", check=True)
    for uid in uids:
        assert project.run("logs", "1", uid, check=True).stdout == f"{uid}\n", uid
    paths = {r["uid"]: r["stdout_path"] for r in project.query(
        "SELECT t.uid, a.stdout_path FROM attempts a JOIN tasks t ON t.id = a.task_id")}
    assert len(set(paths.values())) == len(uids), paths
    assert paths["solve-1"] == ".scriptflow/logs/1/solve-1.1.out"
    assert paths["a_b"] == ".scriptflow/logs/1/a_b.1.out"
