"""An in-process harness: the real engine, runner and ledger, driven by a deterministic fake executor.

Fault injection that no real executor can produce on demand (``reattach``
returning None, ``reporter.started`` raising, an executor whose future raises)
needs an executor the test controls; everything else here is real: the
flow file is imported, the runner takes the project lock, the ledger is a
real SQLite file. Use it only for such faults; behaviour a real process can
show belongs in the end-to-end tests, which run the ``scriptflow`` command.
"""
from __future__ import annotations

import os
import textwrap
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Optional

from scriptflow.clock import utc_now
from scriptflow.executors.base import Attempt, Executor, Outcome, RecordedJob, Reporter, Started
from scriptflow.executors.registry import register_executor

#: A behaviour decides what the fake does with one attempt; it runs on the fake's own thread.
Behaviour = Callable[[Attempt], Outcome]


def succeed_writing_outputs(attempt: Attempt) -> Outcome:
    """Default behaviour: "run" the command by writing each declared output, then exit 0."""
    started = utc_now()
    for path in attempt.outputs:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(f"{attempt.task_uid} attempt {attempt.number}\n")
    return Outcome(exit_code=0, started_at=started, ended_at=utc_now())


class FakeExecutor(Executor):
    """Runs each attempt by calling ``FakeExecutor.behaviour`` on one thread, in submission order.

    Class attributes (set by a test, reset by ``reset()``) choose the faults:
    ``behaviour`` (per attempt) and ``reattach_result``.
    """

    name = "fake"
    behaviour: Behaviour = staticmethod(succeed_writing_outputs)
    #: What ``reattach`` does: "none" (cannot follow the job), "follow" (run ``behaviour``
    #: as the re-attached job's outcome) or "raise".
    reattach_result: str = "none"
    reattach_calls: list = []
    submitted: list = []

    def __init__(self, settings: Any, state_dir: Path) -> None:
        super().__init__(settings, state_dir)
        self._lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.behaviour = staticmethod(succeed_writing_outputs)
        cls.reattach_result = "none"
        cls.reattach_calls = []
        cls.submitted = []

    def submit(self, attempt: Attempt, reporter: Reporter) -> "Future[Outcome]":
        future: "Future[Outcome]" = Future()
        type(self).submitted.append(attempt)

        def work() -> None:
            try:
                with self._lock:
                    reporter.started(Started(started_at=utc_now(), host="fakehost", pid=None))
                    outcome = type(self).behaviour(attempt)
                future.set_result(outcome)
            except BaseException as exc:  # noqa: BLE001 - handed to the engine like a real executor bug
                future.set_exception(exc)

        threading.Thread(target=work, name="sf-fake", daemon=True).start()
        return future

    def reattach(self, job: RecordedJob, attempt: Attempt, reporter: Reporter) -> "Optional[Future[Outcome]]":
        type(self).reattach_calls.append((job, attempt))
        if self.reattach_result == "raise":
            raise RuntimeError("the fake cannot ask its scheduler")
        if self.reattach_result == "none":
            return None
        future: "Future[Outcome]" = Future()

        def follow() -> None:
            with self._lock:
                reporter.started(Started(started_at=job.started_at or utc_now(), host="fakehost",
                                           job_id=job.job_id))
                future.set_result(type(self).behaviour(attempt))

        threading.Thread(target=follow, name="sf-fake-reattached", daemon=True).start()
        return future

    def cancel_all(self, grace_seconds: float) -> None:
        pass


register_executor("fake", FakeExecutor)


def run_flow(project_dir: Path, flow_source: str, flow: str = "main", **request: Any):
    """Write ``sflow.py`` (``import scriptflow as sf`` is prepended) and run ``flow`` in this process.

    Returns the runner's ``RunResult``. The working directory is restored afterwards.
    """
    from scriptflow.run.runner import RunRequest, execute

    (project_dir / "sflow.py").write_text("import scriptflow as sf\n" + textwrap.dedent(flow_source))
    here = os.getcwd()
    try:
        return execute(RunRequest(flow=flow, directory=str(project_dir), classic=True, **request))
    finally:
        os.chdir(here)
        import sys

        sys.modules.pop("sflow", None)
