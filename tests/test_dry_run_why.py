"""``run --dry-run`` and ``why``: every decision reason, with its evidence, from real runs.

The flow: ``upper`` reads the source ``src.txt`` and writes ``upper.txt``;
``shout`` reads ``upper.txt`` and writes ``shout.txt``; ``flaky`` writes
``flaky.txt`` but fails while the file ``broken`` exists; ``echo`` writes its
flow argument to ``echo.txt`` (so the argument is part of its command).
"""
from __future__ import annotations

import hashlib
import re
import subprocess

from conftest import PY, py_src, sha256_file

UPPER = "open('upper.txt', 'w').write(open('src.txt').read().upper())"
SHOUT = "open('shout.txt', 'w').write(open('upper.txt').read().strip() + '!')"
FLAKY = "import os, sys\nif os.path.exists('broken'): sys.exit(1)\nopen('flaky.txt', 'w').write('flaky')\n"
OUTPUTS = {"upper": "upper.txt", "shout": "shout.txt", "flaky": "flaky.txt", "echo": "echo.txt"}
DECISION = re.compile(r"^(\S+)\s+(would run|up to date|would fail|would not run|would not start)\s*(\S*)\s*$")


def _flow(project) -> None:
    project.flow(f"""
        def flow_main(msg="alpha-111"):
            upper = sf.Task({py_src(UPPER)}, inputs=["src.txt"], outputs="upper.txt", name="upper")
            shout = sf.Task({py_src(SHOUT)}, inputs=[upper], outputs="shout.txt", name="shout")
            flaky = sf.Task({py_src(FLAKY)}, outputs="flaky.txt", name="flaky")
            echo = sf.Task([{PY!r}, "-c", f"open('echo.txt', 'w').write({{msg!r}})"], outputs="echo.txt", name="echo")
            sf.bag(upper, shout, flaky, echo)
    """)


def _baseline(project) -> None:
    _flow(project)
    project.write("src.txt", "hello\n")
    project.run("run", "main", "--classic", check=True)
    assert project.read("shout.txt") == "HELLO!"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _snapshot(project) -> tuple[dict, dict]:
    """Every project file (outside .scriptflow) with its hash and mtime, and the ledger's row counts."""
    files = {}
    for p in project.path.rglob("*"):
        rel = p.relative_to(project.path)
        if p.is_file() and rel.parts[0] != ".scriptflow":
            files[str(rel)] = (sha256_file(p), p.stat().st_mtime_ns)
    counts = {}
    if (project.path / ".scriptflow" / "ledger.db").exists():
        for table in ("runs", "tasks", "attempts", "files", "events"):
            counts[table] = project.query(f"SELECT count(*) FROM {table}")[0][0]
    return files, counts


def _dry(project, *args: str) -> dict[str, tuple[str, str]]:
    """Run ``run main -n ARGS``; check nothing was executed or recorded; uid -> (decision, reason)."""
    before = _snapshot(project)
    logs = sorted((project.path / ".scriptflow" / "logs").glob("*")) if project.exists(".scriptflow/logs") else []
    proc = project.run("run", "main", "-n", *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files, counts = _snapshot(project)
    assert files == before[0], "a dry run changed files"
    if before[1]:
        assert counts == before[1], "a dry run wrote to the ledger"
    else:
        assert not counts or counts == {t: 0 for t in counts}, counts
    if project.exists(".scriptflow/logs"):
        assert sorted((project.path / ".scriptflow" / "logs").glob("*")) == logs
    decisions = {}
    for line in proc.stdout.splitlines():
        m = DECISION.match(line)
        if m:
            decisions[m.group(1)] = (m.group(2), m.group(3))
    assert set(decisions) == set(OUTPUTS), proc.stdout
    return decisions


def _why(project, target: str) -> str:
    proc = project.run("why", target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc.stdout


def _why_both(project, uid: str) -> list[str]:
    """``why UID`` and ``why OUTPUT``: both name the task and tell the same decision."""
    by_uid, by_file = _why(project, uid), _why(project, OUTPUTS[uid])
    assert uid in by_uid and uid in by_file
    assert OUTPUTS[uid] in by_file
    return [by_uid, by_file]


def _in_order(text: str, *parts: str) -> bool:
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


# -- dry run -----------------------------------------------------------------------------------


def test_dry_run_of_a_new_project_executes_and_records_nothing(project):
    _flow(project)
    project.write("src.txt", "hello\n")
    decisions = _dry(project)
    assert decisions == {
        "upper": ("would run", "never-run"),
        "shout": ("would run", "upstream-will-change"),
        "flaky": ("would run", "never-run"),
        "echo": ("would run", "never-run"),
    }
    for name in OUTPUTS.values():
        assert not project.exists(name)
    if project.exists(".scriptflow/ledger.db"):
        assert project.query("SELECT count(*) FROM runs")[0][0] == 0
        assert project.query("SELECT count(*) FROM tasks")[0][0] == 0
    # and a real run afterwards is not disturbed by it
    project.run("run", "main", "--classic", check=True)
    assert project.reasons() == {uid: "never-run" for uid in OUTPUTS}
    assert project.last_run()["id"] == 1


def test_dry_run_when_everything_is_up_to_date(project):
    _baseline(project)
    assert _dry(project) == {uid: ("up to date", "cached") for uid in OUTPUTS}
    assert project.query("SELECT count(*) FROM runs")[0][0] == 1


def test_dry_run_input_changed_output_missing_output_modified(project):
    _baseline(project)
    project.write("src.txt", "goodbye world\n")
    (project.path / "flaky.txt").unlink()
    project.write("echo.txt", "tampered")
    assert _dry(project) == {
        "upper": ("would run", "input-changed:src.txt"),
        "shout": ("would run", "upstream-will-change"),
        "flaky": ("would run", "output-missing:flaky.txt"),
        "echo": ("would run", "output-modified:echo.txt"),
    }
    # nothing was repaired by the dry run
    assert not project.exists("flaky.txt")
    assert project.read("echo.txt") == "tampered"
    assert project.read("upper.txt") == "HELLO\n"


def test_dry_run_command_changed_and_forced(project):
    _baseline(project)
    assert _dry(project, "beta-222") == {
        "upper": ("up to date", "cached"),
        "shout": ("up to date", "cached"),
        "flaky": ("up to date", "cached"),
        "echo": ("would run", "command-changed"),
    }
    assert _dry(project, "-f", "upper") == {
        "upper": ("would run", "forced"),
        "shout": ("would run", "upstream-will-change"),
        "flaky": ("up to date", "cached"),
        "echo": ("up to date", "cached"),
    }
    assert project.read("echo.txt") == "alpha-111"


def test_dry_run_previous_failed(project):
    _baseline(project)
    project.write("broken", "")
    assert project.run("run", "main", "-f", "flaky", "-k", "--classic").returncode == 1
    assert project.statuses()["flaky"] == "failed"
    (project.path / "broken").unlink()
    assert _dry(project) == {
        "upper": ("up to date", "cached"),
        "shout": ("up to date", "cached"),
        "flaky": ("would run", "previous-failed"),
        "echo": ("up to date", "cached"),
    }
    assert not project.exists("flaky.txt")


# -- why -----------------------------------------------------------------------------------------


def test_why_never_run_then_cached_names_the_matched_run(project):
    _baseline(project)
    for text in _why_both(project, "upper"):
        assert "never-run" in text
        assert "run 1" in text
    project.run("run", "main", "--classic", check=True)
    assert project.last_run()["id"] == 2
    for text in _why_both(project, "upper"):
        assert "cached" in text
        assert "run 2" in text   # the decision was taken in run 2 ...
        assert "run 1" in text   # ... and matched what run 1 recorded


def test_why_input_changed_shows_old_and_new_hashes(project):
    _baseline(project)
    project.write("src.txt", "goodbye world\n")
    project.run("run", "main", "--classic", check=True)
    old, new = _sha("hello\n"), _sha("goodbye world\n")
    for text in _why_both(project, "upper"):
        assert "input-changed:src.txt" in text
        assert _in_order(text, old[:8], new[:8]), (old[:8], new[:8], text)
    # the dependant saw its input upper.txt change from HELLO to GOODBYE WORLD
    old, new = _sha("HELLO\n"), _sha("GOODBYE WORLD\n")
    for text in _why_both(project, "shout"):
        assert "input-changed:upper.txt" in text
        assert _in_order(text, old[:8], new[:8]), text


def test_why_command_changed_shows_old_and_new_commands(project):
    _baseline(project)
    project.run("run", "main", "beta-222", "--classic", check=True)
    for text in _why_both(project, "echo"):
        assert "command-changed" in text
        assert _in_order(text, "alpha-111", "beta-222"), text
        old_line = next(line for line in text.splitlines() if "alpha-111" in line)
        new_line = next(line for line in text.splitlines() if "beta-222" in line)
        assert old_line != new_line
        assert "echo.txt" in old_line and "echo.txt" in new_line  # the whole command, not just a diff


def test_why_output_modified(project):
    _baseline(project)
    project.write("echo.txt", "tampered")
    project.run("run", "main", "--classic", check=True)
    assert project.read("echo.txt") == "alpha-111"  # the task restored it
    made, tampered = _sha("alpha-111"), _sha("tampered")
    for text in _why_both(project, "echo"):
        assert "output-modified:echo.txt" in text
        assert _in_order(text, made[:8], tampered[:8]), text


def test_why_output_missing(project):
    _baseline(project)
    (project.path / "flaky.txt").unlink()
    project.run("run", "main", "--classic", check=True)
    for text in _why_both(project, "flaky"):
        assert "output-missing:flaky.txt" in text
        assert "missing" in text.split("output-missing:flaky.txt", 1)[1]


def test_why_forced(project):
    _baseline(project)
    project.run("run", "main", "-f", "flak*", "--classic", check=True)
    for text in _why_both(project, "flaky"):
        assert "forced" in text
    assert "cached" in _why(project, "upper")


def test_why_previous_failed_names_the_failed_run(project):
    _baseline(project)
    project.write("broken", "")
    assert project.run("run", "main", "-f", "flaky", "-k", "--classic").returncode == 1
    # right after the failure: it ran (forced) and failed
    text = _why(project, "flaky")
    assert "forced" in text and "failed" in text
    (project.path / "broken").unlink()
    project.run("run", "main", "--classic", check=True)
    assert project.last_run()["id"] == 3
    for text in _why_both(project, "flaky"):
        assert "previous-failed" in text
        assert "run 2" in text


def test_why_unknown_target(project):
    _baseline(project)
    for target in ("no-such-task", "no-such-file.txt"):
        proc = project.run("why", target)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert len(lines) == 1 and target in lines[0], lines


def test_why_source_file_names_its_consumers(project):
    _baseline(project)
    proc = project.run("why", "src.txt")
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "source" in out
    assert re.search(r"\bupper\b", out), out
    assert not re.search(r"\bshout\b", out), out  # not a consumer of src.txt


def test_why_with_C_from_another_folder(project, tmp_path_factory):
    """-C DIR: "run as if started in DIR", so a relative file target is a path inside DIR."""
    _baseline(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    for target in ("upper", "upper.txt"):
        proc = subprocess.run(["scriptflow", "why", target, "-C", str(project.path)], cwd=elsewhere,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (target, proc.stderr)
        assert "never-run" in proc.stdout and "upper" in proc.stdout
