"""Where notifications go: the ``notify`` configuration read into targets, and redacted for the ledger.

``notify`` may be a plain string (the original scriptflow's user name of its
central service: accepted, nothing is sent), a dict describing one target, or
a list of such dicts. ``run --notify URL`` adds targets that receive every event.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError

#: Every event a target can ask for; ``message`` is what ``sf.notify`` sends.
EVENTS = ("run_started", "run_finished", "task_failed", "task_retried", "message")
FORMATS = ("json", "slack")
TARGET_KEYS = {"url", "events", "headers", "format", "timeout", "retries"}
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
REDACTED = "<redacted>"


@dataclass(frozen=True)
class Target:
    """One URL to POST to, which events it wants, and how."""

    url: str
    events: tuple[str, ...] = EVENTS
    headers: dict[str, str] = field(default_factory=dict)
    format: str = "json"
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES

    @property
    def shown(self) -> str:
        """The URL as logs may show it (no credentials, path or query)."""
        return redact_url(self.url)


def redact_url(url: str) -> str:
    """Scheme, host and port only: user:password, the query and the path may all carry secrets
    (a Slack webhook's path *is* its secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    path = "/" + REDACTED if parts.path not in ("", "/") or parts.query or parts.fragment else parts.path
    return urlunsplit((parts.scheme, host + port, path, "", ""))


def _check_url(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where}: 'url' must be an http:// or https:// URL, got {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{where}: {redact_url(url)} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}: notify URLs must start with http:// or https:// and name a host, "
                          f"got {redact_url(url)!r}")
    return url


def target_from(spec: Any, where: str) -> Target:
    """One target from its configuration dict; a one-line ConfigError for anything else."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: each notify target must be a dict with a 'url', got {type(spec).__name__}")
    unknown = sorted(set(spec) - TARGET_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown notify key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(TARGET_KEYS))})")
    url = _check_url(spec.get("url"), where)
    events = spec.get("events", list(EVENTS))
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, (list, tuple)) or any(e not in EVENTS for e in events):
        raise ConfigError(f"{where}: notify 'events' must be a list of {', '.join(EVENTS)}; got {events!r}")
    headers = spec.get("headers", {})
    if not isinstance(headers, dict) or any(not isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{where}: notify 'headers' must map header names to strings")
    fmt = spec.get("format", "json")
    if fmt not in FORMATS:
        raise ConfigError(f"{where}: notify 'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")
    timeout = spec.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"{where}: notify 'timeout' must be a number of seconds > 0, got {timeout!r}")
    retries = spec.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{where}: notify 'retries' must be a whole number >= 0, got {retries!r}")
    return Target(url, tuple(events), {str(k): v for k, v in headers.items()}, fmt, float(timeout), retries)


def targets(configured: Any, urls: Sequence[str] = ()) -> list[Target]:
    """The targets of a run: the ``notify`` configuration (a string configures none) plus ``--notify`` URLs."""
    found: list[Target] = []
    if isinstance(configured, dict):
        found.append(target_from(configured, "notify"))
    elif isinstance(configured, (list, tuple)):
        found.extend(target_from(spec, f"notify[{i}]") for i, spec in enumerate(configured))
    elif configured is not None and not isinstance(configured, (str, bool)):
        raise ConfigError(f"notify: expected a dict with a 'url' (or a list of them), got {type(configured).__name__}")
    found.extend(Target(_check_url(url, "--notify")) for url in urls)
    return found


def redact(configured: Any) -> Any:
    """The ``notify`` configuration as the ledger may store it: header values and URLs redacted."""
    if isinstance(configured, dict):
        out = copy.deepcopy(configured)
        if isinstance(out.get("url"), str):
            out["url"] = redact_url(out["url"])
        if isinstance(out.get("headers"), dict):
            out["headers"] = {k: REDACTED for k in out["headers"]}
        return out
    if isinstance(configured, (list, tuple)):
        return [redact(item) for item in configured]
    return configured


def redact_urls(urls: Optional[Sequence[str]]) -> list[str]:
    return [redact_url(u) for u in urls or ()]
