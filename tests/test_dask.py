"""The dask executor on a real Dask cluster: a ``dask scheduler`` and two ``dask worker`` processes.

The cluster runs on 127.0.0.1 (random free ports) for the whole module; the
workers run without a nanny, so killing one really loses it (a nanny would
restart it and hide the kill). Everything else is the real CLI and ledger.
Tests skip when Dask is not installed, and fail instead when
``SCRIPTFLOW_REQUIRE_SERVICES`` contains ``dask``.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PY, kill_leftovers, need_service, process_gone, py_src, wait_for_file, wait_until

HOST = socket.gethostname()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    """A real scheduler and named workers, each a process of its own (no nanny)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.scheduler = self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1",
                                                    "--port", self.address.rsplit(":", 1)[1], "--no-dashboard"])
        self.workers: dict[str, subprocess.Popen] = {}
        #: w0 declares room for 4 cpus, w1 for 1: tasks asking cpus=3 can only run on w0.
        self.resources = {"w0": "cpus=4", "w1": "cpus=1"}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def start_worker(self, name: str) -> None:
        self.workers[name] = self._spawn(name, ["worker", self.address, "--name", name, "--nworkers", "1",
                                                "--nthreads", "2", "--no-nanny", "--no-dashboard",
                                                "--resources", self.resources[name]])

    def connected_workers(self) -> set[str]:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            return {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}

    def ensure_workers(self) -> None:
        """Both workers running and registered (after a test killed one)."""
        for name in self.resources:
            if name not in self.workers or self.workers[name].poll() is not None:
                self.start_worker(name)
        wait_until(lambda: self.connected_workers() == set(self.resources), "both Dask workers to register",
                   timeout=60, interval=0.2)

    def stop(self) -> None:
        """Workers first, then the scheduler (a worker told to stop while its scheduler closes can hang)."""
        for group in (list(self.workers.values()), [self.scheduler]):
            for proc in group:
                if proc.poll() is None:
                    proc.terminate()
            for proc in group:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    try:
        import distributed  # noqa: F401
    except ImportError:
        need_service("dask", False, "dask[distributed] is not installed (pip install 'scriptflow[dask]')")
    cluster = DaskCluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        cluster.ensure_workers()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(dask_cluster):
    dask_cluster.ensure_workers()
    return dask_cluster


def _config(cluster: DaskCluster, default: str = "dask", **dask_settings) -> str:
    settings = {"address": cluster.address, **dask_settings}
    return f"sf.init({{'executor': {default!r}, 'executors': {{'dask': {settings!r}}}}})\n"


def _attempts(project) -> list:
    return project.query("SELECT t.uid, a.* FROM attempts a JOIN tasks t ON t.id = a.task_id "
                         "WHERE a.run_id = (SELECT max(id) FROM runs) ORDER BY a.id")


def test_fan_out_fan_in_runs_on_the_workers_and_is_recorded(project, cluster):
    """50 tasks and one that reads them all, on Dask; the ledger says where each ran; a second run, and
    a run moved to the local executor, skip everything (the executor is not part of the fingerprint)."""
    square = "import sys; open(f'sq_{sys.argv[1]}.txt', 'w').write(str(int(sys.argv[1]) ** 2))"
    total = "import glob; open('total.txt', 'w').write(str(sum(int(open(f).read()) for f in glob.glob('sq_*.txt'))))"
    project.flow(_config(cluster) + f"""
def flow_main():
    parts = [sf.Task([{PY!r}, '-c', {square!r}, str(i)], outputs=f'sq_{{i}}.txt', uid=f'sq-{{i}}')
             for i in range(50)]
    sf.Task([{PY!r}, '-c', {total!r}], inputs=parts, outputs='total.txt', uid='total').result()
""")
    project.run("run", "main", check=True)
    assert project.read("total.txt") == str(sum(i * i for i in range(50)))
    attempts = _attempts(project)
    assert len(attempts) == 51
    assert {a["executor"] for a in attempts} == {"dask"}
    assert {a["status"] for a in attempts} == {"succeeded"}
    assert {a["host"] for a in attempts} == {HOST}
    assert all(a["pid"] and a["started_at"] and a["ended_at"] for a in attempts)
    # the output checks and hashes were done by the engine, as for local tasks
    files = project.query("SELECT count(*) AS n FROM files WHERE role = 'output' AND sha256 IS NOT NULL "
                          "AND task_id IN (SELECT id FROM tasks WHERE run_id = (SELECT max(id) FROM runs))")
    assert files[0]["n"] == 51

    project.run("run", "main", check=True)
    assert set(project.statuses().values()) == {"cached"}
    project.write("sflow.py", project.read("sflow.py").replace("'executor': 'dask'", "'executor': 'local'"))
    project.run("run", "main", check=True)
    assert set(project.statuses().values()) == {"cached"}


def test_local_and_dask_tasks_in_one_run(project, cluster):
    """Small tasks local, the heavy one on Dask, one ledger; stdout of the Dask task lands in its log file."""
    project.flow(_config(cluster, default="local") + f"""
def flow_main():
    prep = sf.Task([{PY!r}, '-c', "open('in.txt', 'w').write('21')"], outputs='in.txt', uid='prep')
    heavy = sf.Task([{PY!r}, '-c', "import os; print('on dask', os.getppid()); "
                     "open('mid.txt', 'w').write(str(2 * int(open('in.txt').read())))"],
                    inputs=prep, outputs='mid.txt', uid='heavy', executor='dask')
    sf.Task([{PY!r}, '-c', "open('out.txt', 'w').write(open('mid.txt').read() + '!')"],
            inputs=heavy, outputs='out.txt', uid='final').result()
""")
    project.run("run", "main", check=True)
    assert project.read("out.txt") == "42!"
    executors = {a["uid"]: a["executor"] for a in _attempts(project)}
    assert executors == {"prep": "local", "heavy": "dask", "final": "local"}
    heavy = [a for a in _attempts(project) if a["uid"] == "heavy"][0]
    stdout = (project.path / heavy["stdout_path"]).read_text()
    worker_pids = {str(p.pid) for p in cluster.workers.values()}
    assert stdout.startswith("on dask ") and stdout.split()[-1] in worker_pids


def test_a_watched_task_on_a_worker_calls_back_while_it_runs(project, cluster):
    """t.watch on Dask: the worker writes the log file, the engine follows it while the task runs (the
    task waits for a file only the callback makes)."""
    code = "print('loss=0.9', flush=True)\n" + wait_for_file("go", "print('loss=0.1')")
    project.flow(_config(cluster) + f"""
seen = []
def on_loss(event):
    seen.append(event.groups[0])
    open("go", "w").close()
def flow_main():
    sf.task({py_src(code)}, uid='w', watch=(r"loss=(\\S+)", on_loss)).result()
    open("seen.txt", "w").write(",".join(seen))
""")
    project.run("run", "main", check=True)
    assert project.read("seen.txt") == "0.9,0.1"
    assert _attempts(project)[0]["executor"] == "dask"
    rows = project.query("SELECT detail FROM events WHERE kind = 'watch' ORDER BY id")
    assert [json.loads(r["detail"])["groups"] for r in rows] == [["0.9"], ["0.1"]]


def test_task_resources_choose_a_worker_with_room(project, cluster):
    """cpus=3 fits only w0 (cpus=4); cpus=1 fits both. mem/gpus, declared by no worker, are ignored ('auto')."""
    project.flow(_config(cluster) + f"""
def flow_main():
    ts = [sf.Task([{PY!r}, '-c', "import os, sys; open(sys.argv[1], 'w').write(str(os.getppid()))", f'big_{{i}}.txt'],
                  outputs=f'big_{{i}}.txt', uid=f'big-{{i}}', cpus=3, mem='1G') for i in range(4)]
    sf.bag(ts)
""")
    project.run("run", "main", check=True)
    w0 = str(cluster.workers["w0"].pid)
    assert {project.read(f"big_{i}.txt") for i in range(4)} == {w0}


def test_a_killed_worker_loses_the_attempt_and_retry_reruns_it(project, cluster):
    """kill -9 of the worker running a task: that attempt is recorded as failed (the worker died), its
    command is gone, and the task's retry runs it again on the other worker; the run succeeds."""
    body = ("import os, sys\n"
            "n = len([f for f in os.listdir('.') if f.startswith('started_')]) + 1\n"
            "open(f'started_{n}', 'w').write(f'{os.getpid()} {os.getppid()}')\n"
            + wait_for_file("go", "open('out.txt', 'w').write(str(n))"))
    project.flow(_config(cluster) + f"""
def flow_main():
    sf.Task([{PY!r}, '-c', {body!r}], outputs='out.txt', uid='long', retry=1).result()
""")
    proc = project.popen("run", "main")
    pids: list[int] = []
    try:
        wait_until(lambda: project.exists("started_1") and project.read("started_1").strip(),
                   "the first attempt to start")  # created, then written: wait for its text
        pid, worker_pid = map(int, project.read("started_1").split())
        pids.append(pid)
        victim = next(name for name, p in cluster.workers.items() if p.pid == worker_pid)
        cluster.workers[victim].kill()
        cluster.workers[victim].wait()
        wait_until(lambda: process_gone(pid), "the command of the killed worker to die with it", timeout=30)
        wait_until(lambda: project.exists("started_2") and project.read("started_2").strip(),
                   "the retry to start on the other worker")
        pid2, worker2 = map(int, project.read("started_2").split())
        pids.append(pid2)
        assert worker2 != worker_pid
        (project.path / "go").touch()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers(pids)
    assert project.read("out.txt") == "2"
    attempts = _attempts(project)
    assert [(a["number"], a["status"], a["executor"]) for a in attempts] == [(1, "failed", "dask"),
                                                                             (2, "succeeded", "dask")]
    assert "died" in attempts[0]["error"], attempts[0]["error"]
    assert attempts[0]["pid"] == pid and attempts[1]["pid"] == pid2
    assert attempts[0]["started_at"] is not None


def test_ctrl_c_stops_the_commands_on_the_workers(project, cluster):
    """SIGINT to a run with four long Dask tasks running and two waiting: exit 130, the running
    attempts are recorded interrupted, the waiting ones never start, and no command is left on the workers."""
    body = ("import os, sys, time\n"
            "open(f'pid_{sys.argv[1]}', 'w').write(str(os.getpid()))\n"
            "time.sleep(100)\n")
    project.flow(_config(cluster) + f"""
def flow_main():
    sf.bag([sf.Task([{PY!r}, '-c', {body!r}, str(i)], outputs=f'o{{i}}', uid=f'long-{{i}}') for i in range(6)])
""")
    proc = project.popen("run", "main", "--classic")
    pids: list[int] = []
    try:
        def written():
            found = [p.read_text() for p in project.path.glob("pid_*")]
            return len(found) >= 4 and all(found) and [int(p) for p in found]

        pids = wait_until(written, "four tasks to run on the two workers", timeout=20)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, out + err
        assert "Traceback" not in out + err
        for pid in pids:
            wait_until(lambda pid=pid: process_gone(pid), f"command {pid} on a worker to end", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers(pids)
    statuses = project.statuses()
    assert sorted(statuses.values()).count("interrupted") == len(pids)
    assert set(statuses.values()) <= {"interrupted", "not-started"}
    # nothing started after the interrupt: every pid file was written before it
    assert len(list(project.path.glob("pid_*"))) == len(pids)


def test_a_local_cluster_when_no_address_is_given(project):
    """Without an address the run starts (and stops) a LocalCluster sized by the configuration."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        need_service("dask", False, "dask[distributed] is not installed (pip install 'scriptflow[dask]')")
    project.flow(f"""
sf.init({{'executor': 'dask', 'executors': {{'dask': {{'n_workers': 1, 'threads_per_worker': 2}}}}}})

def flow_main():
    ts = [sf.Task([{PY!r}, '-c', "import os, sys; open(sys.argv[1], 'w').write(str(os.getppid()))", f'o{{i}}'],
                  outputs=f'o{{i}}', uid=f't{{i}}') for i in range(3)]
    sf.bag(ts)
""")
    proc = project.run("run", "main", check=True)
    assert "Traceback" not in proc.stdout + proc.stderr
    worker_pids = {project.read(f"o{i}") for i in range(3)}
    assert len(worker_pids) == 1  # one worker process ran them all
    assert worker_pids != {str(os.getpid())}
    assert {a["executor"] for a in _attempts(project)} == {"dask"}
    wait_until(lambda: process_gone(int(worker_pids.pop())), "the LocalCluster worker to stop with the run")


def test_a_run_on_a_local_cluster_ends_without_walking_its_objects(project):
    """The LocalCluster starts ``multiprocessing``'s resource tracker, whose pipe stays open until
    the process ends: that is no file the flow left open, so the exit stays the quick one
    (scriptflow/run/teardown.py; ``FREED`` shows whether the flow's objects were freed)."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        need_service("dask", False, "dask[distributed] is not installed (pip install 'scriptflow[dask]')")
    from test_teardown import FREED
    project.flow(FREED + f"""
    sf.init({{'executor': 'dask', 'executors': {{'dask': {{'n_workers': 1, 'threads_per_worker': 1}}}}}})


    def flow_main():
        sf.bag(sf.Task([{PY!r}, '-c', "open('o.txt', 'w').write('x')"], outputs='o.txt', uid='t'))
    """)
    project.run("run", "main", check=True)
    assert project.read("o.txt") == "x" and {a["executor"] for a in _attempts(project)} == {"dask"}
    assert not project.exists("freed.txt")


LOCAL_FLOW = """
sf.init({{'executor': 'dask', 'executors': {{'dask': {{'n_workers': 1, 'threads_per_worker': 1}}}}}})

def flow_main():
    sf.bag(*[sf.Task([{py!r}, '-c', "import sys; open(sys.argv[1], 'w').write('x')", f'o{{i}}'],
                     outputs=f'o{{i}}', uid=f't{{i}}') for i in range(3)])
"""
STARTED = "a Dask LocalCluster started for the run's first attempt on it (1 workers)"


def _need_distributed() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        need_service("dask", False, "dask[distributed] is not installed (pip install 'scriptflow[dask]')")


def test_a_run_whose_tasks_are_up_to_date_starts_no_local_cluster(project):
    _need_distributed()
    project.flow(LOCAL_FLOW.format(py=PY))
    project.run("run", "main", check=True)
    assert project.read(".scriptflow/scriptflow.log").count(STARTED) == 1
    project.run("run", "main", check=True)
    assert set(project.statuses().values()) == {"cached"}
    assert project.read(".scriptflow/scriptflow.log").count(STARTED) == 1  # the no-op started none
    project.run("run", "main", "-f", "t1", check=True)
    assert project.read(".scriptflow/scriptflow.log").count(STARTED) == 2


def test_a_local_cluster_that_cannot_start_fails_each_attempt_with_one_reason(project):
    """A real start failure: Dask's temporary folder cannot be made. Every attempt fails with the
    same reason (the start is tried once), the run exits 1, and nothing is a traceback."""
    _need_distributed()
    project.flow(LOCAL_FLOW.format(py=PY))
    proc = project.run("run", "main", "-k", check=False, env={"DASK_TEMPORARY_DIRECTORY": "/proc/no-such-folder"})
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    errors = {a["error"] for a in _attempts(project)}
    assert len(errors) == 1 and len(_attempts(project)) == 3, errors
    (error,) = errors
    assert error.startswith("submission failed: the Dask LocalCluster cannot start: ") and "/proc/no-such-folder" \
        in error and "\n" not in error, error
    assert project.read(".scriptflow/scriptflow.log").count(STARTED) == 0


@pytest.mark.parametrize("settings, message", [
    ({"address": "tcp://127.0.0.1:9", "connect_timeout": 1}, "cannot connect to the Dask scheduler at tcp://127.0.0.1:9"),
    ({"address": "tcp://127.0.0.1:9", "n_workers": 2}, "executors.dask.n_workers configures the LocalCluster"),
    ({"resources": "sometimes"}, "executors.dask.resources must be one of 'auto', 'always', 'never'"),
])
def test_bad_dask_settings_are_one_line_errors(project, settings, message):
    project.flow(f"sf.init({{'executor': 'dask', 'executors': {{'dask': {settings!r}}}}})\n"
                 f"def flow_main():\n    sf.Task([{PY!r}, '-c', 'pass']).result()\n")
    proc = project.run("run", "main", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"scriptflow: error: {message}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_without_dask_installed_the_error_says_what_to_install(project, tmp_path):
    """Dask made unimportable (a module that raises ImportError first on the path): the dask executor
    fails with one line naming the extra; `scriptflow executors` still lists it; local runs are unaffected."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    for name in ("dask", "distributed"):
        (shadow / f"{name}.py").write_text("raise ImportError('not installed here')\n")
    env = {"PYTHONPATH": str(shadow)}
    project.flow("def flow_main():\n"
                 f"    sf.Task({py_src('pass')}, executor='dask', uid='d').result()\n"
                 "def flow_local():\n"
                 f"    sf.Task({py_src('pass')}, uid='l').result()\n")
    proc = project.run("run", "main", check=False, env=env)
    assert proc.returncode != 0
    assert ": the dask executor needs Dask distributed: pip install 'scriptflow[dask]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    project.run("run", "local", check=True, env=env)
    listing = project.run("executors", "dask", "--json", check=True, env=env)
    doc = json.loads(listing.stdout)
    doc = doc[0] if isinstance(doc, list) else doc
    assert {s["name"] for s in doc["settings"]} >= {"address", "n_workers", "threads_per_worker", "resources",
                                                    "dask_retries", "work_stealing"}


def test_dask_resources_mapping():
    from scriptflow.executors.dask_settings import dask_resources

    asked = {"cpus": 2, "gpus": 1, "mem": "1G", "time": "1:00:00"}
    assert dask_resources(asked, "auto", {"cpus"}) == {"cpus": 2.0}
    assert dask_resources(asked, "always", set()) == {"cpus": 2.0, "gpus": 1.0, "mem": float(2 ** 30)}
    assert dask_resources(asked, "never", {"cpus", "gpus", "mem"}) == {}
    with pytest.raises(ValueError, match="cpus must be a positive number"):
        dask_resources({"cpus": "many"}, "always", set())


def test_a_killed_run_leaves_no_command_on_the_workers_and_the_next_run_finishes(project, cluster):
    """kill -9 of `scriptflow run` while a Dask task runs: the scheduler drops the dead client's tasks,
    the worker stops the command (nothing left to write the outputs), and the next run redoes the task."""
    body = ("import os, sys, time\n"
            "if not os.path.exists('quick'):\n"
            "    open('pid.tmp', 'w').write(str(os.getpid())); os.replace('pid.tmp', 'pid')\n"
            "    time.sleep(100)\n"
            "open('out.txt', 'w').write('done')\n")
    project.flow(_config(cluster) + f"""
def flow_main():
    sf.Task([{PY!r}, '-c', {body!r}], outputs='out.txt', uid='long').result()
""")
    proc = project.popen("run", "main")
    pid = None
    try:
        wait_until(lambda: project.exists("pid"), "the task to start on a worker")
        pid = int(project.read("pid"))
        # The worker's start event reaches the run after the command has begun: kill once the
        # ledger holds the pid (killed sooner, the run dies before it could record it).
        wait_until(lambda: [a["pid"] for a in project.query("SELECT pid FROM attempts WHERE run_id = 1")] == [pid],
                   "the run to record the command's pid")
        proc.kill()
        proc.wait()
        wait_until(lambda: process_gone(pid), "the command of the killed run to be stopped by its worker", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers([pid] if pid else [])
    assert not project.exists("out.txt")
    (project.path / "quick").touch()
    project.run("run", "main", check=True)
    assert project.read("out.txt") == "done"
    runs = project.query("SELECT status FROM runs ORDER BY id")
    assert [r["status"] for r in runs] == ["lost", "succeeded"]
    first = project.query("SELECT status, executor, pid FROM attempts WHERE run_id = 1")
    assert [(a["status"], a["executor"], a["pid"]) for a in first] == [("lost", "dask", pid)]


def test_resume_reruns_only_what_failed_on_dask(project, cluster):
    """`scriptflow resume` after a failed Dask task: the succeeded one is skipped, the failed one reruns."""
    project.flow(_config(cluster) + f"""
def flow_main():
    a = sf.Task([{PY!r}, '-c', "open('a.txt', 'w').write('a')"], outputs='a.txt', uid='a')
    sf.Task([{PY!r}, '-c', "import os, sys; sys.exit(0 if os.path.exists('ok') else 3); "],
            inputs=a, outputs=[], uid='b').result()
""")
    proc = project.run("run", "main", check=False)
    assert project.statuses() == {"a": "succeeded", "b": "failed"}, proc.stdout + proc.stderr
    assert project.query("SELECT error FROM attempts WHERE run_id = 1 AND exit_code = 3")[0]["error"] == "exit code 3"
    (project.path / "ok").touch()
    project.run("resume", check=True)
    assert project.statuses() == {"a": "cached", "b": "succeeded"}


def _bad_failed(project) -> bool:
    try:
        return bool(project.query("SELECT 1 FROM attempts a JOIN tasks t ON t.id = a.task_id "
                                  "WHERE t.uid = 'bad' AND a.status = 'failed'"))
    except sqlite3.OperationalError:  # the run has not created its ledger yet
        return False


def test_a_failure_stops_the_attempts_dask_has_not_started(project, cluster):
    """Without --keep-going, a failed Dask task cancels the attempts still waiting in Dask (they never
    start, recorded not-started); the one already running finishes. The slow tasks ask cpus=3, so only
    w0 takes them, one at a time; the bad one (a missing program, which fails as it does locally) runs
    meanwhile. It waits for a local gate task that ends once a slow task has started: otherwise the bad
    one could fail before Dask started any slow one, and none would be running to finish."""
    slow = "open('running', 'w').close()\n" + wait_for_file("go", "open(sys.argv[1], 'w').write('x')")
    gate = wait_for_file("running")
    project.flow(_config(cluster) + f"""
def flow_main():
    gate = sf.Task([{PY!r}, '-c', {gate!r}], uid='gate', executor='local').start()
    bad = sf.Task(['no-such-program-here'], uid='bad', deps=gate).start()
    rest = [sf.Task([{PY!r}, '-c', {slow!r}, f's{{i}}'], outputs=f's{{i}}', uid=f'slow-{{i}}', cpus=3).start()
            for i in range(8)]
    sf.bag(bad, *rest)
""")
    proc = project.popen("run", "main")
    try:
        wait_until(lambda: _bad_failed(project), "the bad task to fail")
        (project.path / "go").touch()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    bad = [a for a in _attempts(project) if a["uid"] == "bad"][0]
    assert bad["exit_code"] is None
    assert bad["error"].startswith("cannot start command on ") and "no-such-program-here" in bad["error"]
    statuses = project.statuses()
    assert statuses["gate"] == "succeeded"
    slow_statuses = {uid: s for uid, s in statuses.items() if uid.startswith("slow-")}
    ran = [uid for uid, s in slow_statuses.items() if s == "succeeded"]
    assert len(ran) == 1  # the one w0 was running
    assert {s for uid, s in slow_statuses.items() if uid not in ran} == {"not-started"}
    assert not any(project.exists(f"s{i}") for i in range(8) if f"slow-{i}" not in ran)


def test_with_dask_retries_dask_reruns_the_attempt_of_a_killed_worker(project, cluster):
    """dask_retries = 1: Dask runs the attempt again on the other worker, inside the same attempt (one row
    in the ledger, no retry needed); the attempt's .runs file lists both executions."""
    body = ("import os, sys\n"
            "n = len([f for f in os.listdir('.') if f.startswith('started_')]) + 1\n"
            "open(f'started_{n}', 'w').write(f'{os.getpid()} {os.getppid()}')\n"
            + wait_for_file("go", "open('out.txt', 'w').write(str(n))"))
    project.flow(_config(cluster, dask_retries=1) + f"""
def flow_main():
    sf.Task([{PY!r}, '-c', {body!r}], outputs='out.txt', uid='long').result()
""")
    proc = project.popen("run", "main")
    pids: list[int] = []
    try:
        # The file is created, then written: wait for its text, not for the file.
        wait_until(lambda: project.exists("started_1") and project.read("started_1").strip(), "the attempt to start")
        pid, worker_pid = map(int, project.read("started_1").split())
        pids.append(pid)
        victim = next(name for name, p in cluster.workers.items() if p.pid == worker_pid)
        cluster.workers[victim].kill()
        cluster.workers[victim].wait()
        wait_until(lambda: project.exists("started_2") and project.read("started_2").strip(),
                   "Dask to run it again on the other worker")
        pids.append(int(project.read("started_2").split()[0]))
        (project.path / "go").touch()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_leftovers(pids)
    assert process_gone(pids[0])
    assert project.read("out.txt") == "2"
    [attempt] = _attempts(project)
    assert (attempt["number"], attempt["status"]) == (1, "succeeded")
    runs = (project.path / (attempt["stderr_path"] + ".runs")).read_text().splitlines()
    assert len(runs) == 2
