"""An executor from an installed package, found through the ``scriptflow.executors`` entry points.

A tiny package (one module: an ``Executor`` subclass with a settings
dataclass, running commands with subprocess) is pip-installed into this
test's own virtualenv as a wheel assembled here (no build backend, no
network), then used by the real ``scriptflow`` command, and uninstalled at
the end. The same package declares a second entry point whose module does
not exist, to show that a broken plug-in only breaks what names it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

DIST = "scriptflow_test_plugin"
VERSION = "0.1"
MODULE = '''
"""A test executor: each attempt runs as a subprocess on a thread of its own."""
import os
import socket
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from scriptflow.clock import utc_now
from scriptflow.executors import Executor, ExecutorSettings, Outcome, Started, setting


@dataclass(frozen=True)
class SubprocSettings(ExecutorSettings):
    tag: str = setting("none", "written to SF_PLUGIN_TAG in the environment of every command")
    delay: float = setting(0.0, "wait before starting each command", unit="seconds", minimum=0.0)


class SubprocExecutor(Executor):
    """Subprocesses, one thread each (a test plug-in)."""

    name = "subproc"
    settings_class = SubprocSettings

    def submit(self, attempt, reporter):
        future = Future()
        threading.Thread(target=self._run, args=(attempt, reporter, future), daemon=True).start()
        return future

    def _run(self, attempt, reporter, future):
        if not reporter.may_start():
            future.set_result(Outcome(exit_code=None, interrupted=True, error="not started: the run was stopping"))
            return
        attempt.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **attempt.env, SF_PLUGIN_TAG=self.settings.tag)
        with open(attempt.stdout_path, "wb") as out, open(attempt.stderr_path, "wb") as err:
            started = utc_now()
            proc = subprocess.Popen(attempt.command, shell=attempt.shell, cwd=str(attempt.cwd), env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            reporter.started(Started(started_at=started, host=socket.gethostname(), pid=proc.pid))
            code = proc.wait()
        future.set_result(Outcome(exit_code=code, started_at=started, ended_at=utc_now(),
                                  error=None if code == 0 else f"exit code {code}"))

    def cancel_all(self, grace_seconds):
        pass
'''
ENTRY_POINTS = """\
[scriptflow.executors]
subproc = scriptflow_test_plugin:SubprocExecutor
broken = scriptflow_test_plugin_missing:Nope
"""


def build_wheel(folder: Path) -> Path:
    """A wheel of the test package, written the way a build backend writes one."""
    info = f"{DIST}-{VERSION}.dist-info"
    files = {
        f"{DIST}.py": textwrap.dedent(MODULE),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": ENTRY_POINTS,
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{DIST}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def pip(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    wheel = build_wheel(tmp_path_factory.mktemp("plugin"))
    pip("install", "--no-deps", "--no-index", "--no-build-isolation", str(wheel))
    try:
        yield DIST
    finally:
        pip("uninstall", "-y", DIST)


def test_a_flow_runs_on_an_installed_executor(plugin, project):
    project.flow("""
        sf.init({"executors": {"subproc": {"tag": "from-config"}}})
        def flow_main():
            sf.Task(["sh", "-c", 'echo "$SF_PLUGIN_TAG" > out.txt'], outputs="out.txt", name="t",
                    executor="subproc").result()
    """)
    project.run("run", "main", "--classic", check=True)
    assert project.read("out.txt") == "from-config\n"
    [row] = project.query("SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.uid = 't'")
    assert row["executor"] == "subproc" and row["status"] == "succeeded" and row["pid"] is not None
    # Moving the task to another executor does not rerun it.
    project.flow("""
        def flow_main():
            sf.Task(["sh", "-c", 'echo "$SF_PLUGIN_TAG" > out.txt'], outputs="out.txt", name="t").result()
    """)
    project.run("run", "main", "--classic", check=True)
    assert project.statuses() == {"t": "cached"}


def test_installed_executor_settings_are_checked_and_listed(plugin, project):
    project.flow("""
        sf.init({"executors": {"subproc": {"delay": "soon"}}})
        def flow_main():
            sf.Task(["true"], name="t", executor="subproc").result()
    """)
    proc = project.run("run", "main", "--classic", check=False)
    assert "executors.subproc.delay must be a number >= 0 (seconds), got 'soon'" in proc.stderr
    assert "Traceback" not in proc.stderr

    listed = {e["name"]: e for e in json.loads(project.run("executors", "--json", check=True).stdout)}
    sub = listed["subproc"]
    assert sub["origin"] == "installed" and sub["package"] == f"{DIST} {VERSION}"
    assert sub["summary"] == "Subprocesses, one thread each (a test plug-in)."
    assert [(s["name"], s["type"], s["default"], s["unit"]) for s in sub["settings"]] == [
        ("tag", "string", "none", None), ("delay", "number >= 0", "0", "seconds")]
    assert listed["broken"]["error"].startswith("executor 'broken' (scriptflow_test_plugin_missing:Nope) "
                                                "cannot be loaded: ModuleNotFoundError")
    assert {"local", "slurm", "sge", "pbs"} <= set(listed)
    text = project.run("executors", check=True).stdout
    assert f"subproc (installed, {DIST} {VERSION}): Subprocesses" in text
    assert "broken (installed" in text and "cannot be loaded" in text


def test_a_broken_plugin_fails_only_what_names_it(plugin, project):
    project.flow("""
        def flow_main():
            sf.Task(["sh", "-c", "echo ok > ok.txt"], outputs="ok.txt", name="ok").result()
        def flow_broken():
            sf.Task(["true"], name="t", executor="broken").result()
    """)
    project.run("run", "main", "--classic", check=True)  # never imports the broken plug-in
    proc = project.run("run", "broken", "--classic", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "executor 'broken' (scriptflow_test_plugin_missing:Nope) cannot be loaded" in proc.stdout + proc.stderr
