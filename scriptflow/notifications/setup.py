"""What the runner calls: check the notify configuration, start the notifier, redact for the ledger.

The notifier and its sender (``urllib.request``, ``http.client``, ``email``) are imported only
when a target is configured: a run that notifies nobody never loads them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..core import messages
from ..core.runstate import Listener
from ..project import Project
from .targets import redact, redact_urls, targets

if TYPE_CHECKING:
    from .listener import Notifier


def check(config: dict[str, Any], urls: Sequence[str]) -> None:
    """Raise a one-line ConfigError for a bad ``notify`` configuration or ``--notify`` URL, before the run."""
    targets(config.get("notify"), urls)


def start(config: dict[str, Any], urls: Sequence[str], project: Project) -> Optional[Notifier]:
    """The run's notifier (also what ``sf.notify`` reaches), or None when nothing is configured."""
    found = targets(config.get("notify"), urls)
    if not found:
        return None
    from .listener import Notifier

    notifier = Notifier(found, project)
    messages.set_sink(notifier)
    return notifier


def observers(console: Listener, notifier: Optional[Notifier]) -> Listener:
    """What the engine reports to: the console, and the notifier beside it when there is one."""
    if notifier is None:
        return console
    from .listener import Broadcast

    return Broadcast(console, notifier)


def stop(notifier: Optional[Notifier]) -> None:
    """Detach ``sf.notify`` and let queued notifications go out (waiting a bounded time)."""
    messages.set_sink(None)
    if notifier is not None:
        notifier.close()


def recorded_options(config: dict[str, Any], urls: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """The configuration and ``--notify`` URLs as ``runs.options`` stores them: no header value,
    URL credential, path or query of a notify target reaches the ledger."""
    safe = dict(config)
    if "notify" in safe:
        safe["notify"] = redact(safe["notify"])
    return safe, redact_urls(urls)
