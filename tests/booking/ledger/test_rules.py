"""Table-driven tests of the quota ledger's pure rules: periods in the site's zone, limits, runtime left."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from booking.catalogue.rules import QuotaLimits
from booking.errors import QuotaExceeded
from booking.ledger import rules
from booking.ledger.rules import QuotaUsage
from booking.models import QuotaPeriod
from booking.spans import Span, zone
from tests.factories import at

HCM = zone("Asia/Ho_Chi_Minh")


class TestQuotaPeriods:
    @pytest.mark.parametrize(
        ("instant", "period", "first", "after"),
        [
            # 23:59 local on Sunday is still the week that began Monday 22 Feb.
            ("2027-02-28 23:59", QuotaPeriod.week, "2027-02-22 00:00", "2027-03-01 00:00"),
            ("2027-03-01 00:00", QuotaPeriod.week, "2027-03-01 00:00", "2027-03-08 00:00"),
            # 16:59 UTC on 28 Feb is 23:59 local, 17:00 UTC is already 1 March local.
            ("2027-02-28 23:59", QuotaPeriod.month, "2027-02-01 00:00", "2027-03-01 00:00"),
            ("2027-03-01 00:00", QuotaPeriod.month, "2027-03-01 00:00", "2027-04-01 00:00"),
            ("2027-12-31 23:30", QuotaPeriod.month, "2027-12-01 00:00", "2028-01-01 00:00"),
            ("2027-03-01 23:59", QuotaPeriod.day, "2027-03-01 00:00", "2027-03-02 00:00"),
            ("2027-03-02 00:00", QuotaPeriod.day, "2027-03-02 00:00", "2027-03-03 00:00"),
            # ISO week 53 of 2026 runs from Monday 28 Dec 2026 into 2027.
            ("2027-01-03 12:00", QuotaPeriod.week, "2026-12-28 00:00", "2027-01-04 00:00"),
        ],
    )
    def test_period_bounds_in_ho_chi_minh(
        self, instant: str, period: QuotaPeriod, first: str, after: str
    ) -> None:
        assert rules.period_bounds(at(instant), period, HCM) == Span(at(first), at(after))

    def test_utc_instant_belongs_to_local_day(self) -> None:
        # 17:30 UTC on Sunday is 00:30 on Monday in Hồ Chí Minh City: the new week.
        instant = datetime(2027, 2, 28, 17, 30, tzinfo=UTC)
        assert rules.period_bounds(instant, QuotaPeriod.week, HCM).start == at("2027-03-01 00:00")


class TestCheckQuota:
    @pytest.mark.parametrize(
        ("limits", "usage", "requested_h", "message"),
        [
            (
                QuotaLimits("laser", QuotaPeriod.week, max_hours=4),
                QuotaUsage(int(3.5 * 3600), 2, 2),
                1,
                "your plan allows 4 h of laser per week; you have 3.5 h booked and asked for 1 h more",
            ),
            (
                QuotaLimits("meeting-rooms", QuotaPeriod.day, max_bookings=2),
                QuotaUsage(0, 2, 0),
                1,
                "your plan allows 2 bookings of meeting-rooms per day; you have 2",
            ),
            (
                QuotaLimits("laser", QuotaPeriod.month, max_future_bookings=3),
                QuotaUsage(0, 0, 3),
                1,
                "your plan allows 3 upcoming bookings of laser at once; you have 3",
            ),
        ],
    )
    def test_refuses_over_limit(
        self, limits: QuotaLimits, usage: QuotaUsage, requested_h: float, message: str
    ) -> None:
        with pytest.raises(QuotaExceeded) as caught:
            rules.check_quota(limits, usage, int(requested_h * 3600))
        assert caught.value.detail == message

    @pytest.mark.parametrize(
        ("limits", "usage", "requested_h"),
        [
            (
                QuotaLimits("laser", QuotaPeriod.week, max_hours=4),
                QuotaUsage(3 * 3600, 0, 0),
                1,
            ),  # exactly full
            (QuotaLimits("laser", QuotaPeriod.week, max_bookings=3), QuotaUsage(0, 2, 0), 1),
            (QuotaLimits("laser", QuotaPeriod.week), QuotaUsage(10**6, 10**3, 10**3), 100),  # no limits
        ],
    )
    def test_accepts_within(self, limits: QuotaLimits, usage: QuotaUsage, requested_h: float) -> None:
        rules.check_quota(limits, usage, int(requested_h * 3600))


class TestRuntimeLeft:
    @pytest.mark.parametrize(
        ("limit_h", "used_s", "left_s"), [(1, 0, 3600), (1, 2400, 1200), (1, 4000, -400)]
    )
    def test_what_the_limit_still_allows(self, limit_h: float, used_s: float, left_s: float) -> None:
        assert rules.runtime_left(limit_h, used_s) == left_s
