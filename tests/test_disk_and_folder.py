"""A full disk and a read-only `.scriptflow`, for real: the project lives on a small tmpfs, or
`.scriptflow` is a read-only bind mount (both need root; without it the read-only case uses
chmod, and the full disk is skipped)."""
from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest

from conftest import Project, py, py_src

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def mounted_tmpfs(path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if not (ROOT and shutil.which("mount") and _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))):
        pytest.skip("cannot mount a tmpfs here (needs root): the full disk cannot be made for real")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def read_only(path):
    """``path`` read-only even for root (a read-only bind mount), else by permissions."""
    if ROOT and _mount("--bind", str(path), str(path)):
        if not _mount("-o", "remount,ro,bind", str(path)):
            subprocess.run(["umount", str(path)], capture_output=True)
            pytest.skip("cannot remount read-only here")
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
        return
    if ROOT:
        pytest.skip("root ignores permissions and bind mounts are not allowed here")
    mode = path.stat().st_mode
    path.chmod(0o555)
    try:
        yield
    finally:
        path.chmod(mode)


def one_error_line(proc) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scriptflow: error: "), proc.stderr
    return lines[0]


FILL = """
import sys
with open(sys.argv[1], 'wb', buffering=0) as fh:
    for size in (1 << 16, 1 << 12, 1 << 8, 1):  # to the last byte
        try:
            while True:
                fh.write(b'x' * size)
        except OSError:
            pass
"""
FLOW_FULL = f"""
def flow_warm():
    pass

def flow_main():
    fill = sf.Task({py_src(FILL)} + ["fill.bin"], outputs="fill.bin", name="fill").start()
    for i in range(300):
        sf.Task({py_src("import sys; open(sys.argv[1], 'w').write('ok' * 200)")} + [f"o/{{i}}.txt"],
                outputs=f"o/{{i}}.txt", inputs=[fill], name=f"after-{{i}}-{'n' * 200}").start()
"""


def test_a_full_disk_gives_one_line_and_leaves_no_run_succeeded(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "6m") as disk:
        project = Project(disk)
        project.flow(FLOW_FULL)
        project.run("run", "warm", check=True)
        proc = project.run("run", "main")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        line = one_error_line(proc)
        assert "ledger" in line and "full" in line and "damaged" not in line, line
        (disk / "fill.bin").unlink(missing_ok=True)  # space again (an interrupted fill was removed already)
        runs = {r["id"]: (r["status"], r["exit_code"]) for r in project.query("SELECT * FROM runs")}
        assert runs[2] in ((("running", None)), ("failed", 2)), runs
        proc = project.run("run", "warm", check=True)
        statuses = {r["id"]: r["status"] for r in project.query("SELECT * FROM runs")}
        assert statuses[2] in ("failed", "lost") and statuses[3] == "succeeded", statuses
        left = project.query("SELECT count(*) FROM tasks WHERE run_id = 2 AND status IN ('running', 'waiting')")
        assert left[0][0] == 0
        assert "healthy" in project.run("doctor", check=True).stdout


def test_run_in_a_read_only_state_folder_gives_one_line(project):
    project.flow("def flow_main():\n    sf.Task(['true'], name='t').start()\n")
    project.run("run", "main", check=True)
    state = project.path / ".scriptflow"
    before = sorted(os.listdir(state))
    with read_only(state):
        proc = project.run("run", "main")
        assert proc.returncode == 2
        line = one_error_line(proc)
        assert "cannot write" in line and str(state) in line and "read-only" in line, line
        assert sorted(os.listdir(state)) == before


def test_read_only_commands_work_in_a_read_only_state_folder(project):
    project.flow(f"""
def flow_main():
    sf.Task({py_src("import sys; print('hello'); open('out.txt', 'w').write('x')")}, outputs='out.txt',
            name='make').start()
""")
    project.run("run", "main", check=True)
    state = project.path / ".scriptflow"
    assert not (state / "ledger.db-wal").exists()
    with read_only(state):
        assert "main" in project.run("runs", check=True).stdout
        assert "make" in project.run("show", "1", check=True).stdout
        assert "hello" in project.run("logs", "1", "make", check=True).stdout
        assert "make" in project.run("report", "out.txt", check=True).stdout
        assert project.run("why", "make", check=True).stdout
        assert "healthy" in project.run("doctor", check=True).stdout
        proc = project.run("doctor", "--repair", check=True)  # healthy: nothing to do, nothing written
        assert "nothing to repair" in proc.stdout


@pytest.mark.parametrize("spare", [0, 32 * 1024], ids=["no-byte-left", "room-for-the-shm-only"])
def test_a_disk_full_before_the_run_starts_gives_one_line_and_records_nothing(tmp_path, spare):
    with mounted_tmpfs(tmp_path / "disk", "6m") as disk:
        project = Project(disk)
        project.flow(FLOW_FULL)
        project.run("run", "warm", check=True)
        filler = disk / "filler.bin"
        subprocess.run(py(FILL) + [str(filler)], check=True)
        os.truncate(filler, filler.stat().st_size - spare)
        proc = project.run("run", "main")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        line = one_error_line(proc)
        assert "full" in line and "damaged" not in line, line
        (disk / "filler.bin").unlink()
        assert [r["status"] for r in project.query("SELECT status FROM runs ORDER BY id")][0] == "succeeded"
        assert project.query("SELECT count(*) FROM tasks WHERE status IN ('running', 'waiting')")[0][0] == 0
        assert "healthy" in project.run("doctor", check=True).stdout
