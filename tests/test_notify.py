"""Notifications: real runs of the real CLI POSTing to real HTTP servers on 127.0.0.1."""
from __future__ import annotations

import base64
import json
import time

import pytest

from conftest import py_src, wait_until
from http_helpers import Hanging, Recorder, closed_port

SECRET = "s3cr3t-token-123"


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


def flow_with(notify: object, body: str = "") -> str:
    return f"""
sf.init({{"notify": {notify!r}}})

def flow_main():
    ok = sf.Task({py_src("open('a.txt', 'w').write('a')")}).output("a.txt").uid("make-a")
    ok.start()
    ok.result()
{body}
"""


BAD_CMD = py_src("import sys; sys.stderr.write('boom line' + chr(10)); sys.exit(3)")
FAILING = f"""
    bad = sf.Task({BAD_CMD}, retry=1).uid("bad")
    bad.start()
    bad.result()
"""


def test_events_are_posted_with_their_fields(project, recorder):
    project.flow(flow_with({"url": recorder.url(), "headers": {"X-Token": SECRET}}, FAILING))
    proc = project.run("run", "main", "--classic", "--name", "nightly")
    assert proc.returncode == 1
    events = recorder.events()
    assert events[0] == "run_started" and events[-1] == "run_finished", events
    assert events.count("task_retried") == 1 and events.count("task_failed") == 1, events
    run_id = project.last_run()["id"]
    for body in (r["body"] for r in recorder.received):
        assert body["run_id"] == run_id and body["run_name"] == "nightly" and body["flow"] == "main"
        assert body["project"] == project.path.name and body["time"] and body["run_started_at"]
    failed = recorder.bodies("task_failed")[0]
    assert failed["task_uid"] == "bad" and failed["exit_code"] == 3 and failed["attempts"] == 2
    assert "boom line" in failed["stderr_tail"]
    assert recorder.bodies("task_retried")[0]["attempt"] == 1
    finished = recorder.bodies("run_finished")[0]
    assert finished["status"] == "failed" and finished["exit_code"] == 1
    assert finished["counts"] == {"succeeded": 1, "failed": 1}
    assert all(r["headers"]["X-Token"] == SECRET for r in recorder.received)
    assert all(r["path"] == "/hook" for r in recorder.received)


def test_only_the_events_asked_for_and_slack_format(project, recorder):
    project.flow(flow_with({"url": recorder.url(), "events": ["run_finished"], "format": "slack"}))
    project.run("run", "main", "--classic", check=True)
    assert len(recorder.received) == 1
    body = recorder.received[0]["body"]
    assert list(body) == ["text"] and "succeeded" in body["text"] and "run 1 (main)" in body["text"]


def test_sf_notify_sends_a_message_with_html(project, recorder):
    project.flow(flow_with([{"url": recorder.url(), "events": ["message"]}],
                           "    print('sent', sf.notify('plot ready', html='<img src=\"p.png\">'))\n"))
    proc = project.run("run", "main", "--classic", check=True)
    assert "sent True" in proc.stdout
    [body] = recorder.bodies("message")
    assert body["text"] == "scriptflow: plot ready" and body["html"] == '<img src="p.png">'


def test_notify_flag_and_nothing_sent_without_configuration(project, recorder):
    project.flow(flow_with(None, "    print('sent', sf.notify('nobody listens'))\n"))
    proc = project.run("run", "main", "--classic", check=True)
    assert "sent False" in proc.stdout and recorder.received == []
    project.run("run", "main", "--classic", "--notify", recorder.url("/flag"), check=True)
    assert recorder.events()[0] == "run_started" and recorder.received[0]["path"] == "/flag"
    assert "run_finished" in recorder.events()


def test_a_500_is_retried(project):
    server = Recorder(fail_first=2)
    try:
        project.flow(flow_with({"url": server.url(), "events": ["run_finished"]}))
        project.run("run", "main", "--classic", check=True)
        assert server.refused == 2 and server.events() == ["run_finished"]
    finally:
        server.close()


def _timed_run(project, *args: str) -> float:
    start = time.monotonic()
    project.run("run", "main", "--classic", "-F", *args, check=True)
    return time.monotonic() - start


@pytest.mark.parametrize("kind", ["closed port", "hanging"])
def test_a_dead_target_does_not_hold_the_run(project, kind):
    """The run's end waits at most DRAIN_SECONDS (5 s) for notifications, whatever the target does."""
    from scriptflow.notifications.listener import DRAIN_SECONDS

    hanging = Hanging() if kind == "hanging" else None
    port = hanging.port if hanging else closed_port()
    try:
        project.flow(flow_with(None))
        baseline = _timed_run(project)
        project.flow(flow_with({"url": f"http://127.0.0.1:{port}/x", "timeout": 1, "retries": 5}))
        took = _timed_run(project)
        # Without the bound, 3 events x 6 tries x (1 s timeout + backoff) would take well over a minute.
        assert took < baseline + DRAIN_SECONDS + 20, (took, baseline)
        if hanging:
            assert hanging.accepted, "the hanging server was never contacted"
        log = project.read(".scriptflow/scriptflow.log")
        assert "notify:" in log and "/x" not in log
    finally:
        if hanging:
            hanging.close()


def test_secrets_never_reach_the_ledger_or_the_log(project, recorder):
    url = recorder.url(f"/services/T0/{SECRET}?key={SECRET}").replace("http://", f"http://user:{SECRET}@")
    project.flow(flow_with({"url": url, "headers": {"Authorization": f"Bearer {SECRET}"}}, FAILING))
    project.run("run", "main", "--classic", "--notify", recorder.url(f"/flag?token={SECRET}"))
    wait_until(lambda: recorder.events().count("run_finished") == 2, "both targets to hear the run end")
    options = json.loads(project.last_run()["options"])
    assert options["config"]["notify"]["headers"] == {"Authorization": "<redacted>"}
    assert options["config"]["notify"]["url"] == f"http://127.0.0.1:{recorder.port}/<redacted>"
    assert options["notify"] == [f"http://127.0.0.1:{recorder.port}/<redacted>"]
    dump = project.run("sql", "SELECT * FROM runs", check=True).stdout
    assert SECRET not in dump
    assert SECRET not in (project.path / ".scriptflow" / "ledger.db").read_bytes().decode("latin-1")
    assert SECRET not in project.read(".scriptflow/scriptflow.log")
    configured = [r for r in recorder.received if r["path"].startswith("/services/")]
    assert configured and all(r["headers"]["Authorization"] == f"Bearer {SECRET}" for r in configured)


def test_url_credentials_become_basic_auth(project, recorder):
    url = recorder.url("/hook").replace("http://", f"http://user:{SECRET}@")
    project.flow(flow_with({"url": url, "events": ["run_finished"]}))
    project.run("run", "main", "--classic", check=True)
    [request] = recorder.received
    kind, value = request["headers"]["Authorization"].split()
    assert kind == "Basic" and base64.b64decode(value).decode() == f"user:{SECRET}"


def test_resume_reads_notify_from_the_configuration_again(project, recorder):
    project.flow(flow_with({"url": recorder.url(), "headers": {"X-Token": SECRET}}, FAILING))
    project.run("run", "main", "--classic", check=False)
    before = len(recorder.received)
    project.run("resume", "--classic", check=False)
    later = recorder.received[before:]
    assert later and all(r["headers"]["X-Token"] == SECRET for r in later)


@pytest.mark.parametrize("notify, message", [
    ({"url": "ftp://example.org/x"}, "must start with http:// or https://"),
    ({"url": "http://h/x", "events": ["run_exploded"]}, "'events' must be a list of"),
    ({"url": "http://h/x", "headers": {"A": 1}}, "'headers' must map header names to strings"),
    ({"url": "http://h/x", "format": "teams"}, "'format' must be one of json, slack"),
    ({"url": "http://h/x", "timeout": 0}, "'timeout' must be a number of seconds > 0"),
    ({"url": "http://h/x", "colour": "red"}, "unknown notify key(s) colour"),
    ([{"url": "http://h/x"}, 3], "notify[1]: each notify target must be a dict"),
    (42, "notify: expected a dict with a 'url'"),
])
def test_bad_notify_configuration_is_one_line(project, notify, message):
    project.flow(flow_with(notify))
    proc = project.run("run", "main", "--classic", check=False)
    assert proc.returncode == 2 or proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("scriptflow: error:") and len(proc.stderr.strip().splitlines()) == 1
    assert not project.exists("a.txt")


def test_bad_notify_flag_is_one_line(project):
    project.flow(flow_with(None))
    proc = project.run("run", "main", "--notify", f"localhost:{SECRET}", check=False)
    assert "scriptflow: error: --notify: notify URLs must start with http://" in proc.stderr
    assert SECRET not in proc.stderr and "Traceback" not in proc.stderr
