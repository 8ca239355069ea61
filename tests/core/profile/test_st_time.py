"""SillyTavern timestamps (tui.core.profile.st_time)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from st_helpers import utc  # noqa: F401  (fixtures)

from tui.core.profile.st_time import parse_st_time

# -- times ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-07-12T01:32:05.000Z", "2024-07-12T01:32:05+00:00"),
        ("2024-07-12T03:32:05+02:00", "2024-07-12T01:32:05+00:00"),
        (1720748220000, "2024-07-12T01:37:00+00:00"),
        ("1720748220000", "2024-07-12T01:37:00+00:00"),
        (1720748220000.5, "2024-07-12T01:37:00.000500+00:00"),
        ("June 19, 2023 2:20pm", "2023-06-19T14:20:00+00:00"),
        ("July 5, 2023 11:02pm", "2023-07-05T23:02:00+00:00"),
        ("December 1, 2023 12:05am", "2023-12-01T00:05:00+00:00"),
        ("December 1, 2023 12:05pm", "2023-12-01T12:05:00+00:00"),
        ("2023-7-5 @23h 02m 10s 123ms", "2023-07-05T23:02:10.123000+00:00"),
        ("2024-7-12@01h31m37s", "2024-07-12T01:31:37+00:00"),
        ("2025-11-23@14h05m12s007ms", "2025-11-23T14:05:12.007000+00:00"),
        ("sometime last summer", None),
        ("Smarch 3, 2023 1:00pm", None),
        ("2023-13-40 @25h 00m 00s 000ms", None),
        ("", None),
        (None, None),
        (True, None),
        (-5, None),
        (float("inf"), None),
        (10**20, None),
    ],
)
def test_send_date_forms(utc, value, expected):
    got = parse_st_time(value)
    assert (got.astimezone(UTC).isoformat() if got else None) == expected


def test_humanized_dates_are_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # two hours east of UTC
    time.tzset()
    try:
        assert parse_st_time("July 5, 2023 11:02pm") == datetime(2023, 7, 5, 21, 2, tzinfo=UTC)
        assert parse_st_time("2023-07-05T23:02:00Z") == datetime(2023, 7, 5, 23, 2, tzinfo=UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
