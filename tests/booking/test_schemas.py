"""The API's own formats (booking.schemas)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from booking.schemas import format_ts

HCM = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (datetime(2026, 3, 2, 7, 15, tzinfo=UTC), "2026-03-02T07:15:00.000Z"),
        (datetime(2026, 3, 2, 7, 15, 4, 987_654, tzinfo=UTC), "2026-03-02T07:15:04.987Z"),
        # An instant given in Hồ Chí Minh City's time is told in UTC, the day before at need.
        (datetime(2026, 3, 2, 6, 5, 9, 1_000, tzinfo=HCM), "2026-03-01T23:05:09.001Z"),
    ],
)
def test_an_instant_is_rfc3339_utc_with_milliseconds(value: datetime, shown: str) -> None:
    assert format_ts(value) == shown
