"""Bad input: clear one-line messages with file and line, meaningful exit codes, never a traceback."""
from __future__ import annotations

import subprocess

from conftest import py_src


def _no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout


def test_missing_flow_file(project):
    proc = project.run("run", "anything")
    assert proc.returncode == 2
    assert "sflow.py" in proc.stderr
    _no_traceback(proc)
    assert not project.exists(".scriptflow")
    proc = project.run("list")
    assert proc.returncode == 2
    assert "sflow.py" in proc.stderr
    _no_traceback(proc)


def test_syntax_error_names_file_and_line(project):
    project.write("sflow.py", "import scriptflow as sf\n\nx = 1\ndef flow_x(:\n    pass\n")
    proc = project.run("run", "x")
    assert proc.returncode == 2
    assert "sflow.py:4" in proc.stderr
    assert "syntax" in proc.stderr.lower()
    assert len(proc.stderr.strip().splitlines()) == 1
    _no_traceback(proc)


def test_exception_at_import_names_file_and_line(project):
    project.write("sflow.py", "import scriptflow as sf\n\nSETTING = {}\nvalue = SETTING['missing-key']\n")
    proc = project.run("run", "x")
    assert proc.returncode == 2
    assert "sflow.py:4" in proc.stderr
    assert "KeyError" in proc.stderr and "missing-key" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    _no_traceback(proc)


def test_exception_raised_inside_the_flow_names_file_and_line(project):
    project.write("sflow.py", (
        "import scriptflow as sf\n"
        "\n"
        "def helper(n):\n"
        "    return 10 // n\n"
        "\n"
        "def flow_boom():\n"
        "    return helper(0)\n"
    ))
    proc = project.run("run", "boom")
    assert proc.returncode == 1
    shown = proc.stdout + proc.stderr
    assert "sflow.py:4" in shown
    assert "ZeroDivisionError" in shown
    _no_traceback(proc)
    run = project.last_run()
    assert run["status"] == "failed"
    assert "sflow.py:4" in run["error"] and "ZeroDivisionError" in run["error"]


def test_exception_raised_inside_an_async_flow_names_file_and_line(project):
    project.write("sflow.py", (
        "import scriptflow as sf\n"
        "\n"
        "async def flow_boom():\n"
        "    settings = {}\n"
        "    return settings['async-oops']\n"
    ))
    proc = project.run("run", "boom")
    assert proc.returncode == 1
    shown = proc.stdout + proc.stderr
    assert "sflow.py:5" in shown and "KeyError" in shown and "async-oops" in shown
    _no_traceback(proc)


def test_unknown_key_in_pyproject_names_the_key(project):
    project.flow("""
        def flow_x():
            pass
    """)
    project.write("pyproject.toml", "[tool.scriptflow]\nparallelism = 4\n")
    proc = project.run("run", "x")
    assert proc.returncode == 2
    assert "parallelism" in proc.stderr and "pyproject.toml" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    _no_traceback(proc)


def test_exception_in_the_flow_after_tasks_started(project):
    cmd = py_src("open('a.txt', 'w').write('a')")
    project.write("sflow.py", (
        "import scriptflow as sf\n"
        f"CMD = {cmd}\n"
        "def flow_boom():\n"
        "    sf.Task(CMD, outputs='a.txt', name='a').result()\n"
        "    raise RuntimeError('flow gave up')\n"
    ))
    proc = project.run("run", "boom")
    assert proc.returncode == 1
    assert "sflow.py:5" in proc.stdout + proc.stderr
    assert "flow gave up" in proc.stdout + proc.stderr
    _no_traceback(proc)
    assert project.statuses() == {"a": "succeeded"}


def test_unknown_flow_lists_the_available_ones(project):
    project.flow("""
        def flow_alpha():
            pass

        async def flow_beta():
            pass
    """)
    proc = project.run("run", "gamma")
    assert proc.returncode == 2
    assert "gamma" in proc.stderr
    assert "alpha" in proc.stderr and "beta" in proc.stderr
    _no_traceback(proc)


def test_list_shows_flows_with_the_first_line_of_their_docstrings(project):
    project.flow('''
        def flow_alpha():
            """Make the alpha files.

            More detail that list does not show.
            """

        async def flow_beta():
            """Sum everything up."""

        def flow_plain():
            pass

        def helper():
            """Not a flow."""
    ''')
    proc = project.run("list", check=True)
    lines = proc.stdout.splitlines()
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == {"alpha", "beta", "plain"}
    assert by_name["alpha"].endswith("Make the alpha files.")
    assert by_name["beta"].endswith("Sum everything up.")
    assert "More detail" not in proc.stdout
    assert "helper" not in proc.stdout
    _no_traceback(proc)


def test_file_option_chooses_another_flow_file(project):
    project.write("other.py", f"""
        import scriptflow as sf
        def flow_x():
            \"\"\"From other.py.\"\"\"
            sf.Task({py_src("open('x.txt', 'w').write('other')")}, outputs="x.txt", name="x").result()
    """)
    proc = project.run("list", "--file", "other.py", check=True)
    assert "From other.py." in proc.stdout
    project.run("run", "x", "--file", "other.py", check=True)
    assert project.read("x.txt") == "other"
    assert project.last_run()["flow_file"] == "other.py"
    proc = project.run("run", "x", "--file", "missing.py")
    assert proc.returncode == 2
    assert "missing.py" in proc.stderr
    _no_traceback(proc)


def test_directory_option_runs_as_if_started_there(project):
    project.write("sub/sflow.py", f"""
        import scriptflow as sf
        def flow_x():
            \"\"\"In sub.\"\"\"
            sf.Task({py_src("open('x.txt', 'w').write('sub')")}, outputs="x.txt", name="x").result()
    """)
    proc = project.run("list", "-C", "sub", check=True)
    assert "In sub." in proc.stdout
    project.run("run", "x", "-C", "sub", check=True)
    assert project.read("sub/x.txt") == "sub"
    assert project.exists("sub/.scriptflow/ledger.db")
    assert sorted(p.name for p in project.path.iterdir()) == ["sub"]
    project.run("run", "x", "--directory", "sub", check=True)
    sub = type(project)(project.path / "sub")
    assert sub.statuses() == {"x": "cached"}
    proc = project.run("run", "x", "-C", "nowhere")
    assert proc.returncode == 2
    assert "nowhere" in proc.stderr
    _no_traceback(proc)


def test_two_tasks_with_one_uid_is_a_clear_error(project):
    project.write("sflow.py", (
        "import scriptflow as sf\n"
        "def flow_dup():\n"
        f"    sf.Task({py_src('pass')}, name='same').start()\n"
        f"    sf.Task({py_src('print(1)')}, name='same').start()\n"
    ))
    proc = project.run("run", "dup")
    assert proc.returncode != 0
    assert "'same'" in proc.stderr or '"same"' in proc.stderr
    assert "sflow.py:4" in proc.stderr      # a user code error: file and line, like any other
    _no_traceback(proc)
    assert project.last_run()["status"] == "failed"
