"""Table-driven tests of the series' pure rules: RRULE expansion in local time, the portal's weekly
rule, how far a series reaches, the refusal listing every date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from dateutil import rrule as du_rrule

from booking.errors import Conflict, InvalidRequest, QuotaExceeded
from booking.series import rules
from booking.spans import Span, zone
from tests.factories import at
from tests.words import en_slot

HCM = zone("Asia/Ho_Chi_Minh")
BERLIN = zone("Europe/Berlin")
NOW = at("2027-03-01 09:00")


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


class TestWeeklyRule:
    @pytest.mark.parametrize(
        ("weekdays", "until", "count", "rule"),
        [
            ([0, 2], None, 4, "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4"),
            ([4, 0, 4], date(2027, 3, 31), None, "FREQ=WEEKLY;BYDAY=MO,FR;UNTIL=20270331T235959"),
        ],
    )
    def test_writes_the_rule(
        self, weekdays: list[int], until: date | None, count: int | None, rule: str
    ) -> None:
        assert rules.weekly_rrule(weekdays, until=until, count=count) == rule

    @pytest.mark.parametrize(
        ("weekdays", "until", "count", "message"),
        [
            ([], None, 4, "choose at least one weekday to repeat on"),
            ([7], None, 4, "weekdays are numbered 0 (Monday) to 6 (Sunday)"),
            ([0], None, None, "a repeat ends either on a date or after a number of times; give one of them"),
            (
                [0],
                date(2027, 3, 31),
                4,
                "a repeat ends either on a date or after a number of times; give one of them",
            ),
            ([0], None, 201, "a series has 1 to 200 bookings; 201 were asked for"),
        ],
    )
    def test_refuses(self, weekdays: list[int], until: date | None, count: int | None, message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.weekly_rrule(weekdays, until=until, count=count)
        assert caught.value.detail == message


class TestHorizon:
    @pytest.mark.parametrize(
        ("rrule", "days"),
        [("FREQ=WEEKLY", 60), ("FREQ=WEEKLY;COUNT=4", 3660), ("FREQ=DAILY;UNTIL=20270401T000000", 3660)],
    )
    def test_open_ended_series_stop_at_the_resources_horizon(self, rrule: str, days: int) -> None:
        assert rules.expansion_horizon(rrule, NOW, 60) == NOW + timedelta(days=days)


class TestRefusal:
    def test_lists_every_date_and_keeps_one_kind(self) -> None:
        first = Span(at("2027-03-02 10:00"), at("2027-03-02 11:00"))
        second = Span(at("2027-03-09 10:00"), at("2027-03-09 11:00"))
        error = rules.series_refusal([(first, Conflict("taken")), (second, Conflict("taken too"))], 4, HCM)
        assert isinstance(error, Conflict)
        assert error.detail == (
            f"2 of 4 dates cannot be booked — {en_slot('2027-03-02 10:00–11:00')}: taken; "
            f"{en_slot('2027-03-09 10:00–11:00')}: taken too"
        )

    def test_mixed_kinds_are_a_conflict(self) -> None:
        first = Span(at("2027-03-02 10:00"), at("2027-03-02 11:00"))
        error = rules.series_refusal(
            [(first, QuotaExceeded("over")), (first, InvalidRequest("closed"))], 2, HCM
        )
        assert type(error) is Conflict


class TestBoundedWalk:
    """dateutil checks UNTIL only on a matching date; the walk is bounded by the horizon's year."""

    @pytest.mark.parametrize(
        "rrule",
        [
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=5",
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;UNTIL=20270601T000000Z",
            "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31",
            "FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=6",
            "FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1",
        ],
    )
    def test_a_rule_that_never_matches_gives_nothing(self, rrule: str) -> None:
        start = at("2027-03-02 10:00")
        horizon = start + rules.FURTHEST_END
        assert rules.expand_rrule(rrule, start, start + timedelta(hours=1), HCM, horizon) == []

    @pytest.mark.parametrize(
        "rrule",
        [
            "FREQ=DAILY;COUNT=40",
            "FREQ=DAILY;INTERVAL=3;UNTIL=20280101T000000Z",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=60",
            "FREQ=MONTHLY;BYDAY=-1FR;COUNT=30",
            "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=2;COUNT=24",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=TU",
            "FREQ=YEARLY;BYWEEKNO=1,53;BYDAY=TH",
            "FREQ=YEARLY;BYEASTER=0",
            "FREQ=MONTHLY;INTERVAL=5;BYMONTHDAY=-1",
        ],
    )
    def test_the_dates_inside_the_horizon_are_dateutils_own(self, rrule: str) -> None:
        start = at("2027-03-02 10:00")
        horizon = start + rules.FURTHEST_END
        spans = rules.expand_rrule(rrule, start, start + timedelta(hours=1), HCM, horizon)
        local_start = start.astimezone(HCM).replace(tzinfo=None)
        local_horizon = horizon.astimezone(HCM).replace(tzinfo=None)
        expected = [
            d for d in du_rrule.rrulestr(rrule.replace("Z", ""), dtstart=local_start) if d <= local_horizon
        ][: rules.MAX_OCCURRENCES]
        assert expected
        assert [s.start.astimezone(HCM).replace(tzinfo=None) for s in spans] == expected
