"""Timestamps as the ledger writes them (ISO-8601 UTC text that sorts), parsing them back,
and the one way scriptflow measures and shows a duration.

Its own module because executors, the ledger, the readers and the terminal
all need it and must not import each other to get it. Every duration a user
sees (the run summary, ``runs``, ``show``, ``report``) goes through
``format_duration``, so they all read alike: ``5.1s``, ``2m03s``, ``1h02m03s``.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

_second_cache: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """ISO-8601 UTC with microseconds (sorts as text); the seconds part is formatted once per second."""
    return utc_text(time.time_ns())


def utc_text(now_ns: int) -> str:
    """``utc_now``'s text for a moment read earlier with ``time.time_ns()``."""
    global _second_cache
    seconds, micros = divmod(now_ns // 1000, 1_000_000)
    cached_second, text = _second_cache
    if cached_second != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, text)
    return f"{text}.{micros:06d}Z"


def utc_text_sql(ns: str) -> str:
    """The SQL expression that spells the moment ``ns`` (an SQL expression: nanoseconds since
    the epoch, an integer) as ``utc_text`` does, so that SQLite can write many timestamps
    without Python making each text (``core/reuserows.py``); ``tests/test_reuse_rows.py``
    checks that both spell the same moments alike."""
    return (f"strftime('%Y-%m-%dT%H:%M:%S', ({ns}) / 1000000000, 'unixepoch') "
            f"|| printf('.%06dZ', ({ns}) / 1000 % 1000000)")


def parse_time(text: str | None) -> datetime | None:
    """A ledger timestamp as an aware UTC datetime (None for NULL or empty text)."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def format_timestamp(text: str | None, missing: str = "-") -> str:
    """A ledger timestamp as people read it, to the second, still UTC: ``2026-11-25 15:49:12``."""
    return text[:19].replace("T", " ") if text else missing


def elapsed_seconds(start: str | None, end: str | None, until_now: bool = False) -> float | None:
    """Seconds from ``start`` to ``end`` (ledger timestamps), to the millisecond.

    None without a start; without an end None too, unless ``until_now``: a run
    or task still going has lasted until now.
    """
    began, ended = parse_time(start), parse_time(end)
    if began is None:
        return None
    if ended is None:
        if not until_now:
            return None
        ended = datetime.now(timezone.utc)
    return round((ended - began).total_seconds(), 3)


def format_duration(seconds: float | None, missing: str = "-") -> str:
    """``5.1s`` under a minute, then ``2m03s`` and ``1h02m03s``; ``missing`` when unknown."""
    if seconds is None:
        return missing
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
