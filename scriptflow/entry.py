"""The ``scriptflow`` command's entry point.

It imports nothing heavy itself, so that a Ctrl-C in the first milliseconds
(while click, rich and the commands load) ends the command like any other
interrupt, "scriptflow: interrupted" and exit code 130, instead of a
traceback. Only the interpreter's own start-up, before this module runs, is
out of its reach.
"""
from __future__ import annotations

import gc
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing is not imported before main() runs
    from typing import Any, Optional


def main() -> None:
    sys.unraisablehook = keep_signals
    try:  # a Ctrl-C while these load ends the command like any other interrupt
        from .run import teardown

        teardown.install()  # before anything else registers at exit: it must run last
        from .cli import main as cli_main
    except KeyboardInterrupt:
        interrupted()
    try:
        cli_main()
    except KeyboardInterrupt:  # after the command's own handlers: while reporting or exiting
        interrupted()
    finally:
        # What the command leaves (a run's tasks, records and specs: millions of objects at
        # 100,000 tasks) is never scanned again: the interpreter's last garbage collection,
        # on exit, would otherwise walk all of it (1.5 s at 100,000 tasks). Unless a file opened
        # since the start (by a flow, say) is still open: ``run/teardown.py`` then unfreezes it all.
        gc.freeze()


def keep_signals(unraisable: Any) -> None:
    """A Ctrl-C (or SIGTERM/SIGHUP, see ``run/signals.py``) landing in code Python cannot raise
    from, such as the import system's weakref callbacks or a ``__del__``, would be printed as
    "Exception ignored" and lost, and the command would go on. It is sent again instead, so
    the command stops as asked; anything else is printed as usual.

    Sent again, as a real signal to the main thread, by a helper thread once this hook has
    returned: a signal marked from inside the hook would be raised inside it, and lost again.
    """
    signum = _signal_of(unraisable.exc_type, unraisable.exc_value)
    if signum is None:
        sys.__unraisablehook__(unraisable)
        return
    import threading

    hook = {"returned": False}
    threading.Thread(target=_send_again, args=(signum, hook), name="sf-signal-again", daemon=True).start()
    hook["returned"] = True  # nothing between this store and the return checks for signals


def _signal_of(exc_type: Any, exc: Any) -> Optional[int]:
    import signal

    if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
        return int(signal.SIGINT)
    from .run.signals import Terminated

    if exc_type is not None and issubclass(exc_type, Terminated):
        return int(getattr(exc, "signum", signal.SIGTERM))
    return None


def _send_again(signum: int, hook: dict[str, bool]) -> None:
    import signal
    import threading
    import time

    while not hook["returned"]:
        time.sleep(0.001)
    signal.pthread_kill(threading.main_thread().ident or 0, signum)


def interrupted() -> None:
    try:
        sys.stderr.write("scriptflow: interrupted\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.exit(130)
