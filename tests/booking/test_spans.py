"""Table-driven tests of the shared time values: intervals, seats over time, local formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from booking import spans as rules
from booking.errors import InvalidRequest
from booking.spans import SeatSpan, Span
from tests.factories import at

HCM = rules.zone("Asia/Ho_Chi_Minh")
T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def _t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class TestIntervals:
    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            ((0, 60), (60, 120), False),  # touching ends do not overlap: [) intervals
            ((0, 60), (59, 120), True),
            ((0, 120), (30, 60), True),
            ((30, 60), (0, 120), True),
            ((0, 30), (31, 60), False),
        ],
    )
    def test_overlaps(self, a: tuple[int, int], b: tuple[int, int], expected: bool) -> None:
        assert rules.overlaps(_t(a[0]), _t(a[1]), _t(b[0]), _t(b[1])) is expected

    def test_subtract(self) -> None:
        windows = [Span(_t(0), _t(600))]
        busy = [Span(_t(60), _t(120)), Span(_t(100), _t(180)), Span(_t(590), _t(700))]
        assert rules.subtract(windows, busy) == [
            Span(_t(0), _t(60)),
            Span(_t(180), _t(590)),
        ]

    def test_peak_seats_and_free_seats(self) -> None:
        bookings = [SeatSpan(_t(0), _t(120), 3), SeatSpan(_t(60), _t(180), 4), SeatSpan(_t(180), _t(240), 10)]
        assert rules.peak_seats(bookings, _t(0), _t(60)) == 3
        assert rules.peak_seats(bookings, _t(30), _t(90)) == 7
        assert rules.peak_seats(bookings, _t(120), _t(240)) == 10
        assert rules.free_seat_spans([Span(_t(0), _t(300))], bookings, 10) == [
            SeatSpan(_t(0), _t(60), 7),
            SeatSpan(_t(60), _t(120), 3),
            SeatSpan(_t(120), _t(180), 6),
            SeatSpan(_t(240), _t(300), 10),
        ]


class TestFormatting:
    @pytest.mark.parametrize(
        ("start", "end", "text"),
        [
            ("2027-03-01 14:00", "2027-03-01 15:00", "2027-03-01 14:00–15:00"),
            ("2027-03-06 22:00", "2027-03-07 00:00", "2027-03-06 22:00–24:00"),
            ("2027-03-06 22:00", "2027-03-08 09:00", "2027-03-06 22:00–2027-03-08 09:00"),
        ],
    )
    def test_format_span(self, start: str, end: str, text: str) -> None:
        assert rules.format_span(at(start), at(end), HCM) == text

    def test_unknown_zone(self) -> None:
        with pytest.raises(InvalidRequest, match="'Mars/Olympus' is not a known time zone"):
            rules.zone("Mars/Olympus")

    @pytest.mark.parametrize(
        ("seconds", "text"), [(3600, "1 h"), (5400, "1.5 h"), (900, "0.25 h"), (0, "0 h")]
    )
    def test_format_hours(self, seconds: int, text: str) -> None:
        assert rules.format_hours(seconds) == text
