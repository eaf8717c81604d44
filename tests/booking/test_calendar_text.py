"""iCalendar text (booking.calendar_text): what it writes, a calendar library reads back as meant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from booking.calendar_text import LINE_OCTETS, Entry, Value, calendar, duration, escape, instant

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
START = datetime(2027, 3, 1, 9, 0, tzinfo=HCM)


def _read(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def _event(**extra: Value) -> Entry:
    entry: Entry = [
        ("uid", "b-1@fablab-hub"),
        ("dtstamp", START),
        ("dtstart", START),
        ("dtend", START + timedelta(hours=2)),
    ]
    entry.extend(extra.items())
    return entry


def test_an_instant_is_written_in_utc() -> None:
    assert instant(START) == "20270301T020000Z"


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        instant(datetime(2027, 3, 1, 9, 0))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (timedelta(hours=1), "PT1H"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(days=1), "P1D"),
        (timedelta(days=1, seconds=5), "P1DT5S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_a_duration_is_written_in_days_and_time(value: timedelta, written: str) -> None:
    assert duration(value) == written


def test_text_escapes_what_the_format_reserves() -> None:
    assert escape("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"


def test_reserved_characters_in_text_read_back_as_written() -> None:
    summary = "Phòng họp A; tầng 2, khu B \\ cửa\nĐông"
    data = calendar([("version", "2.0")], [("VEVENT", _event(summary=summary))])

    (event,) = _read(data).walk("VEVENT")

    assert str(event["summary"]) == summary


def test_instants_read_back_as_the_same_moments() -> None:
    data = calendar([("version", "2.0")], [("VEVENT", _event())])

    (event,) = _read(data).walk("VEVENT")

    assert (event.decoded("dtstart"), event.decoded("dtend")) == (
        START.astimezone(UTC),
        (START + timedelta(hours=2)).astimezone(UTC),
    )


def test_every_line_holds_at_most_75_octets() -> None:
    long = "Máy cắt laser CO₂ 100 W — phòng FabLab tầng trệt, Trung tâm Hỗ trợ khởi nghiệp " * 4
    data = calendar([("version", "2.0")], [("VEVENT", _event(description=long))])

    assert max(len(line) for line in data.split(b"\r\n")) <= LINE_OCTETS


def test_a_folded_line_cuts_no_character_and_reads_back_whole() -> None:
    long = "Đặt chỗ ưu tiên cho học sinh STEM — " * 9
    data = calendar([("version", "2.0")], [("VEVENT", _event(description=long))])

    lines = data.split(b"\r\n")
    for line in lines:
        line.decode()  # raises if a fold split a character
    (event,) = _read(data).walk("VEVENT")
    assert str(event["description"]) == long


def test_every_line_ends_with_crlf() -> None:
    data = calendar([("version", "2.0")], [("VEVENT", _event())])

    assert data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_a_refresh_interval_is_marked_as_a_duration() -> None:
    data = calendar([("version", "2.0"), ("refresh-interval", timedelta(hours=1))], [])

    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in data


def test_a_number_is_written_as_it_is() -> None:
    data = calendar([("version", "2.0")], [("VEVENT", _event(sequence=42))])

    (event,) = _read(data).walk("VEVENT")

    assert event.decoded("sequence") == 42
