"""Timestamps as the ledger writes them (ISO-8601 UTC text that sorts), and parsing them back.

Its own module because executors, the ledger and the readers all need it and
must not import each other to get it.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Optional

_second_cache: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """ISO-8601 UTC with microseconds (sorts as text); the seconds part is formatted once per second."""
    global _second_cache
    now = time.time_ns()
    seconds, micros = divmod(now // 1000, 1_000_000)
    cached_second, text = _second_cache
    if cached_second != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, text)
    return f"{text}.{micros:06d}Z"


def parse_time(text: Optional[str]) -> Optional[datetime]:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
