"""Where ``sf.notify("...")`` goes: a process-wide slot the runner fills when notifications are configured.

Kept in ``core`` (beside ``current``) so that the flow-facing API can reach the
run's notifier without importing it: the engine and the API never learn about
HTTP. Outside a run, or with nothing configured, the slot is empty and
``notify`` only logs that it sent nothing.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional, Protocol

log = logging.getLogger("scriptflow.notify")


class Sink(Protocol):
    """What receives a flow's messages (``notifications.listener.Notifier`` is one)."""

    def message(self, text: str, html: Optional[str] = None) -> None: ...


_sink: Optional[Sink] = None
_lock = threading.Lock()


def set_sink(sink: Optional[Sink]) -> None:
    global _sink
    with _lock:
        _sink = sink


def notify(message: str, html: Optional[str] = None) -> bool:
    """Send ``message`` (and optional ``html``, e.g. with an ``<img>``) to the run's notify targets.

    Returns True when it was queued for sending. Outside ``scriptflow run``, or
    when no notify target is configured, it does nothing (it only logs the
    message at debug level) and returns False. Sending happens in the
    background and never raises: a failed notification is logged, not fatal.
    """
    sink = _sink
    if sink is None:
        log.debug("sf.notify: no notify target configured (or not inside a run); not sent: %s", message)
        return False
    sink.message(str(message), None if html is None else str(html))
    return True
