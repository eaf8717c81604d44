"""Pure rules of access at the machine: how long an unlock lasts, what a block tells the member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.access import rules

NOW = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)


class TestMaxDuration:
    @pytest.mark.parametrize(
        ("booking_end_min", "runtime_left_s", "closes_min", "expected"),
        [
            (60, None, None, 3600 + 120),  # the booking's end plus grace
            (60, 1800.0, None, 1800),  # the runtime quota left is shorter
            (60, None, 30, 1800),  # closing comes first
            (None, None, None, 8 * 3600),  # nothing limits: a day's shift at most
            (-10, None, None, 0),  # the booking is over and its grace too
        ],
    )
    def test_least_of_the_limits(
        self, booking_end_min: int | None, runtime_left_s: float | None, closes_min: int | None, expected: int
    ) -> None:
        assert (
            rules.max_duration_s(
                NOW,
                booking_end=NOW + timedelta(minutes=booking_end_min) if booking_end_min is not None else None,
                grace_s=120 if booking_end_min != -10 else 0,
                runtime_left_s=runtime_left_s,
                closes_at=NOW + timedelta(minutes=closes_min) if closes_min is not None else None,
            )
            == expected
        )


class TestBlockReason:
    @pytest.mark.parametrize(
        ("block", "reason"),
        [("maintenance", "maintenance"), ("fault", "fault"), ("event", "manager"), ("", "manager")],
    )
    def test_a_block_tells_its_reason_or_a_managers(self, block: str, reason: str) -> None:
        assert rules.block_reason(block) == reason
