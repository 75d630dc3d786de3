"""Driving one run's flow: its thread, the wait for its tasks, and stopping on a signal.

The flow runs in a thread of its own so that the main thread stays free to
receive Ctrl-C, SIGTERM and SIGHUP. Whenever one lands between the engine's
start and its end (while an executor is set up, while the flow thread is
being started, while tasks run), the running tasks are stopped here, before
the engine shuts its pools: no attempt is left to report to a closed engine.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ..core.engine import Engine
from ..errors import TaskError
from ..terminal.console import RunConsole
from .signals import Terminated

log = logging.getLogger("scriptflow.run")

EXIT_SIGINT = 130
#: After a second Ctrl-C/SIGTERM, how long killed tasks get to be reported before they are abandoned.
ABANDON_AFTER_SECONDS = 10.0


def exit_code_of(signal: BaseException) -> int:
    """130 for Ctrl-C (KeyboardInterrupt), 128 + the signal number for SIGTERM/SIGHUP."""
    return signal.exit_code if isinstance(signal, Terminated) else EXIT_SIGINT


@dataclass
class Driven:
    """How the flow went: the signal's exit code if one stopped the run, and what the flow raised."""

    exit_code: Optional[int] = None
    flow_errors: list[BaseException] = field(default_factory=list)


def drive(engine: Engine, console: RunConsole, call_flow: Callable[[], Any],
          started: Callable[[], None], finished: Callable[[], None]) -> Driven:
    """Enter the engine, call ``started`` (what opens once tasks can run: the link for commands
    that create tasks, the notifier's first message), run ``call_flow`` in the flow thread,
    wait for every task it started, and call ``finished`` before the engine shuts down.

    A signal from here on is caught: the tasks are stopped (``stop``) inside the engine, so
    the run is recorded ``interrupted`` with its tasks' ends. A signal while the engine's
    executors are set up (a Dask cluster starting takes seconds) leaves the engine cleaned up
    by its own ``__enter__`` and is returned the same way.
    """
    driven = Driven()
    done = threading.Event()

    def run_flow() -> None:
        try:
            call_flow()
        except BaseException as exc:  # noqa: BLE001 - reported by the runner
            driven.flow_errors.append(exc)
            if not isinstance(exc, TaskError):
                engine.stopping = True
        finally:
            done.set()

    try:
        with engine:
            try:
                started()
                threading.Thread(target=run_flow, name="sf-flow", daemon=True).start()
                done.wait()
                engine.wait_idle()
                warn_never_started(engine, console)
            except (KeyboardInterrupt, Terminated) as exc:
                driven.exit_code = exit_code_of(exc)
                stop(engine, console)
            finally:
                finished()
    except (KeyboardInterrupt, Terminated) as exc:  # while the engine set up or shut down its executors
        if driven.exit_code is None:
            driven.exit_code = exit_code_of(exc)
    return driven


def warn_never_started(engine: Engine, console: RunConsole) -> None:
    """Tasks the flow created but never started (nor needed): most likely a forgotten await."""
    never = [t.name for t in engine.created_tasks.never_started()]
    if never:
        shown = ", ".join(never[:10]) + (f" and {len(never) - 10} more" if len(never) > 10 else "")
        message = (f"warning: {len(never)} task(s) created but never started: {shown} "
                   "(start them with .start(), await, .result() or sf.bag)")
        log.warning(message)
        console.print(message)


def stop(engine: Engine, console: RunConsole) -> None:
    """First signal: terminate running tasks and wait; another Ctrl-C kills them at once.

    A second signal may land anywhere in here, even inside ``interrupt()``:
    it is always caught, and kills what runs, so the run is always closed.
    Tasks whose executor still has not reported back ``ABANDON_AFTER_SECONDS``
    after the second signal (or at once after a third) are recorded
    interrupted without it: a stuck executor never keeps a run alive.
    """
    signals = 0
    while True:
        try:
            if signals == 0:
                engine.interrupt()
                console.print("interrupted: stopping running tasks (press Ctrl-C again to kill them now)")
                engine.wait_idle()
                engine.wait_cancelled()
            elif signals > 1 or not engine.wait_idle(ABANDON_AFTER_SECONDS):
                engine.abandon()
            return
        except (KeyboardInterrupt, Terminated):
            signals += 1
            engine.interrupt()
            engine.kill_now()
