"""Table-driven tests of every rule in booking/rules.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from booking import rules
from booking.errors import InvalidRequest, NotPermitted, QuotaExceeded
from booking.models import QuotaPeriod
from booking.rules import BookingRules, ClosureSpan, QuotaLimits, QuotaUsage, SeatSpan, Span
from tests.factories import at

HCM = rules.zone("Asia/Ho_Chi_Minh")
BERLIN = rules.zone("Europe/Berlin")
HOURS = rules.parse_opening_hours(
    {
        "mon": [["08:00", "12:00"], ["13:00", "17:30"]],
        "tue": [["08:00", "17:30"]],
        "sat": [["08:00", "24:00"]],
    }
)
LASER = BookingRules(
    name="Laser 1", slot_minutes=30, min_minutes=30, max_minutes=180, lead_minutes=60, max_days_ahead=14
)
NOW = at("2027-03-01 09:00")  # a Monday


class TestParseOpeningHours:
    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({"monday": [["08:00", "17:00"]]}, "'monday' is not a weekday"),
            ({"mon": [["8am", "17:00"]]}, "'8am' is not a time of day"),
            ({"mon": [["08:00", "25:00"]]}, "'25:00' is not a time of day"),
            ({"mon": [["17:00", "08:00"]]}, "08:00 is not after 17:00"),
            ({"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}, "overlap each other"),
            ({"mon": [["08:00"]]}, "need [open, close] pairs"),
        ],
    )
    def test_refuses_malformed_hours(self, raw: dict[str, list[list[str]]], message: str) -> None:
        with pytest.raises(InvalidRequest, match=__import__("re").escape(message)):
            rules.parse_opening_hours(raw)

    def test_parses_minutes_and_midnight(self) -> None:
        assert HOURS[5] == [(480, 1440)]
        assert HOURS[0] == [(480, 720), (780, 1050)]


class TestOpeningHours:
    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("2027-03-01 08:00", "2027-03-01 12:00"),  # the whole morning window
            ("2027-03-01 13:00", "2027-03-01 17:30"),  # the whole afternoon window
            ("2027-03-06 22:00", "2027-03-07 00:00"),  # Saturday until midnight
        ],
    )
    def test_accepts_inside_one_window(self, start: str, end: str) -> None:
        rules.check_opening_hours(at(start), at(end), HOURS, HCM, "FabLab")

    @pytest.mark.parametrize(
        ("start", "end", "message"),
        [
            ("2027-03-01 07:30", "2027-03-01 08:30", "FabLab is open 08:00–12:00, 13:00–17:30 on Mondays"),
            ("2027-03-01 11:30", "2027-03-01 13:30", "2027-03-01 11:30–13:30 is outside opening hours"),
            ("2027-03-01 17:00", "2027-03-01 18:00", "is outside opening hours"),
            ("2027-03-03 09:00", "2027-03-03 10:00", "FabLab is closed on Wednesdays"),
            ("2027-03-07 09:00", "2027-03-07 10:00", "closed on Sundays"),
        ],
    )
    def test_refuses_outside(self, start: str, end: str, message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_opening_hours(at(start), at(end), HOURS, HCM, "FabLab")
        assert message in caught.value.detail

    def test_windows_follow_the_site_zone(self) -> None:
        windows = rules.opening_windows(date(2027, 3, 2), HOURS, HCM)
        assert windows == [
            Span(datetime(2027, 3, 2, 1, 0, tzinfo=UTC), datetime(2027, 3, 2, 10, 30, tzinfo=UTC))
        ]


class TestClosures:
    def test_tet_2027_closes_the_center(self) -> None:
        closures = rules.holiday_closures("VN", [2027], HCM)
        names = {c.start.astimezone(HCM).date().isoformat(): c.reason for c in closures}
        # Tết Nguyên Đán 2027: the Lunar New Year falls on 6 February 2027.
        assert names["2027-02-06"] == "Lunar New Year"
        assert "2027-02-05" in names
        assert "2027-02-09" in names
        assert names["2027-09-02"] == "National Day"

    @pytest.mark.parametrize(
        ("start", "end", "refused"),
        [
            ("2027-02-06 09:00", "2027-02-06 10:00", True),  # Tết
            ("2027-02-05 23:30", "2027-02-06 00:30", True),  # runs into Tết
            ("2027-04-30 09:00", "2027-04-30 10:00", True),  # Reunification Day
            ("2027-03-01 09:00", "2027-03-01 10:00", False),
            ("2027-02-11 09:00", "2027-02-11 10:00", False),  # after the Tết holidays
        ],
    )
    def test_holidays(self, start: str, end: str, refused: bool) -> None:
        closures = rules.holiday_closures("VN", [2027], HCM)
        if refused:
            with pytest.raises(InvalidRequest, match="is closed"):
                rules.check_closures(at(start), at(end), closures, HCM, "the center")
        else:
            rules.check_closures(at(start), at(end), closures, HCM, "the center")

    def test_manager_closure_is_named(self) -> None:
        closure = ClosureSpan(at("2027-03-02 13:00"), at("2027-03-02 17:00"), "fire drill")
        with pytest.raises(InvalidRequest) as caught:
            rules.check_closures(at("2027-03-02 16:30"), at("2027-03-02 18:00"), [closure], HCM, "FabLab")
        assert caught.value.detail == (
            "FabLab is closed 2027-03-02 13:00–17:00 (fire drill); 2027-03-02 16:30–18:00 falls in it"
        )

    def test_no_country_no_holidays(self) -> None:
        assert rules.holiday_closures("", [2027], HCM) == []

    def test_unknown_country(self) -> None:
        with pytest.raises(InvalidRequest, match="no public holiday calendar"):
            rules.holiday_closures("XX", [2027], HCM)


class TestTimes:
    @pytest.mark.parametrize(
        ("start", "end", "message"),
        [
            ("2027-03-01 11:00", "2027-03-01 11:00", "the end must be after the start"),
            ("2027-03-01 11:00", "2027-03-01 11:20", "at least 30 min; 2027-03-01 11:00–11:20 is 20 min"),
            ("2027-03-01 11:00", "2027-03-01 14:30", "at most 180 min at a time"),
            ("2027-03-01 11:10", "2027-03-01 11:40", "slots of 30 min"),
            ("2027-03-01 11:00", "2027-03-01 11:45", "slots of 30 min"),
            ("2027-03-01 08:00", "2027-03-01 08:30", "has already begun or passed"),
            ("2027-03-01 09:30", "2027-03-01 10:00", "at least 60 min ahead"),
            ("2027-03-16 09:30", "2027-03-16 10:00", "at most 14 days ahead"),
        ],
    )
    def test_refuses(self, start: str, end: str, message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_times(at(start), at(end), LASER, NOW, HCM)
        assert message in caught.value.detail

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("2027-03-01 10:00", "2027-03-01 10:30"),  # exactly the lead time ahead
            ("2027-03-01 10:00", "2027-03-01 13:00"),  # exactly the longest
            ("2027-03-15 08:30", "2027-03-15 09:00"),  # 14 days ahead, not further
        ],
    )
    def test_accepts_boundaries(self, start: str, end: str) -> None:
        rules.check_times(at(start), at(end), LASER, NOW, HCM)

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="time zone offset"):
            rules.check_times(datetime(2027, 3, 1, 10), datetime(2027, 3, 1, 11), LASER, NOW, HCM)  # noqa: DTZ001


class TestSeatsAndTraining:
    @pytest.mark.parametrize(
        ("seats", "capacity", "exclusive", "message"),
        [
            (0, 10, False, "at least 1"),
            (2, 1, True, "booked as a whole"),
            (11, 10, False, "has 10 seats; 11 were asked for"),
        ],
    )
    def test_seats(self, seats: int, capacity: int, exclusive: bool, message: str) -> None:
        with pytest.raises(InvalidRequest, match=message):
            rules.check_seats(seats, capacity, exclusive, "Desks")

    def test_training_missing(self) -> None:
        with pytest.raises(NotPermitted) as caught:
            rules.check_training("laser", {}, NOW, "Laser safety", "Laser 1")
        assert caught.value.detail == "Laser 1 requires the training 'Laser safety', which you do not hold"

    def test_training_expired(self) -> None:
        with pytest.raises(NotPermitted, match="yours expired on 2027-02-28"):
            rules.check_training("laser", {"laser": at("2027-02-28 12:00")}, NOW, "Laser safety", "Laser 1")

    def test_training_valid_or_not_required(self) -> None:
        rules.check_training("laser", {"laser": None}, NOW, "Laser safety", "Laser 1")
        rules.check_training("laser", {"laser": NOW + timedelta(days=1)}, NOW, "Laser safety", "Laser 1")
        rules.check_training(None, {}, NOW, "", "Room")


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

    @pytest.mark.parametrize(
        ("existing", "new", "buffer", "clash"),
        [
            ((0, 60), (60, 120), 0, False),
            ((0, 60), (60, 120), 15, True),  # right after, within the buffer
            ((0, 60), (75, 120), 15, False),  # exactly the buffer apart
            ((60, 120), (0, 60), 15, True),  # right before, within the buffer
            ((60, 120), (0, 45), 15, False),
        ],
    )
    def test_buffers_keep_bookings_apart(
        self, existing: tuple[int, int], new: tuple[int, int], buffer: int, clash: bool
    ) -> None:
        a_end = rules.block_end(_t(existing[1]), buffer)
        b_end = rules.block_end(_t(new[1]), buffer)
        assert rules.overlaps(_t(existing[0]), a_end, _t(new[0]), b_end) is clash

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

    @pytest.mark.parametrize(
        ("seconds", "text"), [(3600, "1 h"), (5400, "1.5 h"), (900, "0.25 h"), (0, "0 h")]
    )
    def test_format_hours(self, seconds: int, text: str) -> None:
        assert rules.format_hours(seconds) == text


class TestRecurrence:
    def test_weekly_keeps_local_time_across_berlin_dst(self) -> None:
        # Europe/Berlin leaves CET (UTC+1) for CEST (UTC+2) on Sunday 28 March 2027.
        start = at("2027-03-17 10:00", "Europe/Berlin")
        end = at("2027-03-17 12:00", "Europe/Berlin")
        spans = rules.expand_rrule("FREQ=WEEKLY;COUNT=4", start, end, BERLIN, start + timedelta(days=400))
        assert [s.start.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") for s in spans] == [
            "2027-03-17 10:00",
            "2027-03-24 10:00",
            "2027-03-31 10:00",
            "2027-04-07 10:00",
        ]
        assert [s.start.hour for s in spans] == [9, 9, 8, 8]  # the UTC hour moves, the local one does not
        assert all(s.end - s.start == timedelta(hours=2) for s in spans)

    def test_autumn_change_keeps_local_time(self) -> None:
        # CEST back to CET on Sunday 31 October 2027.
        start = at("2027-10-27 18:00", "Europe/Berlin")
        spans = rules.expand_rrule(
            "FREQ=WEEKLY;COUNT=2", start, start + timedelta(hours=1), BERLIN, start + timedelta(days=30)
        )
        assert [s.start.astimezone(BERLIN).hour for s in spans] == [18, 18]
        assert [s.start.hour for s in spans] == [16, 17]

    def test_daily_with_byday_in_ho_chi_minh(self) -> None:
        start = at("2027-03-01 14:00")
        spans = rules.expand_rrule(
            "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270312T235959",
            start,
            start + timedelta(hours=1),
            HCM,
            start + timedelta(days=60),
        )
        assert [s.start.astimezone(HCM).strftime("%a %d") for s in spans] == [
            "Mon 01",
            "Wed 03",
            "Fri 05",
            "Mon 08",
            "Wed 10",
            "Fri 12",
        ]

    def test_until_in_utc_as_calendars_write_it(self) -> None:
        start = at("2027-03-01 14:00")
        # 2027-03-15 07:00 UTC is 14:00 in Hồ Chí Minh City: the occurrence that day is included.
        spans = rules.expand_rrule(
            "FREQ=WEEKLY;UNTIL=20270315T070000Z",
            start,
            start + timedelta(hours=1),
            HCM,
            start + timedelta(days=60),
        )
        assert [s.start for s in spans] == [
            at("2027-03-01 14:00"),
            at("2027-03-08 14:00"),
            at("2027-03-15 14:00"),
        ]

    def test_horizon_and_cap(self) -> None:
        start = at("2027-03-01 14:00")
        spans = rules.expand_rrule(
            "FREQ=DAILY", start, start + timedelta(hours=1), HCM, start + timedelta(days=9)
        )
        assert len(spans) == 10
        capped = rules.expand_rrule(
            "FREQ=DAILY", start, start + timedelta(hours=1), HCM, start + timedelta(days=9999)
        )
        assert len(capped) == rules.MAX_OCCURRENCES

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("FREQ=SOMETIMES", "is not a valid RRULE"),
            ("FREQ=MINUTELY;COUNT=3", "DAILY, WEEKLY, MONTHLY or YEARLY"),
            ("DTSTART:20270301T000000\nRRULE:FREQ=DAILY", "without DTSTART"),
            ("", "one RRULE line"),
            ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be 1 or more"),
        ],
    )
    def test_refuses_bad_rules(self, text: str, message: str) -> None:
        start = at("2027-03-01 14:00")
        with pytest.raises(InvalidRequest, match=message):
            rules.expand_rrule(text, start, start + timedelta(hours=1), HCM, start + timedelta(days=9))


class TestWaitlistOrder:
    def test_first_come_first_served_with_stable_ties(self) -> None:
        waiters = [
            rules.Waiter("c", _t(5)),
            rules.Waiter("b", _t(1)),
            rules.Waiter("a", _t(1)),
            rules.Waiter("d", _t(0)),
        ]
        assert [w.entry_id for w in rules.waitlist_order(waiters)] == ["d", "a", "b", "c"]


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
