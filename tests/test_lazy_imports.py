"""A plain local run starts fast: what it does not use, it does not import.

The modules below cost a run's start more than the rest of scriptflow does
(asyncio and ssl, importlib.metadata and the email package, the notifier's
HTTP client, filelock, concurrent-log-handler, the task socket's server).
Each is imported only when its feature is used: an async flow, an installed
executor plug-in, a notify target, a lock on a file system without flock, a
log that needs rotating, a task whose script creates tasks, a container.
The flow itself writes ``sys.modules`` as it starts, so the test sees what
the real command imported before calling the flow; the features themselves
keep their own tests (test_notify, test_child_tasks, test_containers, ...).
"""
from __future__ import annotations

import json

#: Never imported by a plain local run before its flow starts.
NOT_BEFORE_THE_FLOW = (
    "asyncio", "ssl", "email", "importlib.metadata", "importlib.resources", "tempfile", "secrets", "hmac",
    "urllib.request", "http.client", "filelock", "concurrent_log_handler", "portalocker",
    "scriptflow.notifications.listener", "scriptflow.notifications.sender", "scriptflow.run.children",
    "scriptflow.executors.dask_executor", "scriptflow.executors.cluster.core",
)
#: Not imported by a whole run whose tasks are all cached either (nothing runs, nothing is notified).
NOT_IN_A_NO_OP = ("asyncio", "ssl", "email", "importlib.metadata", "filelock", "concurrent_log_handler",
                  "scriptflow.notifications.sender", "scriptflow.run.children")

FLOW = """
    import atexit
    import json
    import sys

    def _dump(name):
        with open(name, "w") as f:
            json.dump(sorted(sys.modules), f)

    def flow_copy():
        _dump("at-start.json")
        atexit.register(_dump, "at-exit.json")
        sf.bag(sf.Task(["cp", "in.txt", "out.txt"], inputs="in.txt", outputs="out.txt", name="copy"))
"""


def _modules(project, name: str) -> set[str]:
    return set(json.loads(project.read(name)))


def test_a_plain_run_imports_no_optional_part_before_its_flow(project):
    project.write("in.txt", "data\n")
    project.flow(FLOW)
    project.run("run", "copy", check=True)
    loaded = _modules(project, "at-start.json")
    assert "scriptflow.run.runner" in loaded and "scriptflow.core.engine" in loaded  # the dump is the real run's
    assert sorted(loaded & set(NOT_BEFORE_THE_FLOW)) == []
    assert project.read("out.txt") == "data\n"


def test_a_no_op_run_never_imports_them(project):
    project.write("in.txt", "data\n")
    project.flow(FLOW)
    project.run("run", "copy", check=True)
    project.run("run", "copy", check=True)
    assert project.statuses() == {"copy": "cached"}
    loaded = _modules(project, "at-exit.json")
    assert "scriptflow.executors.local" in loaded  # the dump was taken at the end of the run
    assert sorted(loaded & set(NOT_IN_A_NO_OP)) == []
    log = project.read(".scriptflow/scriptflow.log")
    assert "run 2: flow copy of" in log and "run 2 succeeded (exit 0)" in log  # the log is still written


def test_an_async_flow_still_gets_its_event_loop(project):
    project.flow("""
        import asyncio

        async def flow_later():
            await asyncio.sleep(0)
            await sf.Task(["touch", "made.txt"], outputs="made.txt", name="make")
    """)
    project.run("run", "later", check=True)
    assert project.exists("made.txt") and project.statuses() == {"make": "succeeded"}


def test_the_entry_point_imports_only_what_the_interpreter_already_has():
    """Before ``entry.main`` runs, a Ctrl-C cannot be turned into "scriptflow: interrupted": the
    command's entry module imports nothing but built-in modules (and the tiny ``__future__``)."""
    import subprocess
    import sys

    code = ("import sys; before = set(sys.modules); import scriptflow.entry; "
            "print(sorted(set(sys.modules) - before - set(sys.builtin_module_names)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert set(eval(out)) <= {"scriptflow", "scriptflow.entry", "__future__"}, out
