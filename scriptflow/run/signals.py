"""SIGTERM and SIGHUP during a run: both stop it like Ctrl-C, with their own exit code.

A dropped ssh session sends SIGHUP; a scheduler ending a job or ``kill``
sends SIGTERM. Either is raised in the main thread as ``Terminated`` (as
Python raises ``KeyboardInterrupt`` for SIGINT), so the runner stops the
tasks, records the run ``interrupted`` and exits 128 + the signal number:
143 for SIGTERM, 129 for SIGHUP. A SIGHUP that is ignored when scriptflow
starts (``nohup``) stays ignored.
"""
from __future__ import annotations

import os
import signal
import stat
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

#: The signals handled like SIGTERM (SIGHUP does not exist on Windows).
TERMINATING = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised in the main thread like KeyboardInterrupt is for SIGINT."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


def _raise_terminated(signum: int, frame: Any) -> None:
    if signum != signal.SIGTERM:
        detach_from_lost_terminal()
    raise Terminated(signum)


def detach_from_lost_terminal() -> None:
    """After SIGHUP the terminal is usually gone and writing to it fails (EIO): send
    stdout and stderr to /dev/null instead, so the run can still stop its tasks and be
    recorded (the log file in .scriptflow/ keeps the story)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    for fd in (1, 2):
        try:
            # isatty() is already False on a hung-up terminal (its ioctl fails): any character
            # device is replaced (files and pipes are kept; /dev/null stays /dev/null).
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)


def install() -> Callable[[], None]:
    """Raise ``Terminated`` on SIGTERM/SIGHUP (main thread only); returns what restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}
    for signum in TERMINATING:
        if signum != signal.SIGTERM and signal.getsignal(signum) == signal.SIG_IGN:
            continue  # started under nohup: the user asked for the run to outlive the terminal
        previous[signum] = signal.signal(signum, _raise_terminated)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


@contextmanager
def deferred() -> Iterator[None]:
    """While the run's outcome is written, a Ctrl-C, SIGTERM or SIGHUP waits until it is in the
    ledger (a few milliseconds), then takes effect as usual: the run is never left half-recorded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
                for sig in [signal.SIGINT, *TERMINATING]
                if not (sig != signal.SIGTERM and sig != signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: not installed from Python; nothing to put back
                signal.signal(sig, handler)
    if received:
        signal.raise_signal(received[0])
