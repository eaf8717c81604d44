"""The catalogue's pure rules: opening hours, closures and holidays, a resource's booking rules, who
may change the catalogue.

Every value comes in as an argument; nothing here does I/O. A rule that refuses raises a domain error
whose sentence names the rule and the numbers, in the site's local time.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays as holidays_package

from booking.errors import InvalidRequest, NotPermitted
from booking.messages import Slot, Term
from booking.models import QuotaPeriod, Resource
from booking.spans import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    ClosureSpan,
    Span,
    format_hm,
    local_instant,
    overlaps,
)

# Opening hours: weekday (0 = Monday) -> sorted, non-overlapping (open, close) minutes after local
# midnight; close may be 1440 (midnight at the end of the day).
OpeningHours = Mapping[int, Sequence[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class BookingRules:
    """The rules a resource puts on a booking of it."""

    name: str
    slot_minutes: int = 30
    min_minutes: int = 30
    max_minutes: int = 240
    lead_minutes: int = 0
    max_days_ahead: int = 60
    buffer_minutes: int = 0


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """One quota rule of a plan, as the quota check takes it."""

    quota_group: str
    period: QuotaPeriod
    max_hours: float | None = None
    max_bookings: int | None = None
    max_future_bookings: int | None = None
    # The group's name as the admin set it (empty: the catalogue's words for its id).
    group_name: str = ""
    group_name_en: str = ""


def check_booking_lengths(slot_minutes: int, min_minutes: int, max_minutes: int) -> None:
    """Refuse slots that do not tile the clock (slot 7 with a 30-minute minimum put "23:06–23:36"
    on the kiosk) and shortest/longest bookings that are not whole slots."""
    if not (60 % slot_minutes == 0 or (slot_minutes % 60 == 0 and 1440 % slot_minutes == 0)):
        raise InvalidRequest(
            "a slot of {slot} min does not divide the hour; use 5, 10, 15, 20, 30 or 60 min, or whole hours",
            slot=slot_minutes,
        )
    if min_minutes > max_minutes:
        raise InvalidRequest("the shortest booking must not be longer than the longest")
    if min_minutes % slot_minutes or max_minutes % slot_minutes:
        raise InvalidRequest(
            "the shortest and the longest booking must be whole slots of {slot} min", slot=slot_minutes
        )


def booking_rules(resource: Resource) -> BookingRules:
    """The resource's own booking rules as the pure rule functions take them."""
    return BookingRules(
        name=resource.name,
        slot_minutes=resource.slot_minutes,
        min_minutes=resource.min_minutes,
        max_minutes=resource.max_minutes,
        lead_minutes=resource.lead_minutes,
        max_days_ahead=resource.max_days_ahead,
        buffer_minutes=resource.buffer_minutes,
    )


# ---------------------------------------------------------------------------------------------
# Who may change the catalogue


class Acting(Protocol):
    """What the catalogue asks of whoever changes it: a signed-in member (`members.actors.Actor`) or
    the operator at the command line (`members.actors.SYSTEM`)."""

    @property
    def is_admin(self) -> bool: ...

    def manages(self, site_id: str) -> bool: ...


def require_admin(actor: Acting) -> None:
    """NotPermitted unless the actor is an admin."""
    if not actor.is_admin:
        raise NotPermitted("only an administrator can change how the center is set up")


# ---------------------------------------------------------------------------------------------
# Opening hours and closures


def parse_opening_hours(
    raw: Mapping[str, Sequence[Sequence[str]]],
) -> dict[int, list[tuple[int, int]]]:
    """Validate `{"mon": [["08:00", "17:30"]], ...}` into minutes; InvalidRequest on any bad value."""
    parsed: dict[int, list[tuple[int, int]]] = {}
    for key, windows in raw.items():
        if key not in WEEKDAYS:
            raise InvalidRequest(
                "'{key}' is not a weekday; use one of {text}", key=key, text=", ".join(WEEKDAYS)
            )
        spans: list[tuple[int, int]] = []
        for window in windows:
            if len(window) != 2:
                raise InvalidRequest("opening hours for {key} need [open, close] pairs", key=key)
            opens, closes = _parse_hm(window[0]), _parse_hm(window[1])
            if closes <= opens:
                raise InvalidRequest(
                    "opening hours for {key}: {value} is not after {value2}",
                    key=key,
                    value=window[1],
                    value2=window[0],
                )
            spans.append((opens, closes))
        spans.sort()
        for (_, first_close), (second_open, _) in itertools.pairwise(spans):
            if second_open < first_close:
                raise InvalidRequest("opening hours for {key} overlap each other", key=key)
        parsed[WEEKDAYS.index(key)] = spans
    return parsed


_CLOSED_WORDS = {"", "-", "đóng", "đóng cửa", "nghỉ", "closed", "off"}
_ALL_DAY_WORDS = {"24/24", "24/7", "24h", "cả ngày", "all day", "00:00-24:00", "0-24"}
_TIME = re.compile(r"^(\d{1,2})(?:(?:[:.h]|giờ)\s*(\d{2})?)?\s*(?:h|giờ)?$")


def read_opening_text(text: str) -> list[list[str]]:
    """One day's opening hours as people write them, as [open, close] pairs of HH:MM: "07:30-17:00,
    18:00-21:00", "7h30 - 23h", "7:30–23:00", "07.30-17", "7h-11h30; 13h-17h", "24/24" (all day);
    empty, "đóng", "nghỉ" or "closed": closed. InvalidRequest when a part cannot be read."""
    cleaned = " ".join(text.strip().lower().split())
    if cleaned in _CLOSED_WORDS:
        return []
    if cleaned in _ALL_DAY_WORDS:
        return [["00:00", "24:00"]]
    windows = []
    for part in re.split(r"[,;/]| và | and ", cleaned):
        if not part.strip():
            continue
        bounds = re.split(r"\s*(?:-|–|—|đến|to)\s*", part.strip())
        if len(bounds) != 2:
            raise InvalidRequest(
                "'{text}' is not opening hours like 07:30-17:00, 18:00-21:00", text=part.strip()
            )
        windows.append([_clock(bound, part) for bound in bounds])
    return windows


def _clock(bound: str, part: str) -> str:
    match = _TIME.match(bound.strip())
    if match is None:
        raise InvalidRequest("'{text}' is not opening hours like 07:30-17:00, 18:00-21:00", text=part.strip())
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise InvalidRequest("'{text}' is not a time of day like 08:30", text=bound.strip())
    return f"{hours:02d}:{minutes:02d}"


def _parse_hm(text: str) -> int:
    try:
        hours_text, minutes_text = text.split(":")
        hours, minutes = int(hours_text), int(minutes_text)
    except ValueError as exc:
        raise InvalidRequest("'{text}' is not a time of day like 08:30", text=text) from exc
    if not (0 <= minutes < 60 and 0 <= hours <= 24) or (hours == 24 and minutes != 0):
        raise InvalidRequest("'{text}' is not a time of day like 08:30", text=text)
    return hours * 60 + minutes


def opening_windows(day: date, hours: OpeningHours, tz: ZoneInfo) -> list[Span]:
    """The site's open spans on a local date, as UTC spans."""
    return [
        Span(local_instant(day, opens, tz), local_instant(day, closes, tz))
        for opens, closes in hours.get(day.weekday(), ())
    ]


# "closed on Mondays": the weekday words of the opening-hours refusals (translated by the catalogue).
WEEKDAY_PLURALS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")

# A span longer than this is never inside opening hours, however they run (bounds the walk below).
OPEN_SPAN_DAYS = 62


def open_stretches(first: date, last: date, hours: OpeningHours, tz: ZoneInfo) -> list[Span]:
    """The site's open time from local date `first` to `last`, windows that follow each other
    without a gap joined into one stretch (00:00–24:00 every day is one stretch across midnight)."""
    stretches: list[Span] = []
    day = first
    while day <= last:
        for window in opening_windows(day, hours, tz):
            if stretches and window.start <= stretches[-1].end:
                stretches[-1] = Span(stretches[-1].start, max(stretches[-1].end, window.end))
            else:
                stretches.append(window)
        day += timedelta(days=1)
    return stretches


def check_opening_hours(
    start: datetime, end: datetime, hours: OpeningHours, tz: ZoneInfo, place: str
) -> None:
    """Refuse a booking that does not lie inside the site's open hours.

    Inside one window, or across windows that follow each other without a gap: an overnight 3D print
    or 24-hour co-working at a site open 00:00–24:00 stays inside open hours across midnight.
    """
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    if (last - day).days <= OPEN_SPAN_DAYS and any(
        s.start <= start and end <= s.end for s in open_stretches(day, last, hours, tz)
    ):
        return
    requested = Slot(start, end, tz.key)
    windows = hours.get(day.weekday(), ())
    if not windows:
        raise InvalidRequest(
            "{place} is closed on {weekdays}; {slot} is outside opening hours",
            place=place,
            weekdays=Term(WEEKDAY_PLURALS[day.weekday()]),
            slot=requested,
        )
    raise InvalidRequest(
        "{place} is open {hours} on {weekdays}; {slot} is outside opening hours",
        place=place,
        hours=", ".join(f"{format_hm(o)}–{format_hm(c)}" for o, c in windows),
        weekdays=Term(WEEKDAY_PLURALS[day.weekday()]),
        slot=requested,
    )


def holiday_closures(country: str, years: Iterable[int], tz: ZoneInfo) -> list[ClosureSpan]:
    """The country's public holidays (Tết included for VN) as whole local days, as UTC spans."""
    if not country:
        return []
    return list(_holiday_spans(country, tuple(sorted(set(years))), tz))


@functools.lru_cache(maxsize=64)
def _holiday_spans(country: str, years: tuple[int, ...], tz: ZoneInfo) -> tuple[ClosureSpan, ...]:
    calendar = _holiday_calendar(country, years)
    return tuple(
        ClosureSpan(local_instant(day, 0, tz), local_instant(day, MINUTES_PER_DAY, tz), name)
        for day, name in sorted(calendar.items())
    )


@functools.lru_cache(maxsize=32)
def _holiday_calendar(country: str, years: tuple[int, ...]) -> dict[date, str]:
    try:
        calendar = holidays_package.country_holidays(country, years=years, language="en_US")
    except NotImplementedError as exc:
        raise InvalidRequest(
            "no public holiday calendar is known for country '{country}'", country=country
        ) from exc
    return dict(calendar.items())


def holidays_touching(country: str, span: Span, tz: ZoneInfo) -> list[ClosureSpan]:
    """The country's public holidays that touch the span."""
    if not country:
        return []
    years = range(span.start.astimezone(tz).year, span.end.astimezone(tz).year + 1)
    return [
        holiday
        for holiday in holiday_closures(country, years, tz)
        if overlaps(holiday.start, holiday.end, span.start, span.end)
    ]


def check_closures(
    start: datetime, end: datetime, closures: Sequence[ClosureSpan], tz: ZoneInfo, place: str
) -> None:
    """Refuse a booking that touches a closure (a holiday or a closure the managers entered)."""
    for closure in closures:
        if overlaps(start, end, closure.start, closure.end):
            raise InvalidRequest(
                "{place} is closed {closure} ({reason}); {slot} falls in it",
                place=place,
                closure=Slot(closure.start, closure.end, tz.key),
                reason=closure.reason,
                slot=Slot(start, end, tz.key),
            )


def check_closure_span(start: datetime, end: datetime) -> None:
    """Refuse a closure that ends before it starts."""
    if end <= start:
        raise InvalidRequest("a closure's end must be after its start")


def check_holiday_country(country: str, tz: ZoneInfo) -> None:
    """Refuse a country whose public holidays are not known."""
    if country:
        holiday_closures(country.upper(), [2027], tz)
