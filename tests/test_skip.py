"""Skip and rerun: each rule of DESIGN.md, with the reason the ledger records.

The flow: ``norm`` reads the source input ``src.txt`` (no task produces it)
and writes it stripped to ``norm.txt``; ``final`` reads ``norm.txt``.
"""
from __future__ import annotations

import os

from conftest import py_src

NORM = "open('norm.txt', 'w').write(open('src.txt').read().strip())"
FINAL = "open('final.txt', 'w').write(open('norm.txt').read() + '!')"


def _flow(project, final_code: str = FINAL, version: str | None = None) -> None:
    project.flow(f"""
        def flow_main():
            norm = sf.Task({py_src(NORM)}, outputs="norm.txt", inputs=["src.txt"], name="norm")
            final = sf.Task({py_src(final_code)}, outputs="final.txt", inputs=[norm], name="final",
                            version={version!r})
            final.result()
    """)


def _setup(project) -> None:
    _flow(project)
    project.write("src.txt", "hello\n")
    project.run("run", "main", check=True)
    assert project.read("final.txt") == "hello!"


def _ran(project) -> set[str]:
    """uids with an attempt in the last run."""
    rows = project.query("SELECT DISTINCT t.uid FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE a.run_id = ?",
                         (project.last_run()["id"],))
    return {r["uid"] for r in rows}


def test_never_run_then_cached(project):
    _setup(project)
    assert project.reasons() == {"norm": "never-run", "final": "never-run"}
    assert project.statuses() == {"norm": "succeeded", "final": "succeeded"}
    proc = project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "cached", "final": "cached"}
    assert project.statuses() == {"norm": "cached", "final": "cached"}
    assert _ran(project) == set()
    assert "up to date" in proc.stdout


def test_touching_a_source_input_runs_nothing(project):
    _setup(project)
    src = project.path / "src.txt"
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns + 10**9, st.st_mtime_ns + 10**9))
    project.run("run", "main", check=True)
    assert project.statuses() == {"norm": "cached", "final": "cached"}
    assert _ran(project) == set()


def test_edited_source_input_reruns_its_consumer_with_early_cutoff(project):
    _setup(project)
    # norm's output comes out byte-identical: final stays cached
    project.write("src.txt", "  hello \n\n")
    project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "input-changed:src.txt", "final": "cached"}
    assert project.statuses() == {"norm": "succeeded", "final": "cached"}
    assert _ran(project) == {"norm"}
    # a real change flows through
    project.write("src.txt", "world\n")
    project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "input-changed:src.txt", "final": "input-changed:norm.txt"}
    assert project.read("final.txt") == "world!"


def test_changed_command_reruns_that_task(project):
    _setup(project)
    _flow(project, final_code="open('final.txt', 'w').write(open('norm.txt').read() + '?')")
    project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "cached", "final": "command-changed"}
    assert _ran(project) == {"final"}
    assert project.read("final.txt") == "hello?"


def test_flow_edited_within_a_second_to_the_same_length_runs_its_new_code(project):
    """Python trusts a cached .pyc while the source keeps its size and its mtime in whole
    seconds: the flow file is compiled from source each run, so such an edit still counts."""
    writes_bytecode = {"PYTHONDONTWRITEBYTECODE": ""}  # empty: Python caches bytecode as by default
    _flow(project)
    project.write("src.txt", "hello\n")
    project.run("run", "main", check=True, env=writes_bytecode)
    flow_file = project.path / "sflow.py"
    before = flow_file.stat()
    _flow(project, final_code=FINAL.replace("'!'", "'?'"))  # one character: the same length
    os.utime(flow_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert flow_file.stat().st_size == before.st_size
    project.run("run", "main", check=True, env=writes_bytecode)
    assert project.reasons() == {"norm": "cached", "final": "command-changed"}
    assert project.read("final.txt") == "hello?"
    assert not (project.path / "__pycache__").exists()


def test_changed_version_reruns_that_task(project):
    _setup(project)
    _flow(project, version="2")
    project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "cached", "final": "definition-changed"}
    assert _ran(project) == {"final"}


def test_deleted_output_reruns_its_task_only(project):
    _setup(project)
    (project.path / "norm.txt").unlink()
    project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "output-missing:norm.txt", "final": "cached"}
    assert _ran(project) == {"norm"}
    assert project.read("norm.txt") == "hello"


def test_hand_edited_output_is_restored_by_its_task(project):
    _setup(project)
    project.write("norm.txt", "edited by hand")
    project.run("run", "main", check=True)
    assert project.reasons() == {"norm": "output-modified:norm.txt", "final": "cached"}
    assert _ran(project) == {"norm"}
    assert project.read("norm.txt") == "hello"
    assert project.read("final.txt") == "hello!"


def test_force_glob_reruns_matching_tasks(project):
    project.flow(f"""
        def flow_main():
            a = sf.Task({py_src("open('1.txt', 'w').write('1')")}, outputs="1.txt", name="solve-1")
            b = sf.Task({py_src("open('2.txt', 'w').write('2')")}, outputs="2.txt", name="solve-2")
            c = sf.Task({py_src("open('x.txt', 'w').write('x')")}, outputs="x.txt", name="other")
            s = sf.Task({py_src("open('s.txt', 'w').write(open('1.txt').read() + open('2.txt').read())")},
                        outputs="s.txt", inputs=[a, b], name="final")
            sf.bag(s, c)
    """)
    project.run("run", "main", check=True)
    project.run("run", "main", "-f", "solve-*", check=True)
    assert project.reasons() == {"solve-1": "forced", "solve-2": "forced", "other": "cached", "final": "cached"}
    assert _ran(project) == {"solve-1", "solve-2"}
    project.run("run", "main", "-F", check=True)
    assert set(project.reasons().values()) == {"forced"}
    assert _ran(project) == {"solve-1", "solve-2", "other", "final"}


def test_previous_failure_reruns(project):
    # the task fails while 'broken' exists (a file it does not declare)
    code = "import os, sys\nif os.path.exists('broken'): sys.exit(1)\nopen('out.txt', 'w').write('ok')"
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(code)}, outputs="out.txt", name="flaky").start()
    """)
    project.write("broken", "")
    project.run("run", "main", check=False)
    assert project.statuses() == {"flaky": "failed"}
    (project.path / "broken").unlink()
    project.run("run", "main", check=True)
    assert project.reasons() == {"flaky": "previous-failed"}
    assert project.statuses() == {"flaky": "succeeded"}
    project.run("run", "main", check=True)
    assert project.reasons() == {"flaky": "cached"}


def test_noop_run_reads_no_file_contents(project):
    _setup(project)
    # the first run's hashes are "racy" (taken right after the writes): the second run re-reads them once
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    run = project.last_run()
    assert project.statuses() == {"norm": "cached", "final": "cached"}
    assert run["files_hashed"] == 0
    # src.txt, norm.txt (output and input) and final.txt all came from the stat cache
    assert run["files_from_stat_cache"] >= 3


def test_outputs_are_removed_before_an_attempt_starts(project):
    code = "import os\nopen('seen.txt', 'w').write(str(os.path.exists('out.txt')))\nopen('out.txt', 'w').write('new')"
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(code)}, outputs="out.txt", name="t").start()
    """)
    project.write("out.txt", "stale, not made by the task")
    project.run("run", "main", check=True)
    assert project.read("seen.txt") == "False"
    assert project.read("out.txt") == "new"


def test_force_from_the_configuration(project):
    project.flow(f"""
        sf.init({{"force": "solve-*"}})
        def flow_main():
            sf.bag(sf.Task({py_src("open('1.txt', 'w').write('1')")}, outputs="1.txt", name="solve-1"),
                   sf.Task({py_src("open('x.txt', 'w').write('x')")}, outputs="x.txt", name="other"))
    """)
    project.run("run", "main", check=True)
    project.run("run", "main", check=True)
    assert project.reasons() == {"solve-1": "forced", "other": "cached"}


def test_retry_count_is_not_part_of_the_fingerprint(project):
    for retry in (0, 3):
        project.flow(f"""
            def flow_main():
                sf.Task({py_src("open('o.txt', 'w').write('o')")}, outputs="o.txt", name="t", retry={retry}).result()
        """)
        project.run("run", "main", check=True)
    assert project.reasons() == {"t": "cached"}
    assert project.tasks()["t"]["max_retries"] == 3
