"""``scriptflow bundle``: one scriptflow.pyz file, run by a plain Python that has no scriptflow.

The archive is built once per module by the installed ``scriptflow`` command,
then run with the base interpreter (not this virtualenv's) in isolated mode
(``-I``: no user site, no PYTHONPATH) and an environment without the
virtualenv, as on a cluster where pip is not available. The README example
runs through it, twice (the second run all cached).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO, Project

from scriptflow.bundle.contents import _from_record, collect
from scriptflow.bundle.requirements import applies, environment, parse
from scriptflow.errors import BundleError

EXAMPLE = REPO / "examples" / "simple-local"


def _without_scriptflow() -> str | None:
    """A Python on this machine that cannot import scriptflow in isolated mode, or None."""
    for candidate in (getattr(sys, "_base_executable", None), "/usr/bin/python3"):
        if not candidate or not os.path.exists(candidate):
            continue
        probe = subprocess.run([candidate, "-I", "-c", "import scriptflow"], capture_output=True, text=True,
                               env={"PATH": "/usr/bin:/bin"})
        if probe.returncode != 0 and "No module named 'scriptflow'" in probe.stderr:
            return candidate
    return None


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The built archive, a Python without scriptflow, and an environment without the virtualenv."""
    python = _without_scriptflow()
    if python is None:
        pytest.skip("no Python without scriptflow on this machine (the base interpreter has it installed)")
    root = tmp_path_factory.mktemp("bundle")
    archive = root / "scriptflow.pyz"
    built = subprocess.run(["scriptflow", "bundle", str(archive)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    assert f"wrote {archive}" in built.stdout
    # The example's tasks run `python`: on the cluster that is the plain Python, not a virtualenv's.
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(python)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(root), "LANG": "C.UTF-8"}
    return {"python": python, "archive": archive, "env": env}


def _pyz(plain: dict, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([plain["python"], "-I", str(plain["archive"]), *args], cwd=cwd, env=plain["env"],
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def test_the_readme_example_runs_from_the_pyz_with_a_python_without_scriptflow(plain, tmp_path):
    project = Project(tmp_path / "simple-local")
    shutil.copytree(EXAMPLE, project.path)
    # The interpreter really has no scriptflow: without the archive, the flow cannot even be imported
    # (not in isolated mode, nor as the example's `final` task imports it).
    for argv in (["-I", "-c", "import scriptflow"], ["-c", "import sflow"]):
        bare = subprocess.run([plain["python"], *argv], cwd=project.path, env=plain["env"],
                              capture_output=True, text=True)
        assert bare.returncode != 0 and "No module named 'scriptflow'" in bare.stderr, argv

    first = _pyz(plain, project.path, "run", "sleepit")
    assert "Traceback" not in first.stderr
    assert project.read("final.txt").strip() == "9"       # `final` ran `python -c "import sflow"`
    assert project.read("test_1.txt") == "5" and project.read("test_2.txt") == "4"
    assert project.exists(".scriptflow/ledger.db")
    assert project.last_run()["status"] == "succeeded"
    assert project.statuses() == {"solve-1": "succeeded", "solve-2": "succeeded", "final": "succeeded"}

    second = _pyz(plain, project.path, "run", "sleepit")
    assert "all 3 tasks up to date" in second.stdout
    assert project.statuses() == {"solve-1": "cached", "solve-2": "cached", "final": "cached"}

    report = _pyz(plain, project.path, "report", "final.txt")
    assert "final" in report.stdout and "solve-1" in report.stdout and "solve-2" in report.stdout

    again = _pyz(plain, project.path, "bundle", "copy.pyz", check=False)
    assert again.returncode == 2 and "already a single-file archive" in again.stderr
    assert "Traceback" not in again.stderr and not project.exists("copy.pyz")

    helped = _pyz(plain, project.path, "--help")
    assert "Usage: scriptflow" in helped.stdout and "bundle" in helped.stdout
    version = _pyz(plain, project.path, "--version")
    assert "single-file scriptflow" in version.stdout and "click " in version.stdout
    assert str(plain["archive"]) in version.stdout


def test_function_tasks_and_the_schema_work_from_the_pyz(plain, tmp_path):
    """sf.call runs `python -m scriptflow.callee` with the plain Python: it finds the archive's scriptflow."""
    project = Project(tmp_path)
    project.flow("""
        def double(x):
            return 2 * x

        def flow_calls():
            t = sf.call(double, 21)
            assert t.result().value == 42
            sf.Task(["python", "-c", "open('v.txt', 'w').write('ok')"], outputs="v.txt", name="v").result()
    """)
    _pyz(plain, project.path, "run", "calls")
    assert project.read("v.txt") == "ok"
    assert set(project.statuses().values()) == {"succeeded"}
    # the ledger got every migration from the SQL files inside the archive
    assert project.query("PRAGMA user_version")[0][0] == len(list((REPO / "schema" / "migrations").glob("*.sql")))


def test_slurm_jobs_import_the_archives_scriptflow(plain, tmp_path):
    """On a cluster the jobs get the submitting environment, so an sf.call job finds the archive."""
    from hpc_helpers import need_scheduler, tag, write_flow

    need_scheduler("slurm")
    project = Project(tmp_path)
    uid = tag()
    write_flow(project, "slurm", default=True, body=f"""
        def double(x):
            return 2 * x

        def flow_calls():
            assert sf.call(double, 21).set_uid({uid + "-call"!r}).result().value == 42
    """)
    env = dict(plain["env"])
    env["PATH"] = f"{os.path.dirname(shutil.which('sbatch') or '/usr/bin')}{os.pathsep}{env['PATH']}"
    env.update({k: v for k, v in os.environ.items() if k.startswith(("SLURM_CONF", "SCRIPTFLOW_SERVICES"))})
    proc = subprocess.run([plain["python"], "-I", str(plain["archive"]), "run", "calls"], cwd=project.path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = project.query("SELECT a.job_id, a.executor FROM attempts a JOIN tasks t ON t.id = a.task_id "
                        "WHERE t.uid = ?", (uid + "-call",))[0]
    assert row["executor"] == "slurm" and row["job_id"]


def test_the_archive_is_an_executable_zipapp_holding_the_schema(plain):
    archive: Path = plain["archive"]
    assert archive.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(archive, os.X_OK)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert "__main__.py" in names and "BUNDLE.txt" in names
        assert "scriptflow/schema/migrations/001_initial.sql" in names
        assert "rich/__init__.py" in names and "sqlite_utils/__init__.py" in names
        assert not [n for n in names if n.endswith((".so", ".pyc"))]
        assert not [n for n in names if n.startswith("pip/")]   # left out: sqlite-utils' `install` only


def test_the_dask_executor_is_not_in_the_bundle(plain, tmp_path):
    project = Project(tmp_path)
    project.flow("""
        sf.init({"executor": "dask"})

        def flow_d():
            sf.Task(["python", "-c", "pass"], name="x").result()
    """)
    failed = _pyz(plain, project.path, "run", "d", check=False)
    assert failed.returncode != 0
    assert "Traceback" not in failed.stderr
    assert "single-file scriptflow" in failed.stderr and "scriptflow[dask]" in failed.stderr


def test_a_python_older_than_the_bundle_needs_gets_one_line(tmp_path):
    """An archive whose requirements need a newer Python refuses to start on this one. No older Python is
    at hand, so the archive is staged claiming to need Python 99.0 (the real __main__, the real zipapp)."""
    import zipapp

    from scriptflow.bundle.archive import _stage

    contents = collect()
    contents.needs_python = "99.0"
    _stage(tmp_path / "app", contents)
    zipapp.create_archive(tmp_path / "app", tmp_path / "new.pyz")
    proc = subprocess.run([sys.executable, "-I", str(tmp_path / "new.pyz"), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("scriptflow: error: this single-file scriptflow needs Python 99.0 or newer")
    assert proc.stderr.count("\n") == 1


def test_bundle_into_a_directory_is_one_line_error(project):
    (project.path / "out").mkdir()
    failed = project.run("bundle", "out", check=False)
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    assert failed.stderr.startswith("scriptflow: error: out is a directory")
    assert failed.stderr.strip().count("\n") == 0
    missing = project.run("bundle", "no/such/folder/scriptflow.pyz", check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("scriptflow: error: cannot write")
    assert missing.stderr.strip().count("\n") == 0


def test_every_runtime_requirement_is_pure_python_and_found():
    contents = collect()
    names = {d.name.lower() for d in contents.distributions}
    assert {"scriptflow", "click", "rich", "tabulate", "filelock", "sqlite-utils", "concurrent-log-handler",
            "portalocker", "markdown-it-py", "mdurl", "pygments"} <= names
    assert not {"pytest", "dask", "distributed", "pip"} & names   # extras and pip stay out
    own = next(d for d in contents.distributions if d.name == "scriptflow")
    assert "scriptflow/schema/migrations/001_initial.sql" in own.files


def test_a_requirement_with_compiled_code_stops_the_build_naming_it():
    compiled = next((d for d in metadata.distributions()
                     if any(str(f).endswith(".so") for f in (d.files or []))), None)
    if compiled is None:
        pytest.skip("no installed distribution with compiled code to try")
    with pytest.raises(BundleError, match=re.escape(compiled.metadata["Name"]) + " .* compiled code"):
        _from_record(compiled)


def test_requirement_markers():
    py310, py311 = environment("3.10"), environment("3.11")
    tomli = parse('tomli>=1.1; python_version < "3.11"')
    assert tomli.name == "tomli" and tomli.extras == frozenset()
    assert applies(tomli.marker, py310, frozenset()) and not applies(tomli.marker, py311, frozenset())
    dask = parse('dask[distributed]>=2023.1; extra == "dask"')
    assert dask.extras == {"distributed"}
    assert not applies(dask.marker, py311, frozenset()) and applies(dask.marker, py311, frozenset({"dask"}))
    assert parse("rich (>=12.0)").marker is None
    assert not applies("sys_platform == 'win32' and extra == 'win32'", py311, frozenset())
    assert applies("(os_name == 'nt' or python_full_version >= '3.9.0') and 'linux' in 'linux2'", py311,
                   frozenset())
    with pytest.raises(BundleError, match="cannot read the requirement marker"):
        applies("python_version <", py311, frozenset())
    with pytest.raises(BundleError, match="unknown requirement marker variable"):
        applies("nonsense == '1'", py311, frozenset())
