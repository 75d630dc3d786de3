"""``scriptflow serve`` over HTTP: every page and JSON endpoint, against runs made by the real CLI."""
from __future__ import annotations

import json


import pytest

from conftest import py_src, wait_for_file, wait_until
from web_helpers import Served

EVIL = "x<script>alert('\"hi')</script>"

FLOW = f"""
def flow_main():
    a = sf.Task({py_src("open('a.txt', 'w').write('a')")}, outputs="a.txt", uid="make-a").start()
    b = sf.Task({py_src("print('<b>bold</b>'); open('b<&>.txt', 'w').write(open('a.txt').read() * 2)")},
                inputs=[a], outputs="b<&>.txt", uid={EVIL!r}).start()
    c = sf.Task({py_src("open('c.txt', 'w').write(open('b<&>.txt').read() + open('src.txt').read())")},
                inputs=[b, "src.txt"], outputs="c.txt", uid="combine").start()
    c.result()

def flow_broken():
    sf.Task({py_src("import sys; sys.stderr.write('bad news'); sys.exit(4)")}, uid="broken").start().result()

def flow_live():
    sf.Task({py_src(wait_for_file("go.flag", "open('live.txt', 'w').write('done')"))},
            outputs="live.txt", uid="waiter").start().result()
"""


@pytest.fixture
def served(project):
    project.flow(FLOW)
    project.write("src.txt", "src")
    project.run("run", "main", "--classic", "--name", "first", check=True)
    project.run("run", "broken", "--classic", check=False)
    server = Served(project)
    yield server
    server.close()


def test_runs_list_and_filters(served):
    status, headers, body = served.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert 'href="/runs/1"' in body and 'href="/runs/2"' in body
    assert ">first<" in body
    _, _, failed_only = served.get("/?status=failed")
    assert 'href="/runs/2"' in failed_only and 'href="/runs/1"' not in failed_only
    _, _, by_flow = served.get("/?flow=main")
    assert 'href="/runs/1"' in by_flow and 'href="/runs/2"' not in by_flow
    _, _, by_name = served.get("/?name=fir")
    assert 'href="/runs/1"' in by_name and 'href="/runs/2"' not in by_name
    data = served.json("/api/runs?status=failed")
    assert [r["id"] for r in data["runs"]] == [2] and data["flows"] == ["broken", "main"]
    assert data["live"] is False


def test_run_page_escapes_user_data(served):
    status, _, body = served.get("/runs/1")
    assert status == 200
    assert EVIL not in body and "<script>alert" not in body
    assert "x&lt;script&gt;alert(&#x27;&quot;hi&#x27;)&lt;/script&gt;" in body
    assert "b&lt;&amp;&gt;.txt" in body and "b<&>.txt" not in body
    assert body.count("<script") == 1  # only our own /static/live.js
    assert 'class="gantt"' in body and "make-a" in body and "never-run" in body
    assert 'href="/file?path=c.txt"' in body
    assert 'href="/file?path=b%3C%26%3E.txt"' in body


def test_run_json_and_failed_run(served):
    data = served.json("/api/runs/1")
    assert data["run"]["status"] == "succeeded" and data["run"]["name"] == "first"
    assert {t["uid"] for t in data["tasks"]} == {"make-a", EVIL, "combine"}
    assert len(data["attempts"]) == 3 and all(a["duration_seconds"] is not None for a in data["attempts"])
    assert {o["path"] for o in data["outputs"]} == {"a.txt", "b<&>.txt", "c.txt"}
    assert served.json("/api/runs/first")["run"]["id"] == 1
    broken = served.json("/api/runs/2")
    [task] = broken["tasks"]
    assert task["status"] == "failed" and task["exit_code"] == 4
    status, headers, text = served.get(f"/logs/{task['attempt_id']}/stderr")
    assert status == 200 and text == "bad news" and headers["Content-Type"].startswith("text/plain")
    _, _, page = served.get("/runs/2")
    assert f'href="/logs/{task["attempt_id"]}/stderr"' in page and "s-failed" in page


def test_file_page_and_lineage_json_match_report(served, project):
    report = json.loads(project.run("report", "c.txt", "--json", check=True).stdout)
    api = served.json("/api/file?path=c.txt")
    assert api == report
    status, _, body = served.get("/file?path=c.txt")
    assert status == 200 and 'class="lineage"' in body
    assert 'href="/file?path=src.txt"' in body and 'href="/runs/1"' in body
    assert "<script>alert" not in body
    _, _, with_graph = served.get("/runs/1?lineage=c.txt")
    assert 'id="lineage"' in with_graph and 'class="lineage"' in with_graph


def test_unknown_things_are_404_with_a_message(served):
    status, _, body = served.get("/runs/99")
    assert status == 404 and "no run &#x27;99&#x27;" in body
    status, _, body = served.get("/file?path=nowhere.txt")
    assert status == 200 and "unknown to the ledger" in body
    assert served.get("/api/file?path=nowhere.txt")[0] == 404
    assert served.get("/logs/999/stdout")[0] == 404
    assert served.get("/logs/1/../../etc/passwd")[0] == 404
    assert served.get("/nope")[0] == 404


def test_live_run_shows_running_task_and_its_log(project):
    project.flow(FLOW.replace("open('live.txt', 'w')", "print('halfway', flush=True); open('live.txt', 'w')"))
    project.write("src.txt", "src")
    run = project.popen("run", "live", "--classic")
    server = Served(project)
    try:
        wait_until(lambda: served_has(server, "/api/runs/1", "waiter"), "the live run's task to appear",
                   timeout=20)
        data = server.json("/api/runs/1")
        assert data["live"] is True and data["run"]["status"] == "running"
        _, _, body = server.get("/runs/1")
        assert "Running now" in body and 'data-live="1"' in body and 'data-poll="/api/runs/1"' in body
        (project.path / "go.flag").write_text("go")
        assert run.wait(timeout=120) == 0
        data = server.json("/api/runs/1")
        assert data["live"] is False and data["run"]["status"] == "succeeded"
    finally:
        if run.poll() is None:
            run.kill()
        run.communicate()
        server.close()


def served_has(server: Served, path: str, uid: str) -> bool:
    """The run is live and ``uid`` has an attempt in flight."""
    status, _, body = server.get(path)
    if status != 200:
        return False
    tasks = {t["uid"]: t for t in json.loads(body)["tasks"]}
    return uid in tasks and tasks[uid]["live_tail"] is not None


def test_serve_refuses_writes_and_needs_a_ledger(served, project, tmp_path):
    import urllib.request

    req = urllib.request.Request(served.base + "/", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 405
    damaged = tmp_path / "damaged"
    (damaged / ".scriptflow").mkdir(parents=True)
    (damaged / ".scriptflow" / "ledger.db").write_bytes(b"this is not sqlite" * 100)
    proc = project.run("serve", "-C", str(damaged), "--port", "0", check=False)
    assert proc.stderr.startswith("scriptflow: error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_serve_before_the_first_run(tmp_path):
    from conftest import Project

    empty = Project(tmp_path / "fresh")
    empty.path.mkdir()
    server = Served(empty)
    try:
        status, _, body = server.get("/")
        assert status == 503 and "nothing has run in this project yet" in body
    finally:
        server.close()


def test_serve_help_names_its_options(project):
    out = project.run("serve", "--help", check=True).stdout
    assert "--port" in out and "--host" in out and "read-only" in out
