"""Shared helpers: real projects in temp folders, the real CLI in subprocesses, the real ledger.

Nothing here is mocked: ``run`` starts the installed ``scriptflow`` command
and ``ledger`` opens the SQLite file it wrote.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# scriptflow leaves a SIGHUP ignored at its start ignored (nohup: the run outlives the terminal),
# and an ignored signal stays ignored in every command a process starts. A suite started under
# nohup would therefore run every scriptflow deaf to SIGHUP, and the tests that send it would
# wait for nothing: the commands the tests start get the default, as from a terminal.
if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

REPO = Path(__file__).resolve().parent.parent
ORIGINAL_EXAMPLE = REPO / "examples" / "simple-local" / "sflow.py"


class Project:
    """A temp project folder with helpers to write sflow.py, run the CLI and read the ledger."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
        return target

    def flow(self, text: str) -> Path:
        return self.write("sflow.py", "import scriptflow as sf\n" + textwrap.dedent(text))

    def read(self, name: str) -> str:
        return (self.path / name).read_text()

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def run(self, *args: str, check: bool | None = None, timeout: float = 300, env: dict | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``scriptflow ARGS`` in the project; ``check=True`` asserts exit 0, ``False`` asserts non-zero."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.run(["scriptflow", *args], cwd=self.path, capture_output=True, text=True,
                              timeout=timeout, env=full_env, input=input)
        if check is True:
            assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        elif check is False:
            assert proc.returncode != 0, f"expected failure\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["scriptflow", *args], cwd=self.path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kwargs)

    def ledger(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path / ".scriptflow" / "ledger.db")
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self.ledger() as conn:
            return conn.execute(sql, params).fetchall()

    def last_run(self) -> sqlite3.Row:
        return self.query("SELECT * FROM runs ORDER BY id DESC LIMIT 1")[0]

    def tasks(self, run_id: int | None = None) -> dict[str, sqlite3.Row]:
        """uid -> task of a run (default: the last run), the cached ones recorded as reuses included
        (the ``run_tasks`` view: the columns of ``tasks``, and ``reused``)."""
        run_id = run_id if run_id is not None else self.last_run()["id"]
        return {r["uid"]: r for r in self.query("SELECT * FROM run_tasks WHERE run_id = ?", (run_id,))}

    def statuses(self, run_id: int | None = None) -> dict[str, str]:
        return {uid: r["status"] for uid, r in self.tasks(run_id).items()}

    def reasons(self, run_id: int | None = None) -> dict[str, str]:
        return {uid: r["reason"] for uid, r in self.tasks(run_id).items()}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


PY = sys.executable


def py(code: str) -> list[str]:
    """An argv running ``code`` with the test's own Python (as the tasks of a flow would)."""
    return [PY, "-c", code]


def required_services() -> set[str]:
    """Services CI promises (``SCRIPTFLOW_REQUIRE_SERVICES=slurm,sge``): their tests fail instead of skipping."""
    return {s.strip() for s in os.environ.get("SCRIPTFLOW_REQUIRE_SERVICES", "").split(",") if s.strip()}


def need_service(name: str, available: bool, why: str) -> None:
    """Skip (on a laptop without it) or fail (in CI, where it is required) a test needing ``name``."""
    if available:
        return
    if name in required_services():
        pytest.fail(f"{name} is required here (SCRIPTFLOW_REQUIRE_SERVICES) but {why}")
    pytest.skip(f"{name} not available: {why}")


def py_src(code: str) -> str:
    """``py(code)`` as Python source text, to paste into a generated sflow.py."""
    return repr(py(code))


def wait_for_file(flag: str, then: str = "") -> str:
    """Task code that waits until ``flag`` exists (giving up after 60 s, exit 1), then runs ``then``.

    Used for handshakes between the test's tasks and flows instead of sleeps.
    """
    return (
        "import os, sys, time\n"
        "deadline = time.time() + 60\n"
        f"while not os.path.exists({flag!r}):\n"
        "    if time.time() > deadline:\n"
        f"        sys.exit('gave up waiting for {flag}')\n"
        "    time.sleep(0.005)\n"
        f"{then}\n"
    )


def wait_until(predicate, what: str, timeout: float = 60.0, interval: float = 0.01):
    """Poll ``predicate`` until it returns something truthy (returned); fail naming ``what`` after ``timeout`` s.

    A generous deadline for observable state (a marker file, a ledger row), never a timing assertion.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return Path("/proc/self").exists()  # it ended between the two looks (without /proc: cannot tell)
    return state in ("Z", "X")


def sha256_file(path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def kill_leftovers(pids) -> None:
    """Test hygiene: SIGKILL processes a failing test may have left behind (ignores ones already gone)."""
    import signal

    for pid in pids:
        try:
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
