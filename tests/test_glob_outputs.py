"""Outputs declared by pattern (``outputs=sf.glob(...)``), in real runs: one tree-hashed ``files``
row with a manifest, reruns when a matching file changes, stale matches removed, refusals."""
from __future__ import annotations

import hashlib
import json

from conftest import py_src

#: Writes results/part-0.csv .. part-(n-1).csv (each its index plus argv[2]) and results/count.txt.
PARTS = py_src("import os, sys; os.makedirs('results', exist_ok=True); n = int(sys.argv[1]); "
               "[open(f'results/part-{i}.csv', 'w').write(f'{i}{sys.argv[2]}') for i in range(n)]; "
               "open('results/count.txt', 'w').write(str(n))")
LIST = py_src("import glob; open('listing.txt', 'w').write(' '.join(sorted(glob.glob('results/part-*.csv'))))")


def write_flow(project) -> None:
    project.flow(f'''
        def flow_main(n: int = 3, suffix: str = ""):
            make = sf.Task({PARTS} + [str(n), suffix],
                           outputs=[sf.glob("results/part-*.csv"), "results/count.txt"], name="make")
            sf.Task({LIST}, inputs=make, outputs="listing.txt", name="list").result()
    ''')


def manifests(project, uid: str) -> list[dict]:
    return [json.loads(r["detail"]) for r in
            project.query("SELECT detail FROM events WHERE kind = 'manifest' AND task_uid = ? ORDER BY id", (uid,))]


def tree_hash(files: dict[str, bytes]) -> str:
    lines = "".join(f"{k}\0{hashlib.sha256(v).hexdigest()}\n" for k, v in sorted(files.items()))
    return "dir:" + hashlib.sha256(lines.encode()).hexdigest()


def test_pattern_output_is_one_tree_row_with_a_manifest_and_is_cached(project):
    write_flow(project)
    project.run("run", "main", check=True)
    assert project.read("listing.txt") == "results/part-0.csv results/part-1.csv results/part-2.csv"
    expected = tree_hash({"part-0.csv": b"0", "part-1.csv": b"1", "part-2.csv": b"2"})
    rows = project.query("SELECT task_id, role, path, sha256, size FROM files WHERE path = 'results/part-*.csv' "
                         "ORDER BY id")
    assert [(r["role"], r["sha256"], r["size"]) for r in rows] == [("output", expected, 3), ("input", expected, 3)]
    made = manifests(project, "make")
    assert len(made) == 1 and made[0]["role"] == "output" and made[0]["path"] == "results/part-*.csv"
    assert made[0]["sha256"] == expected
    assert made[0]["files"] == {f"part-{i}.csv": hashlib.sha256(str(i).encode()).hexdigest() for i in range(3)}
    assert [m["role"] for m in manifests(project, "list")] == ["input"]
    assert project.query("SELECT path FROM files WHERE role = 'output' AND path = 'results/count.txt'")
    project.run("run", "main", check=True)
    assert project.statuses() == {"make": "cached", "list": "cached"}


def test_a_matching_file_edited_removed_or_added_reruns_the_task(project):
    write_flow(project)
    project.run("run", "main", check=True)
    project.write("results/part-1.csv", "edited by hand")
    project.run("run", "main", check=True)
    assert project.reasons()["make"] == "output-modified:results/part-*.csv"
    assert project.read("results/part-1.csv") == "1"
    assert project.statuses()["list"] == "cached"  # remade with the same content
    (project.path / "results" / "part-2.csv").unlink()
    project.run("run", "main", check=True)
    assert project.reasons()["make"] == "output-modified:results/part-*.csv"
    assert project.exists("results/part-2.csv")
    project.write("results/part-9.csv", "stale")
    project.run("run", "main", check=True)
    assert project.reasons()["make"] == "output-modified:results/part-*.csv"
    assert not project.exists("results/part-9.csv"), "a stale matching file is removed before the task runs"
    for name in ("part-0.csv", "part-1.csv", "part-2.csv"):
        (project.path / "results" / name).unlink()
    project.run("run", "main", check=True)
    assert project.reasons()["make"] == "output-missing:results/part-*.csv"


def test_stale_matches_of_an_earlier_run_are_removed_and_dependants_rerun(project):
    write_flow(project)
    project.write("results/notes.txt", "not matched, kept")
    project.run("run", "main", "-p", "n=4", check=True)
    project.run("run", "main", "-p", "n=2", check=True)
    assert project.reasons()["make"] == "command-changed"
    assert project.statuses() == {"make": "succeeded", "list": "succeeded"}
    assert project.read("listing.txt") == "results/part-0.csv results/part-1.csv"
    assert project.read("results/notes.txt") == "not matched, kept"
    assert list(manifests(project, "make")[-1]["files"]) == ["part-0.csv", "part-1.csv"]


def test_a_glob_input_sees_the_files_after_the_producer_ran(project):
    project.flow(f'''
        def flow_main():
            sf.Task({PARTS} + ["2", ""], outputs=[sf.glob("results/part-*.csv"), "results/count.txt"],
                    name="make").result()
            sf.Task({LIST}, inputs=sf.glob("results/part-*.csv"), outputs="listing.txt", name="list").result()
    ''')
    project.run("run", "main", check=True)
    assert project.read("listing.txt") == "results/part-0.csv results/part-1.csv"
    rows = project.query("SELECT path FROM files WHERE role = 'input' ORDER BY path")
    assert [r["path"] for r in rows] == ["results/part-0.csv", "results/part-1.csv"]
    project.run("run", "main", check=True)
    assert project.statuses() == {"make": "cached", "list": "cached"}


def test_no_matching_file_after_exit_0_fails_naming_the_pattern(project):
    write_flow(project)
    proc = project.run("run", "main", "-p", "n=0", check=False)
    assert proc.returncode != 0
    assert project.statuses()["make"] == "failed"
    error = project.query("SELECT error FROM attempts ORDER BY id DESC LIMIT 1")[0]["error"]
    assert error == "exit code 0 but declared output results/part-*.csv was not written"


def test_a_pattern_in_the_state_folder_or_matching_the_flow_file_is_refused_in_one_line(project):
    project.flow(f'''
        def flow_main():
            sf.Task({PARTS} + ["1", ""], outputs=sf.glob(".scriptflow/logs/*.log"), name="bad").result()
    ''')
    proc = project.run("run", "main", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert ("task 'bad': output pattern .scriptflow/logs/*.log is inside .scriptflow/ (the ledger and logs)"
            in proc.stderr), proc.stderr
    project.flow(f'''
        def flow_main():
            sf.Task({PARTS} + ["1", ""], outputs=sf.glob("*.py"), name="bad").result()
    ''')
    proc = project.run("run", "main", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "task 'bad': output pattern *.py matches the flow file" in proc.stderr, proc.stderr
    assert project.exists("sflow.py")


def test_dry_run_says_what_would_run(project):
    write_flow(project)
    project.run("run", "main", check=True)
    project.write("results/part-7.csv", "new")
    proc = project.run("run", "main", "--dry-run", check=True)
    assert "make" in proc.stdout and "output-modified:results/part-*.csv" in proc.stdout, proc.stdout
    assert project.exists("results/part-7.csv"), "a dry run removes nothing"


def test_report_why_and_clean_understand_a_pattern_output(project):
    write_flow(project)
    project.write("results/notes.txt", "not matched")
    project.run("run", "main", check=True)
    proc = project.run("report", "results/part-1.csv", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert ("results/part-1.csv is one of the files matching output pattern results/part-*.csv of task make"
            in proc.stderr), proc.stderr
    proc = project.run("report", "results/part-*.csv", check=True)
    assert "make" in proc.stdout and "unchanged" in proc.stdout, proc.stdout
    proc = project.run("why", "results/part-*.csv", check=True)
    assert "the files matching it are unchanged since run 1" in proc.stdout, proc.stdout
    project.write("results/part-1.csv", "edited by hand")
    proc = project.run("clean", "main", check=True)
    assert "results/part-*.csv" in proc.stdout, proc.stdout
    assert all(project.exists(f"results/part-{i}.csv") for i in range(3)), "modified since recorded: all kept"
    project.write("results/part-1.csv", "1")
    project.run("clean", "main", check=True)
    assert not any(project.exists(f"results/part-{i}.csv") for i in range(3))
    assert project.read("results/notes.txt") == "not matched"


def test_files_matched_through_a_symlink_out_of_the_project_are_never_removed(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "part-9.csv").write_text("keep me")
    (project.path / "results").mkdir()
    (project.path / "results" / "link").symlink_to(outside)
    (project.path / "elsewhere").symlink_to(outside)
    project.flow(f'''
        def flow_main():
            sf.Task({PARTS} + ["2", ""], outputs=[sf.glob("results/**/part-*.csv"), "results/count.txt"],
                    name="make").result()
    ''')
    project.run("run", "main", check=True)
    project.write("results/count.txt", "edited: reruns, removing what the pattern matches in the project")
    project.run("run", "main", check=True)
    assert project.reasons()["make"] == "output-modified:results/count.txt"
    assert (outside / "part-9.csv").read_text() == "keep me"
    assert "link/part-9.csv" in manifests(project, "make")[-1]["files"], "matched, yet kept"
    project.flow(f'''
        def flow_main():
            sf.Task({PARTS} + ["2", ""], outputs=sf.glob("elsewhere/part-*.csv"), name="make").result()
    ''')
    proc = project.run("run", "main", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "task 'make': output pattern elsewhere/part-*.csv is outside the project folder" in proc.stderr
    assert (outside / "part-9.csv").read_text() == "keep me"
