"""The task API: keyword and chained styles, shell or not, plain flows with futures, bag, sf.init."""
from __future__ import annotations

import json
import os
import shlex
import subprocess

from conftest import PY, py, py_src, wait_for_file


def _attempt_rows(project, uid: str) -> list:
    return project.query(
        "SELECT a.* FROM attempts a JOIN tasks t ON t.id = a.task_id WHERE t.uid = ? AND a.run_id = ? "
        "ORDER BY a.number",
        (uid, project.last_run()["id"]),
    )


def test_keyword_style_string_command_is_split_and_runs_without_a_shell(project):
    code = "import sys; open('a.txt', 'w').write(open('b.txt').read() + '|' + sys.argv[1])"
    cmd = f"{shlex.quote(PY)} -c {shlex.quote(code)} $HOME"
    project.write("b.txt", "from-b")
    project.flow(f"""
        def flow_kw():
            t = sf.Task(cmd={cmd!r}, outputs="a.txt", inputs=["b.txt"], name="solve-1", shell=False, quiet=True)
            t.result()
    """)
    proc = project.run("run", "kw", check=True)
    # no shell: $HOME reaches the program literally
    assert project.read("a.txt") == "from-b|$HOME"
    task = project.tasks()["solve-1"]
    assert task["status"] == "succeeded"
    assert task["shell"] == 0
    assert json.loads(task["command"]) == [PY, "-c", code, "$HOME"]
    inputs = project.query("SELECT path FROM files WHERE task_id = ? AND role = 'input'", (task["id"],))
    assert [r["path"] for r in inputs] == ["b.txt"]
    # quiet: no per-event lines for it
    assert not [line for line in proc.stdout.splitlines() if "solve-1" in line]


def test_shell_true_runs_through_a_shell(project):
    project.flow("""
        def flow_sh():
            sf.Task(cmd="echo $HOME | tr a-z A-Z > s.txt", outputs="s.txt", name="sh", shell=True).result()
    """)
    project.run("run", "sh", check=True)
    assert project.read("s.txt") == os.environ["HOME"].upper() + "\n"
    task = project.tasks()["sh"]
    assert task["shell"] == 1
    assert json.loads(task["command"]) == "echo $HOME | tr a-z A-Z > s.txt"


def test_chained_setters_retry_outputs_and_add_deps(project):
    flaky = (
        "import os, sys\n"
        "n = int(open('count').read()) + 1 if os.path.exists('count') else 1\n"
        "open('count', 'w').write(str(n))\n"
        "if n < 2: sys.exit(1)\n"
        "open('b.txt', 'w').write(open('a.txt').read() + 'b')\n"
    )
    project.flow(f"""
        import json
        def flow_chain():
            a = sf.Task({py_src("open('a.txt', 'w').write('a')")}).output("a.txt").uid("make-a")
            b = sf.Task({py_src(flaky)}).output("b.txt").uid("make-b").set_retry(1).add_deps([a])
            two = sf.Task({py_src("open('x.txt', 'w').write('x'); open('y.txt', 'w').write('y')")},
                          outputs=["x.txt", "y.txt"], name="two")
            b.result()
            two.result()
            json.dump({{"b_outputs": b.get_outputs(), "two_outputs": two.get_outputs(),
                       "output_file": b.output_file, "uid": b.uid(), "name": b.name, "status": b.status}},
                      open("obs.json", "w"))
    """)
    project.run("run", "chain", check=True)
    assert project.read("b.txt") == "ab"
    obs = json.loads(project.read("obs.json"))
    assert obs == {"b_outputs": ["b.txt"], "two_outputs": ["x.txt", "y.txt"], "output_file": "b.txt",
                   "uid": "make-b", "name": "make-b", "status": "succeeded"}
    tasks = project.tasks()
    assert tasks["make-b"]["max_retries"] == 1
    assert [r["status"] for r in _attempt_rows(project, "make-b")] == ["failed", "succeeded"]
    # add_deps on a task object that was never started: it was started and waited for
    a_attempt, = _attempt_rows(project, "make-a")
    b_first = _attempt_rows(project, "make-b")[0]
    assert b_first["started_at"] >= a_attempt["ended_at"]


def test_plain_flow_start_returns_at_once_and_result_blocks(project):
    waiter = wait_for_file("go", "open('out.txt', 'w').write('done')")
    project.flow(f"""
        import json, os
        import concurrent.futures as cf
        def flow_plain():
            t = sf.Task({py_src(waiter)}, outputs="out.txt", name="waiter")
            obs = {{"status_before": t.status}}
            returned = t.start()
            # the task cannot finish before the flow creates "go": start() did not wait for it
            obs.update(start_returns_task=returned is t, is_future=isinstance(t, cf.Future),
                       done_after_start=t.done(), out_after_start=os.path.exists("out.txt"))
            open("go", "w").close()
            obs["result_is_task"] = t.result() is t
            obs.update(done_after_result=t.done(), out_after_result=open("out.txt").read(),
                       exception=repr(t.exception()), status_after=t.status)
            seen = []
            t.add_done_callback(lambda f: seen.append(f is t))
            obs["callback"] = seen
            json.dump(obs, open("obs.json", "w"))
    """)
    project.run("run", "plain", check=True)
    assert json.loads(project.read("obs.json")) == {
        "status_before": "created", "start_returns_task": True, "is_future": True,
        "done_after_start": False, "out_after_start": False,
        "result_is_task": True, "done_after_result": True, "out_after_result": "done",
        "exception": "None", "status_after": "succeeded", "callback": [True],
    }


def test_tasks_run_concurrently_and_concurrent_futures_wait_works(project):
    # each task needs the other to be running at the same time (a rendezvous)
    a = "open('a.ready', 'w').close()\n" + wait_for_file("b.ready", "open('a.txt', 'w').write('a')")
    b = "open('b.ready', 'w').close()\n" + wait_for_file("a.ready", "open('b.txt', 'w').write('b')")
    project.flow(f"""
        import json
        import concurrent.futures as cf
        def flow_pair():
            a = sf.Task({py_src(a)}, outputs="a.txt", name="a").start()
            b = sf.Task({py_src(b)}, outputs="b.txt", name="b").start()
            done, not_done = cf.wait([a, b])
            json.dump({{"done": sorted(t.name for t in done), "not_done": len(not_done),
                       "files": [open("a.txt").read(), open("b.txt").read()]}}, open("obs.json", "w"))
    """)
    project.run("run", "pair", "-j", "2", check=True)
    assert json.loads(project.read("obs.json")) == {"done": ["a", "b"], "not_done": 0, "files": ["a", "b"]}
    assert project.statuses() == {"a": "succeeded", "b": "succeeded"}


def test_bag_blocks_in_a_plain_flow(project):
    project.flow(f"""
        import json
        def flow_bagged():
            t1 = sf.Task({py_src("open('1.txt', 'w').write('1')")}, outputs="1.txt", name="one")
            t2 = sf.Task({py_src("open('2.txt', 'w').write('2')")}, outputs="2.txt", name="two")
            got = sf.bag(t1, t2)          # starts them too
            json.dump({{"got": [t.name for t in got], "done": [t1.done(), t2.done()],
                       "files": [open("1.txt").read(), open("2.txt").read()]}}, open("obs.json", "w"))
    """)
    project.run("run", "bagged", check=True)
    assert json.loads(project.read("obs.json")) == {"got": ["one", "two"], "done": [True, True], "files": ["1", "2"]}


def test_bag_and_tasks_are_awaitable_in_an_async_flow(project):
    total = "open('sum.txt', 'w').write(str(int(open('1.txt').read()) + int(open('2.txt').read())))"
    project.flow(f"""
        import json
        async def flow_bagged():
            t1 = sf.Task({py_src("open('1.txt', 'w').write('1')")}, outputs="1.txt", name="one")
            t2 = sf.Task({py_src("open('2.txt', 'w').write('2')")}, outputs="2.txt", name="two")
            got = await sf.bag(t1, t2)
            obs = {{"got": [t.name for t in got], "done": [t1.done(), t2.done()]}}
            s = sf.Task({py_src(total)}, outputs="sum.txt", name="sum").add_deps([t1.output_file, t2.output_file])
            obs["awaited_is_task"] = (await s) is s
            json.dump(obs, open("obs.json", "w"))
    """)
    project.run("run", "bagged", check=True)
    assert json.loads(project.read("obs.json")) == {"got": ["one", "two"], "done": [True, True],
                                                    "awaited_is_task": True}
    assert project.read("sum.txt") == "3"


def test_unknown_init_key_is_a_one_line_error_naming_it(project):
    project.flow(f"""
        sf.init({{"executors": {{"local": {{"maxsize": 2}}}}, "debug": True, "colour_scheme": "dark"}})
        def flow_x():
            sf.Task({py_src("open('x.txt', 'w').write('x')")}, outputs="x.txt", name="x").result()
    """)
    proc = project.run("run", "x", check=False)
    assert proc.returncode == 2
    assert "colour_scheme" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not project.exists("x.txt")


def test_importing_sflow_outside_a_run_does_nothing(project):
    # tasks re-import sflow.py in child processes: sf.init at module level must stay cheap
    project.flow(f"""
        sf.init({{"executors": {{"local": {{"maxsize": 5}}}}, "debug": True}})
        def flow_x():
            sf.Task({py_src("open('x.txt', 'w').write('x')")}, outputs="x.txt", name="x").result()
    """)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(py("import sflow; print('imported')"), cwd=project.path, capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "imported\n"
    assert sorted(p.name for p in project.path.iterdir()) == ["sflow.py"]


def test_cwd_and_env_options(project):
    project.write("sub/keep", "")
    code = "import os; open('o.txt', 'w').write(os.environ['GREETING'] + ' from ' + os.path.basename(os.getcwd()))"
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(code)}, outputs="o.txt", cwd="sub", env={{"GREETING": "hi"}}, name="t").result()
    """)
    project.run("run", "main", check=True)
    assert project.read("sub/o.txt") == "hi from sub"
    task = project.tasks()["t"]
    assert task["cwd"] == "sub"
    assert json.loads(task["env"]) == {"GREETING": "hi"}
    outputs = project.query("SELECT path FROM files WHERE task_id = ? AND role = 'output'", (task["id"],))
    assert [r["path"] for r in outputs] == ["sub/o.txt"]
    # an environment change reruns the task
    project.flow(f"""
        def flow_main():
            sf.Task({py_src(code)}, outputs="o.txt", cwd="sub", env={{"GREETING": "hello"}}, name="t").result()
    """)
    project.run("run", "main", check=True)
    assert project.reasons() == {"t": "definition-changed"}
    assert project.read("sub/o.txt") == "hello from sub"
