"""The benchmark harness runs end to end on a tiny workload and prints its tables.

No timing is asserted: only that every workload ran, was checked against the
ledger (a failed check exits non-zero) and that the table and the markdown
name each arm.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need_service

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_prints_its_tables(tmp_path: Path) -> None:
    markdown = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--n", "20", "--repeat", "1",
         "--workloads", "fanout,noop,dryrun,help,ledger-growth", "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for arm in ("scriptflow", "bare pool", "scriptflow first no-op", "scriptflow no-op",
                "scriptflow no-op after a rerun", "bare stat",
                "scriptflow -n", "scriptflow --help", "python -c pass"):
        assert f"  {arm}  " in out, f"{arm!r} missing from:\n{out}"
    assert "Ledger growth per scriptflow no-op run" in out
    assert "rows added per cached task" in out
    assert "doit: not run" in out
    text = markdown.read_text()
    assert text.startswith("Command: `python benchmarks/run.py --quick --n 20")
    assert "| fanout | 20 | scriptflow |" in text


def test_floor_times_each_phase_of_a_no_op_without_an_engine() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "floor.py"), "--n", "30"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for phase in ("import scriptflow", "sf.Task(...)", "build_spec", "fingerprint", "two stats a task"):
        assert phase in proc.stdout
    assert "for 30 tasks" in proc.stdout


def test_unknown_workload_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--workloads", "fanout,nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown workload nope" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_compare_runs_an_older_commit_beside_the_installed_version(tmp_path: Path) -> None:
    """compare.py imports the older version from its own folder (its bootstrap refuses any other),
    and checks every run of both arms against the ledger; HEAD stands for the older commit."""
    proc = _against_head("compare.py", n=20)
    assert "noop, N=20, -j 2, 1 repetitions (medians):" in proc.stdout
    for arm in ("before", "after"):
        assert f"  {arm}  " in proc.stdout, proc.stdout
    assert "after / before: wall" in proc.stdout


@pytest.mark.parametrize("workload", ["fanout", "first-noop", "rerun", "dryrun"])
def test_compare_runs_each_workload(workload: str) -> None:
    """Each timed run is checked against the ledger by compare.py, which exits non-zero otherwise:
    ``rerun`` must leave t0 run and every other task cached; ``fanout`` times the bare pool too."""
    proc = _against_head("compare.py", n=20, workload=workload)
    assert f"{workload}, N=20, -j 2, 1 repetitions (medians):" in proc.stdout
    assert "after / before: wall" in proc.stdout
    assert ("after / bare" in proc.stdout) == (workload == "fanout")


def test_compare_runs_the_tasks_on_a_dask_local_cluster() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        need_service("dask", False, "dask[distributed] is not installed (pip install 'scriptflow[dask]')")
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--before-rev", "HEAD", "--workload", "noop",
         "--executor", "dask", "--n", "20", "--repeat", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "noop, N=20, -j 2, on dask, 1 repetitions (medians):" in proc.stdout


def test_compare_runs_the_older_package_as_python_m_runs_the_installed_one(tmp_path: Path) -> None:
    """Both arms must start the same way: the older package through its own ``__main__`` (where
    its entry point freezes the heap before exit), as ``python -m scriptflow`` runs the installed
    one; a package without ``__main__`` runs its CLI."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import compare
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    package = tmp_path / "old" / "scriptflow"
    (package / "cli").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cli" / "__init__.py").write_text("def main():\n    import sys\n    print('cli', sys.argv[1:])\n")
    (package / "__main__.py").write_text("import sys\nprint('main', sys.argv[1:])\n")

    def boot() -> str:
        proc = subprocess.run([sys.executable, "-c", compare.BOOT, str(package.parent), "run", "bench"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert boot() == "main ['run', 'bench']"
    (package / "__main__.py").unlink()
    assert boot() == "cli ['run', 'bench']"


def test_profile_reports_each_thread_role_and_the_bare_pools_own_cpu_beside_scriptflows(tmp_path: Path) -> None:
    """profile.py's fan-out: scriptflow's run under getrusage (its own CPU apart from its tasks'),
    the bare pool on the same project the same way, then every thread under its own cProfile."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "profile.py"), "fanout", "--n", "20",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = proc.stdout
    roles = ("thread role every-thread",) if sys.version_info >= (3, 12) else (  # one profiler per process
        "thread role sf-ledger-writer", "thread role MainThread")
    for part in ("[run, rusage] wall_s", "[bare pool, rusage] wall_s", "[run, cprofile]", *roles):
        assert part in report, report
    bare = report.split("[bare pool, rusage]")[1].splitlines()[0]
    own = float(bare.split("user_s ")[1].split(",")[0])
    tasks = float(bare.split("tasks_user_s ")[1].split(",")[0])
    assert own > 0 and tasks > 0, bare  # 20 cp processes ran as the pool's children
    assert (tmp_path / "fanout-20.report.txt").read_text().strip() == report.strip()


def test_slotcycle_times_every_attempts_steps_and_both_arms_cpu(tmp_path: Path) -> None:
    """slotcycle.py times each attempt's steps on its slot thread from inside a real run (checked
    against the ledger), and the bare pool beside it: every line of its report is there, with
    one set of steps per attempt and the two arms' commands' CPU (30 real cp processes each)."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "slotcycle.py"), "--n", "30", "--repeat", "2",
                           "--where", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for part in ("repetition 2/2", "wall: scriptflow", "bare pool: own CPU", "by thread role: MainThread",
                 "sf-local", "launch ", "command ", "cleanup ", "handling ", "launches per second:",
                 "last task created at"):
        assert part in out, out
    commands = re.findall(r"its commands' ([0-9.]+) ms", out)
    assert len(commands) == 2 and all(float(ms) > 0 for ms in commands), out
    windows = re.search(r"last task created at [0-9.]+ s: (.*)", out)
    assert windows is not None and sum(int(n) for n in re.findall(r"s (\d+) \(", windows.group(1))) == 30, out
    assert list(tmp_path.iterdir()) == []  # its projects are removed


def test_instructions_counts_each_version_per_task_under_callgrind() -> None:
    """instructions.py runs both arms under valgrind and reports instructions per task (the
    one-task project's count taken off); HEAD stands for the older commit."""
    need_service("valgrind", shutil.which("valgrind") is not None, "valgrind is not on PATH (apt-get install valgrind)")
    # 50 tasks: what a run's fixed steps count varies from run to run by more than two tasks' worth
    # (one CI run gave -44,262 per task at N=3), and "per task" divides the difference by N - 1.
    proc = _against_head("instructions.py", n=50)
    assert "noop, N=50, 1 repetitions" in proc.stdout
    for arm in ("before", "after"):
        assert re.search(rf"^  {arm} +[\d,]+ in all +[\d,]+ for one task +[\d,]+ per task$", proc.stdout, re.M), proc.stdout
    assert "after / before: per task" in proc.stdout


def test_instructions_without_valgrind_says_so_in_one_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    proc = subprocess.run([str(bin_dir / "python"), str(REPO / "benchmarks" / "instructions.py"), "--before-rev", "HEAD"],
                          capture_output=True, text=True, timeout=60, env={"PATH": str(bin_dir)})
    assert proc.returncode == 2
    assert proc.stderr == "instructions.py: valgrind is not installed (apt-get install valgrind)\n"


def _against_head(script: str, n: int, workload: str = "noop") -> subprocess.CompletedProcess[str]:
    """``benchmarks/SCRIPT`` comparing the installed version with HEAD on ``workload`` of ``n`` tasks, once."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), "--before-rev", "HEAD", "--workload", workload,
         "--n", str(n), "--repeat", "1"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_an_unknown_commit_is_one_line_and_exit_1() -> None:
    for script in ("compare.py", "instructions.py"):
        proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--before-rev", "no-such-commit"],
                              capture_output=True, text=True, timeout=60)
        if script == "instructions.py" and shutil.which("valgrind") is None:
            assert proc.returncode == 2  # it says that first (test above)
            continue
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith(f"{script}: 'no-such-commit' is not a commit of this repository"), proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
