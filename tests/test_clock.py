"""The one duration every command shows (run summary, ``runs``, ``show``, ``report``), and the
one way a duration is measured between two ledger timestamps."""
from __future__ import annotations

import pytest

from scriptflow.clock import elapsed_seconds, format_duration, format_timestamp, utc_now


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0.0s"), (5.08, "5.1s"), (59.94, "59.9s"), (59.96, "1m00s"), (123, "2m03s"),
    (3723, "1h02m03s"), (36000, "10h00m00s"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_unknown_shows_the_callers_placeholder() -> None:
    assert format_duration(None) == "-"
    assert format_duration(None, missing="") == ""


def test_elapsed_seconds_between_ledger_timestamps() -> None:
    assert elapsed_seconds("2024-01-01T00:00:00.000000Z", "2024-01-01T00:02:03.456789Z") == 123.457
    assert elapsed_seconds(None, "2024-01-01T00:00:00.000000Z") is None
    assert elapsed_seconds("2024-01-01T00:00:00.000000Z", None) is None


def test_elapsed_seconds_of_something_still_going_runs_until_now() -> None:
    start = utc_now()
    ongoing = elapsed_seconds(start, None, until_now=True)
    assert ongoing is not None and 0 <= ongoing < 3600


def test_format_timestamp_to_the_second() -> None:
    assert format_timestamp("2026-11-25T15:49:12.123456Z") == "2026-11-25 15:49:12"
    assert format_timestamp(None) == "-"
    assert format_timestamp(None, missing="") == ""
