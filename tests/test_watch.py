"""``t.watch``: patterns matched in a task's stdout while it runs, in real runs of the real CLI.

The tasks are real subprocesses; "while it runs" is proven by handshakes, not timings: a task
waits for a file that only its watch callback creates.
"""
from __future__ import annotations

import json

import pytest
from conftest import py_src, wait_for_file

#: Prints two losses (the second after a pause), then waits for "go" (made by the callback), then
#: prints a last match with no line end before exiting.
TRAIN = (
    "import time\n"
    "print('epoch 1 loss=0.9', flush=True)\n"
    "time.sleep(0.3)\n"
    "print('epoch 2 loss=0.5', flush=True)\n"
    + wait_for_file("go") +
    "open('model.txt', 'w').write('m')\n"
    "print('noise')\n"
    "print('final loss=0.1', end='', flush=True)\n"
)

WATCHED = f'''
import json
seen = []

def on_loss(event):
    seen.append([event.uid, event.attempt, event.groups[0], event.named, event.line, event.pattern,
                 bool(event.at), event.task.name, event.match.group(0)])
    if event.groups[0] == "0.5":
        open("go", "w").close()  # the task waits for this file: the callback ran while it ran

def flow_train():
    t = sf.Task({py_src(TRAIN)}, outputs="model.txt", name="train").watch(r"loss=(?P<loss>\\S+)", on_loss)
    assert t.watch(r"epoch (\\d+)") is t  # a second pattern, recorded only
    t.result()
    open("seen.json", "w").write(json.dumps(seen))  # complete: delivered before the future resolved
'''


def _watch_events(project, run_id=None):
    run_id = run_id if run_id is not None else project.last_run()["id"]
    return [(r["task_uid"], json.loads(r["detail"]))
            for r in project.query("SELECT task_uid, detail FROM events WHERE kind = 'watch' AND run_id = ? "
                                   "ORDER BY id", (run_id,))]


def test_a_watch_callback_fires_while_the_task_runs_and_every_match_is_delivered_before_result(project):
    project.flow(WATCHED)
    project.run("run", "train", check=True)
    seen = json.loads(project.read("seen.json"))
    assert [s[2] for s in seen] == ["0.9", "0.5", "0.1"]  # the last one had no line end
    assert seen[0] == ["train", 1, "0.9", {"loss": "0.9"}, "epoch 1 loss=0.9", r"loss=(?P<loss>\S+)",
                       True, "train", "loss=0.9"]
    events = _watch_events(project)
    assert [uid for uid, _ in events] == ["train"] * 5
    assert [(d["pattern"], d["line"], d["groups"]) for _, d in events] == [
        (r"loss=(?P<loss>\S+)", "epoch 1 loss=0.9", ["0.9"]),
        (r"epoch (\d+)", "epoch 1 loss=0.9", ["1"]),
        (r"loss=(?P<loss>\S+)", "epoch 2 loss=0.5", ["0.5"]),
        (r"epoch (\d+)", "epoch 2 loss=0.5", ["2"]),
        (r"loss=(?P<loss>\S+)", "final loss=0.1", ["0.1"]),
    ]
    assert events[0][1]["attempt"] == 1 and events[0][1]["named"] == {"loss": "0.9"}
    assert "named" not in events[1][1]
    shown = project.run("show", "1", check=True).stdout
    assert "watch train: 5 matches, last (attempt 1): final loss=0.1" in shown.splitlines()
    (task,) = json.loads(project.run("show", "1", "--json", check=True).stdout)["tasks"]
    assert task["watch"] == {"matches": 5, "last_line": "final loss=0.1", "last_attempt": 1}


def test_a_cached_task_calls_no_watch_callback(project):
    project.flow(WATCHED)
    project.run("run", "train", check=True)
    project.path.joinpath("go").unlink()
    project.run("run", "train", check=True)
    assert project.statuses() == {"train": "cached"}
    assert json.loads(project.read("seen.json")) == []
    assert _watch_events(project) == []


FLAKY = (
    "import os, sys\n"
    "print('step=1', flush=True)\n"
    "if not os.path.exists('tried'):\n"
    "    open('tried', 'w').close()\n"
    "    sys.exit(3)\n"
    "print('step=2', flush=True)\n"
)


def test_a_raising_callback_is_reported_once_and_changes_nothing_and_retries_keep_their_attempt(project):
    project.flow(f'''
calls = []

def broken(event):
    calls.append(event.attempt)
    raise ValueError("callback bug " + event.groups[0])

def quits(event):
    raise SystemExit(5)

def flow_main():
    sf.task({py_src(FLAKY)}, name="flaky", retry=1, watch={{r"step=(\\d)": broken, "step=2": quits}}).result()
    open("calls.txt", "w").write(repr(calls))
''')
    proc = project.run("run", "main", "--classic")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert project.statuses() == {"flaky": "succeeded"}
    assert project.read("calls.txt") == "[1, 2, 2]"
    assert proc.stdout.count("warning: watch callback broken of flaky raised ValueError: callback bug") == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "ValueError: callback bug 2" in project.read(".scriptflow/scriptflow.log")
    details = [d for _, d in _watch_events(project)]
    assert [(d["attempt"], d["groups"], d["callback_error"]) for d in details] == [
        (1, ["1"], "ValueError: callback bug 1"), (2, ["1"], "ValueError: callback bug 1"),
        (2, ["2"], "ValueError: callback bug 2"), (2, [], "SystemExit: 5")]
    assert proc.stdout.count("warning: watch callback quits of flaky raised SystemExit: 5") == 1


def test_many_matches_reach_the_callback_but_the_ledger_keeps_the_first_thousand(project):
    chatty = "print('n=' + 'x' * 5000, flush=True)\nfor i in range(1, 1500): print(f'n={i}')\n"
    project.flow(f'''
count = [0]

def counting(event):
    count[0] += 1

def flow_main():
    sf.Task({py_src(chatty)}, name="chatty").watch(r"n=(\\w+)", counting).result()
    open("count.txt", "w").write(str(count[0]))
''')
    project.run("run", "main", check=True)
    assert project.read("count.txt") == "1500"
    details = [d for _, d in _watch_events(project)]
    assert len(details) == 1001
    assert len(details[0]["line"]) == 1000 and len(details[0]["groups"][0]) == 1000  # bounded text
    assert details[999]["groups"] == ["999"]
    assert details[-1] == {"attempt": 1, "truncated": True, "matches": 1500, "recorded": 1000}
    assert "watch chatty: 1500 matches, last (attempt 1): n=999" in project.run("show", "1", check=True).stdout


def test_watch_without_callback_records_only_and_stderr_is_watched_when_asked(project):
    code = "import sys; print('result: 42'); sys.stderr.write('WARNING: result: 7\\n')"
    project.flow(f'''
seen = []
def flow_main():
    t = sf.Task({py_src(code)}, name="r", watch=[r"result: (\\d+)"])
    t.watch(r"WARNING: (.*)", lambda e: seen.append((e.stream, e.groups[0])), stream="stderr").result()
    open("seen.txt", "w").write(repr(seen))
''')
    project.run("run", "main", check=True)
    assert project.read("seen.txt") == "[('stderr', 'result: 7')]"
    assert [d for _, d in _watch_events(project)] == [
        {"attempt": 1, "pattern": r"result: (\d+)", "line": "result: 42", "groups": ["42"]},
        {"attempt": 1, "pattern": "WARNING: (.*)", "line": "WARNING: result: 7", "groups": ["result: 7"],
         "stream": "stderr"}]


@pytest.mark.parametrize("body, expected", [
    ("    sf.Task(['true'], name='t').watch('(')",
     "task t: watch pattern '(' does not compile: missing ), unterminated subpattern at position 0"),
    ("    sf.Task(['true'], name='t', watch={'x': 3})", "task t: watch callback for 'x' is not callable: 3"),
    ("    sf.Task(['true'], name='t').watch(b'x')", "task t: watch pattern must be a string"),
    ("    sf.task(['true'], name='t').watch('x')",
     "task t has started: watch its output before it starts (or with watch= of sf.task)"),
    ("    sf.Task(['true'], name='t', watch=3)", "task t: watch= takes a pattern"),
    ("    sf.Task(['true'], name='t').watch('x', stream='out')",
     "task t: watch stream must be 'stdout' or 'stderr', got 'out'"),
])
def test_bad_watches_are_one_line_errors_naming_the_task(project, body, expected):
    project.write("sflow.py", "import scriptflow as sf\ndef flow_main():\n" + body + "\n")
    proc = project.run("run", "main")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scriptflow: error: sflow.py:3: "), proc.stderr
    assert expected in lines[0], lines[0]


def test_a_callback_may_start_a_task_and_the_run_waits_for_it(project):
    project.flow(f'''
def start_one(event):
    sf.task({py_src("import sys; open(sys.argv[1] + '.txt', 'w').write('x')")} + [event.groups[0]],
            outputs=event.groups[0] + ".txt", name="made-" + event.groups[0])

def flow_main():
    sf.task({py_src("print('make=a'); print('make=b')")}, name="lister", watch={{r"make=(\\w)": start_one}})
''')
    project.run("run", "main", check=True)
    assert project.statuses() == {"lister": "succeeded", "made-a": "succeeded", "made-b": "succeeded"}
    assert project.read("a.txt") == project.read("b.txt") == "x"


def test_the_line_reader_keeps_a_partial_line_until_it_is_complete(tmp_path):
    """core/lines.py on a real growing file: pieces of a line are one line, CRLF ends are dropped,
    a missing file has no lines, the last unterminated line counts only when final."""
    from scriptflow.core import lines

    path = tmp_path / "out.log"
    tail = lines.LineTail(path)
    assert tail.read() == []
    with open(path, "wb") as f:
        f.write(b"loss=0.")
        f.flush()
        assert tail.read() == []
        f.write(b"5\r\nnext\nbad \xff byte\nlast")
        f.flush()
        assert tail.read() == ["loss=0.5", "next", "bad \ufffd byte"]
        assert tail.read() == []
        f.write(b"x" * (lines.MAX_PARTIAL + 1))
        f.flush()
        assert tail.read() == ["last" + "x" * (lines.MAX_PARTIAL + 1)]  # a runaway line is cut, not kept
        f.write(b"end")
    assert tail.read(final=True) == ["end"]
