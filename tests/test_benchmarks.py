"""The benchmark harness runs end to end on a tiny workload and prints its tables.

No timing is asserted: only that every workload ran, was checked against the
ledger (a failed check exits non-zero) and that the table and the markdown
name each arm.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_quick_benchmark_prints_its_tables(tmp_path: Path) -> None:
    markdown = tmp_path / "bench.md"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--n", "20", "--repeat", "1",
         "--workloads", "fanout,noop,dryrun,help,ledger-growth", "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for arm in ("scriptflow", "bare pool", "scriptflow first no-op", "scriptflow no-op", "bare stat",
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
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "compare.py"), "--before-rev", "HEAD", "--workload", "noop",
         "--n", "20", "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "noop, N=20, -j 2, 1 repetitions (medians):" in proc.stdout
    for arm in ("before", "after"):
        assert f"  {arm}  " in proc.stdout, proc.stdout
    assert "after / before: wall" in proc.stdout


def test_cpu_split_prints_the_runs_own_cpu_apart_from_its_childrens(tmp_path: Path) -> None:
    """cpu_split.py runs the script in its own process: the CPU a child burns is reported as the
    children's, the script's own loop as its own, and the script's exit code is kept."""
    script = tmp_path / "spin.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', 'import time\\nt = time.process_time()\\n"
        "while time.process_time() - t < 0.3: pass'], check=True)\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.2: pass\n"
        "sys.exit(3)\n")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cpu_split.py"), str(script)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    own = re.search(r"own CPU user ([\d.]+) s, system ([\d.]+) s", line)
    children = re.search(r"children user ([\d.]+) s, system ([\d.]+) s", line)
    assert own and children, line
    assert float(children.group(1)) + float(children.group(2)) >= 0.25, line
    assert 0.15 <= float(own.group(1)) + float(own.group(2)), line
    version = subprocess.run([sys.executable, str(REPO / "benchmarks" / "cpu_split.py"), "scriptflow", "--version"],
                             capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and "scriptflow" in version.stdout, version.stderr
    assert "scriptflow: wall" in version.stderr


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
