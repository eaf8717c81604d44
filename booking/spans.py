"""Spans of time: half-open UTC intervals, and how a site's local time reads and writes them.

Pure values shared by every subdomain. Instants are aware UTC inside; a site's zone turns them into the
local dates, clock times and sentences people read.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from booking.errors import InvalidRequest

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ClosureSpan:
    """A span a site is closed, and why (a public holiday's name, or the managers' reason)."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class SeatSpan:
    """A span with a number of seats (held by a booking, in use, or free)."""

    start: datetime
    end: datetime
    seats: int


# ---------------------------------------------------------------------------------------------
# Zones and local time


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or InvalidRequest naming the bad value."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(
            "'{name}' is not a known time zone (use e.g. Asia/Ho_Chi_Minh)", name=name
        ) from exc


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of `minutes` after local midnight of `day` (1440 is the next midnight)."""
    extra_days, minute_of_day = divmod(minutes, MINUTES_PER_DAY)
    local_day = day + timedelta(days=extra_days)
    naive = datetime.combine(local_day, time(minute_of_day // 60, minute_of_day % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Formatting, in the site's local time


def format_hm(minutes: int) -> str:
    """Minutes after midnight as HH:MM (1440 is 24:00)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_span(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """'2026-12-03 14:00–15:00' in local time (the end's date is shown when it differs)."""
    ls, le = start.astimezone(tz), end.astimezone(tz)
    if le.date() == ls.date() or (le.time() == time(0) and le - ls <= timedelta(days=1)):
        end_text = "24:00" if le.date() != ls.date() else le.strftime("%H:%M")
        return f"{ls:%Y-%m-%d %H:%M}–{end_text}"
    return f"{ls:%Y-%m-%d %H:%M}–{le:%Y-%m-%d %H:%M}"


def format_hours(seconds: float) -> str:
    """3.5 h, 4 h, 0.25 h: hours as a person writes them."""
    hours = round(seconds / 3600, 2)
    text = f"{hours:.2f}".rstrip("0").rstrip(".")
    return f"{text} h"


# ---------------------------------------------------------------------------------------------
# Intervals


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals [a_start, a_end) and [b_start, b_end) share an instant."""
    return a_start < b_end and b_start < a_end


def subtract(windows: Sequence[Span], busy: Iterable[Span]) -> list[Span]:
    """The parts of `windows` that no busy span covers."""
    cuts = sorted(busy, key=lambda s: s.start)
    free: list[Span] = []
    for window in windows:
        cursor = window.start
        for cut in cuts:
            if cut.end <= cursor or cut.start >= window.end:
                continue
            if cut.start > cursor:
                free.append(Span(cursor, cut.start))
            cursor = max(cursor, cut.end)
            if cursor >= window.end:
                break
        if cursor < window.end:
            free.append(Span(cursor, window.end))
    return free


def seat_profile(bookings: Iterable[SeatSpan], start: datetime, end: datetime) -> list[SeatSpan]:
    """Seats in use over [start, end), as consecutive spans of constant use (a sweep line)."""
    points: dict[datetime, int] = {start: 0, end: 0}
    for booking in bookings:
        lo, hi = max(booking.start, start), min(booking.end, end)
        if lo >= hi:
            continue
        points[lo] = points.get(lo, 0) + booking.seats
        points[hi] = points.get(hi, 0) - booking.seats
    profile: list[SeatSpan] = []
    in_use = 0
    instants = sorted(points)
    for here, after in itertools.pairwise(instants):
        in_use += points[here]
        if here >= end:
            break
        if here < start:
            continue
        if profile and profile[-1].seats == in_use and profile[-1].end == here:
            profile[-1] = SeatSpan(profile[-1].start, after, in_use)
        else:
            profile.append(SeatSpan(here, after, in_use))
    return profile


def peak_seats(bookings: Iterable[SeatSpan], start: datetime, end: datetime) -> int:
    """The most seats in use at any instant of [start, end)."""
    return max((span.seats for span in seat_profile(bookings, start, end)), default=0)


def free_seat_spans(windows: Sequence[Span], bookings: Sequence[SeatSpan], capacity: int) -> list[SeatSpan]:
    """Spans of the windows with at least one free seat, and how many seats are free in each."""
    free: list[SeatSpan] = []
    for window in windows:
        for span in seat_profile(bookings, window.start, window.end):
            left = capacity - span.seats
            if left <= 0:
                continue
            if free and free[-1].end == span.start and free[-1].seats == left:
                free[-1] = SeatSpan(free[-1].start, span.end, left)
            else:
                free.append(SeatSpan(span.start, span.end, left))
    return free


# The years a booking, a day shown or a report may fall in: wide enough for any plan a center makes,
# narrow enough that a day after the last one or a week before the first still exists.
FIRST_YEAR, LAST_YEAR = 2000, 2199


def check_year(value: date) -> None:
    """Refuse a day or an instant outside the years FabLab Hub works with (year 1, year 9999)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise InvalidRequest(
            "{year} is outside the years FabLab Hub works with ({first}–{last})",
            year=str(value.year),
            first=str(FIRST_YEAR),
            last=str(LAST_YEAR),
        )
