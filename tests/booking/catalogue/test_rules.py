"""Table-driven tests of the catalogue's pure rules: opening hours, closures and public holidays."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from booking.catalogue import rules
from booking.errors import InvalidRequest
from booking.spans import ClosureSpan, Span, zone
from tests.factories import at
from tests.words import en_slot

HCM = zone("Asia/Ho_Chi_Minh")
HOURS = rules.parse_opening_hours(
    {
        "mon": [["08:00", "12:00"], ["13:00", "17:30"]],
        "tue": [["08:00", "17:30"]],
        "sat": [["08:00", "24:00"]],
    }
)


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
        with pytest.raises(InvalidRequest, match=re.escape(message)):
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
            (
                "2027-03-01 11:30",
                "2027-03-01 13:30",
                f"{en_slot('2027-03-01 11:30–13:30')} is outside opening hours",
            ),
            ("2027-03-01 17:00", "2027-03-01 18:00", "is outside opening hours"),
            ("2027-03-03 09:00", "2027-03-03 10:00", "FabLab is closed on Wednesdays"),
            ("2027-03-07 09:00", "2027-03-07 10:00", "closed on Sundays"),
        ],
    )
    def test_refuses_outside(self, start: str, end: str, message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_opening_hours(at(start), at(end), HOURS, HCM, "FabLab")
        assert message in caught.value.detail

    @pytest.mark.parametrize(
        ("hours", "start", "end"),
        [
            (
                {d: [(0, 1440)] for d in range(7)},
                "2027-03-01 23:00",
                "2027-03-02 03:00",
            ),  # 24-hour co-working
            ({d: [(0, 1440)] for d in range(7)}, "2027-03-01 08:00", "2027-03-04 08:00"),  # a three-day print
            (
                {0: [(1200, 1440)], 1: [(0, 360)]},
                "2027-03-01 22:00",
                "2027-03-02 05:00",
            ),  # an evening into the night
        ],
    )
    def test_a_span_across_windows_that_meet_is_open(
        self, hours: dict[int, list[tuple[int, int]]], start: str, end: str
    ) -> None:
        rules.check_opening_hours(at(start), at(end), hours, HCM, "FabLab")

    @pytest.mark.parametrize(
        ("hours", "start", "end"),
        [
            ({0: [(1200, 1440)], 1: [(60, 360)]}, "2027-03-01 22:00", "2027-03-02 05:00"),  # shut 00:00-01:00
            ({0: [(1200, 1440)]}, "2027-03-01 22:00", "2027-03-02 01:00"),  # closed on Tuesdays
            ({d: [(0, 1440)] for d in range(7)}, "2027-03-01 08:00", "2027-06-01 08:00"),  # beyond any walk
        ],
    )
    def test_a_gap_between_windows_is_closed(
        self, hours: dict[int, list[tuple[int, int]]], start: str, end: str
    ) -> None:
        with pytest.raises(InvalidRequest, match="outside opening hours"):
            rules.check_opening_hours(at(start), at(end), hours, HCM, "FabLab")

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
            f"FabLab is closed {en_slot('2027-03-02 13:00–17:00')} (fire drill); {en_slot('2027-03-02 16:30–18:00')} falls in it"  # noqa: E501
        )

    def test_no_country_no_holidays(self) -> None:
        assert rules.holiday_closures("", [2027], HCM) == []

    def test_unknown_country(self) -> None:
        with pytest.raises(InvalidRequest, match="no public holiday calendar"):
            rules.holiday_closures("XX", [2027], HCM)


class TestOpeningHoursAsPeopleWriteThem:
    @pytest.mark.parametrize(
        ("text", "windows"),
        [
            ("07:30-17:00, 18:00-21:00", [["07:30", "17:00"], ["18:00", "21:00"]]),
            ("7h30 - 23h", [["07:30", "23:00"]]),  # refused as "bad input" before
            ("7:30–23:00", [["07:30", "23:00"]]),
            ("07.30-17", [["07:30", "17:00"]]),
            ("7h-11h30; 13h-17h", [["07:00", "11:30"], ["13:00", "17:00"]]),
            ("8h đến 12h và 13h đến 17h", [["08:00", "12:00"], ["13:00", "17:00"]]),
            ("24/24", [["00:00", "24:00"]]),
            ("", []),
            ("đóng", []),
            ("Closed", []),
        ],
    )
    def test_reads(self, text: str, windows: list[list[str]]) -> None:
        assert rules.read_opening_text(text) == windows

    @pytest.mark.parametrize("text", ["sáng", "7h30", "7h-25h", "9:75-10", "8-12-14"])
    def test_refuses_what_it_cannot_read(self, text: str) -> None:
        with pytest.raises(InvalidRequest):
            rules.read_opening_text(text)


class TestBookingLengths:
    @pytest.mark.parametrize(
        ("slot", "shortest", "longest"), [(30, 30, 240), (15, 45, 120), (60, 60, 480), (120, 120, 240)]
    )
    def test_slots_that_tile_the_clock(self, slot: int, shortest: int, longest: int) -> None:
        rules.check_booking_lengths(slot, shortest, longest)

    @pytest.mark.parametrize(
        ("slot", "shortest", "longest", "why"),
        [
            (7, 28, 70, "does not divide the hour"),  # put "23:06–23:36" on the kiosk
            (45, 45, 90, "does not divide the hour"),
            (30, 45, 120, "whole slots of 30 min"),
            (30, 120, 60, "must not be longer than the longest"),
        ],
    )
    def test_refuses(self, slot: int, shortest: int, longest: int, why: str) -> None:
        with pytest.raises(InvalidRequest, match=why):
            rules.check_booking_lengths(slot, shortest, longest)
