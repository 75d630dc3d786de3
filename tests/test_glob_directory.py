"""sf.glob inputs and sf.directory inputs/outputs, in real runs: fingerprints, reruns, manifests."""
from __future__ import annotations

import hashlib
import json

from conftest import py_src

COUNT = py_src("import glob; open('n.txt', 'w').write(str(len(glob.glob('data/*.csv'))))")


def test_glob_input_reruns_when_a_matching_file_appears(project):
    project.write("data/a.csv", "1")
    project.write("data/b.csv", "2")
    project.write("data/notes.txt", "not matched")
    project.flow(f'''
        def flow_main():
            sf.Task({COUNT}, inputs=sf.glob("data/*.csv"), outputs="n.txt", name="count").result()
    ''')
    project.run("run", "main", check=True)
    assert project.read("n.txt") == "2"
    rows = project.query("SELECT path FROM files WHERE role = 'input' ORDER BY path")
    assert [r["path"] for r in rows] == ["data/a.csv", "data/b.csv"]
    project.run("run", "main", check=True)
    assert project.statuses() == {"count": "cached"}
    project.write("data/notes.txt", "edited, still not matched")
    project.run("run", "main", check=True)
    assert project.statuses() == {"count": "cached"}
    project.write("data/c.csv", "3")
    project.run("run", "main", check=True)
    assert project.statuses() == {"count": "succeeded"}
    assert project.reasons()["count"] == "input-changed:data/c.csv"
    assert project.read("n.txt") == "3"
    (project.path / "data" / "a.csv").unlink()
    project.run("run", "main", check=True)
    assert project.reasons()["count"] == "input-changed:data/a.csv"


MAKE_DIR = py_src("import os, sys; os.makedirs('results/sub', exist_ok=True); "
                  "open('results/a.txt', 'w').write(sys.argv[1]); open('results/sub/b.txt', 'w').write('b')")


def test_directory_output_is_hashed_as_a_tree_with_a_manifest(project):
    project.flow(f'''
        import sys
        def flow_main(v: str = "a"):
            out = sf.Task({MAKE_DIR} + [v], outputs=sf.directory("results/"), name="make").start()
            sf.Task({py_src("import os; open('listing.txt', 'w').write(' '.join(sorted(os.listdir('results'))))")},
                    inputs=[sf.directory("results")], outputs="listing.txt", name="list").start()
            out.result()
    ''')
    project.run("run", "main", check=True)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in (("a.txt", b"a"), ("sub/b.txt", b"b"))}
    expected = "dir:" + hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(sha.items())).encode()).hexdigest()
    out = project.query("SELECT * FROM files WHERE role = 'output' AND path = 'results'")
    assert len(out) == 1 and out[0]["sha256"] == expected and out[0]["size"] == 2
    manifests = [json.loads(r["detail"]) | {"uid": r["task_uid"]}
                 for r in project.query("SELECT * FROM events WHERE kind = 'manifest' ORDER BY id")]
    assert {(m["uid"], m["role"]) for m in manifests} == {("make", "output"), ("list", "input")}
    for m in manifests:
        assert m["path"] == "results" and m["files"] == sha and m["sha256"] == expected
    project.run("run", "main", check=True)
    assert project.statuses() == {"make": "cached", "list": "cached"}
    project.write("results/sub/b.txt", "edited by hand")
    project.run("run", "main", check=True)
    assert project.reasons()["make"] == "output-modified:results"
    assert project.read("results/sub/b.txt") == "b"
    project.run("run", "main", "-p", "v=z", check=True)
    assert project.statuses() == {"make": "succeeded", "list": "succeeded"}
    assert project.reasons()["list"] == "input-changed:results"
