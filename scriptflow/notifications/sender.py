"""Sending: one background thread per target, a bounded queue, timeouts, retries with backoff.

Nothing here may slow a run down or make it fail: ``put`` never blocks (a full
queue drops the document with a logged warning), every network error is only
logged, and ``close`` waits for what is queued until a deadline, then gives up.
Only the standard library (``urllib.request``) is used.
"""
from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from ..version import __version__
from .targets import Target

log = logging.getLogger("scriptflow.notify")

#: Documents waiting per target; beyond this new ones are dropped (and the drop logged).
QUEUE_SIZE = 200
#: Seconds between tries: the first retry waits BACKOFF, then twice that, and so on.
BACKOFF = 0.5
_STOP = object()


class RetryableError(Exception):
    """A 5xx answer or a connection problem: worth another try."""


def post(target: Target, document: dict[str, Any]) -> int:
    """POST one JSON document; returns the HTTP status. Raises RetryableError for 5xx and network errors."""
    body = json.dumps(document, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"scriptflow/{__version__}"}
    url, auth = split_credentials(target.url)
    if auth:
        headers["Authorization"] = auth
    headers.update(target.headers)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=target.timeout) as response:  # noqa: S310 - http(s) only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise RetryableError(f"HTTP {exc.code}") from None
        return int(exc.code)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, timed out, reset, DNS
        reason = getattr(exc, "reason", exc)
        raise RetryableError(f"{type(reason).__name__}: {reason}") from None


def split_credentials(url: str) -> tuple[str, Optional[str]]:
    """``https://user:pass@host/x`` as the URL without them and a Basic ``Authorization`` value
    (urllib would take ``user:pass@host`` for a host name)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode("utf-8")
    return urlunsplit(parts._replace(netloc=netloc)), "Basic " + base64.b64encode(pair).decode("ascii")


class Sender:
    """Delivers documents to one target from its own daemon thread."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.queue: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
        self.sent = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="sf-notify", daemon=True)
        self._thread.start()

    def put(self, document: dict[str, Any]) -> None:
        """Queue a document; never blocks."""
        try:
            self.queue.put_nowait(document)
        except queue.Full:
            self.dropped += 1
            log.warning("notify: queue for %s is full, dropped a %s notification",
                        self.target.shown, document.get("event"))

    def close(self, deadline: float) -> None:
        """Stop taking documents and wait (until ``deadline``, a ``time.monotonic()`` value) for the rest."""
        try:
            self.queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            left = self.queue.qsize()
            log.warning("notify: gave up waiting for %s; %d notification(s) not sent", self.target.shown, left)

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            self._deliver(item)

    def _deliver(self, document: dict[str, Any]) -> None:
        event = document.get("event")
        error: Optional[str] = None
        for number in range(self.target.retries + 1):
            if number:
                time.sleep(BACKOFF * 2 ** (number - 1))
            try:
                status = post(self.target, _shaped(self.target, document))
            except RetryableError as exc:
                error = str(exc)
                log.info("notify: %s to %s failed (%s), try %d of %d", event, self.target.shown, error,
                         number + 1, self.target.retries + 1)
                continue
            except Exception as exc:  # noqa: BLE001 - a notification must never break a run
                error = f"{type(exc).__name__}: {exc}"
                break
            if status >= 400:
                log.warning("notify: %s to %s refused with HTTP %d (not retried)", event, self.target.shown, status)
            else:
                self.sent += 1
            return
        log.warning("notify: could not send %s to %s: %s", event, self.target.shown, error)


def _shaped(target: Target, document: dict[str, Any]) -> dict[str, Any]:
    """The body a target gets: the document itself, or Slack's ``{"text": ...}``."""
    if target.format == "slack":
        return {"text": document.get("text") or document.get("event", "")}
    return document
