"""Pure booking rules: opening hours, closures, durations, buffers, quotas, recurrence, waitlists.

Every value (the resource's rules, the site's hours, `now`) comes in as an argument; nothing here does
I/O, so each rule is tested on its own with tables of cases. A rule that refuses raises a domain error
whose sentence names the rule and the numbers, in the site's local time.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package
from dateutil import rrule as du_rrule

from booking.errors import InvalidRequest, NotPermitted, QuotaExceeded
from booking.models import QuotaPeriod

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
# A series may not expand to more bookings than this, whatever its RRULE says.
MAX_OCCURRENCES = 200
ALLOWED_FREQUENCIES = frozenset({du_rrule.DAILY, du_rrule.WEEKLY, du_rrule.MONTHLY, du_rrule.YEARLY})

# Opening hours: weekday (0 = Monday) -> sorted, non-overlapping (open, close) minutes after local
# midnight; close may be 1440 (midnight at the end of the day).
OpeningHours = Mapping[int, Sequence[tuple[int, int]]]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open UTC interval [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class ClosureSpan:
    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class SeatSpan:
    start: datetime
    end: datetime
    seats: int


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
    quota_group: str
    period: QuotaPeriod
    max_hours: float | None = None
    max_bookings: int | None = None
    max_future_bookings: int | None = None


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """What a member already holds in one quota group: in the period, and in the future overall."""

    booked_seconds: int
    bookings: int
    future_bookings: int


# ---------------------------------------------------------------------------------------------
# Formatting, in the site's local time


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name, or InvalidRequest naming the bad value."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(f"'{name}' is not a known time zone (use e.g. Asia/Ho_Chi_Minh)") from exc


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


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
# Opening hours and closures


def parse_opening_hours(
    raw: Mapping[str, Sequence[Sequence[str]]],
) -> dict[int, list[tuple[int, int]]]:
    """Validate `{"mon": [["08:00", "17:30"]], ...}` into minutes; InvalidRequest on any bad value."""
    parsed: dict[int, list[tuple[int, int]]] = {}
    for key, windows in raw.items():
        if key not in WEEKDAYS:
            raise InvalidRequest(f"'{key}' is not a weekday; use one of {', '.join(WEEKDAYS)}")
        spans: list[tuple[int, int]] = []
        for window in windows:
            if len(window) != 2:
                raise InvalidRequest(f"opening hours for {key} need [open, close] pairs")
            opens, closes = _parse_hm(window[0]), _parse_hm(window[1])
            if closes <= opens:
                raise InvalidRequest(f"opening hours for {key}: {window[1]} is not after {window[0]}")
            spans.append((opens, closes))
        spans.sort()
        for (_, first_close), (second_open, _) in itertools.pairwise(spans):
            if second_open < first_close:
                raise InvalidRequest(f"opening hours for {key} overlap each other")
        parsed[WEEKDAYS.index(key)] = spans
    return parsed


def _parse_hm(text: str) -> int:
    try:
        hours_text, minutes_text = text.split(":")
        hours, minutes = int(hours_text), int(minutes_text)
    except ValueError as exc:
        raise InvalidRequest(f"'{text}' is not a time of day like 08:30") from exc
    if not (0 <= minutes < 60 and 0 <= hours <= 24) or (hours == 24 and minutes != 0):
        raise InvalidRequest(f"'{text}' is not a time of day like 08:30")
    return hours * 60 + minutes


def local_instant(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of `minutes` after local midnight of `day` (1440 is the next midnight)."""
    extra_days, minute_of_day = divmod(minutes, MINUTES_PER_DAY)
    local_day = day + timedelta(days=extra_days)
    naive = datetime.combine(local_day, time(minute_of_day // 60, minute_of_day % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC)


def opening_windows(day: date, hours: OpeningHours, tz: ZoneInfo) -> list[Span]:
    """The site's open spans on a local date, as UTC spans."""
    return [
        Span(local_instant(day, opens, tz), local_instant(day, closes, tz))
        for opens, closes in hours.get(day.weekday(), ())
    ]


def check_opening_hours(
    start: datetime, end: datetime, hours: OpeningHours, tz: ZoneInfo, place: str
) -> None:
    """Refuse a booking that does not lie inside one opening window of its local day."""
    day = start.astimezone(tz).date()
    windows = opening_windows(day, hours, tz)
    if any(w.start <= start and end <= w.end for w in windows):
        return
    weekday = WEEKDAY_NAMES[day.weekday()]
    requested = format_span(start, end, tz)
    if not windows:
        raise InvalidRequest(f"{place} is closed on {weekday}s; {requested} is outside opening hours")
    open_text = ", ".join(f"{format_hm(o)}–{format_hm(c)}" for o, c in hours.get(day.weekday(), ()))
    raise InvalidRequest(f"{place} is open {open_text} on {weekday}s; {requested} is outside opening hours")


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
        raise InvalidRequest(f"no public holiday calendar is known for country '{country}'") from exc
    return dict(calendar.items())


def check_closures(
    start: datetime, end: datetime, closures: Sequence[ClosureSpan], tz: ZoneInfo, place: str
) -> None:
    """Refuse a booking that touches a closure (a holiday or a closure the managers entered)."""
    for closure in closures:
        if overlaps(start, end, closure.start, closure.end):
            raise InvalidRequest(
                f"{place} is closed {format_span(closure.start, closure.end, tz)} "
                f"({closure.reason}); {format_span(start, end, tz)} falls in it"
            )


# ---------------------------------------------------------------------------------------------
# Durations, granularity, lead time, horizon


def check_times(
    start: datetime,
    end: datetime,
    rules: BookingRules,
    now: datetime,
    tz: ZoneInfo,
    *,
    walk_in: bool = False,
) -> None:
    """Refuse a booking in the past, too short, too long, off the slot grid, too soon or too far.

    A walk-in books the slot under way: it may have begun (not ended), and no lead time applies.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("start and end need a time zone offset, e.g. 2026-12-03T07:00:00Z")
    if end <= start:
        raise InvalidRequest("the end must be after the start")
    minutes = (end - start).total_seconds() / 60
    if minutes < rules.min_minutes:
        raise InvalidRequest(
            f"{rules.name} is booked for at least {rules.min_minutes} min; "
            f"{format_span(start, end, tz)} is {minutes:g} min"
        )
    if minutes > rules.max_minutes:
        raise InvalidRequest(
            f"{rules.name} can be booked for at most {rules.max_minutes} min at a time; "
            f"{format_span(start, end, tz)} is {minutes:g} min"
        )
    local_start = start.astimezone(tz)
    start_minute = local_start.hour * 60 + local_start.minute
    if (
        local_start.second
        or local_start.microsecond
        or start_minute % rules.slot_minutes
        or minutes % rules.slot_minutes
    ):
        raise InvalidRequest(
            f"{rules.name} is booked in slots of {rules.slot_minutes} min; "
            f"{format_span(start, end, tz)} does not fit them"
        )
    if walk_in:
        if end <= now:
            raise InvalidRequest(f"{format_span(start, end, tz)} has already passed")
    elif start < now:
        raise InvalidRequest(f"{format_span(start, end, tz)} has already begun or passed")
    elif start < now + timedelta(minutes=rules.lead_minutes):
        raise InvalidRequest(
            f"{rules.name} must be booked at least {rules.lead_minutes} min ahead; "
            f"{format_span(start, end, tz)} starts too soon"
        )
    if start > now + timedelta(days=rules.max_days_ahead):
        raise InvalidRequest(
            f"{rules.name} can be booked at most {rules.max_days_ahead} days ahead; "
            f"{format_span(start, end, tz)} is further"
        )


def check_seats(seats: int, capacity: int, exclusive: bool, name: str) -> None:
    """Refuse a seat count a resource cannot take."""
    if seats < 1:
        raise InvalidRequest("seats must be at least 1")
    if exclusive and seats != 1:
        raise InvalidRequest(f"{name} is booked as a whole; seats apply only to desk pools")
    if seats > capacity:
        raise InvalidRequest(f"{name} has {capacity} seats; {seats} were asked for")


def check_training(
    required: str | None,
    held: Mapping[str, datetime | None],
    now: datetime,
    training_name: str,
    name: str,
) -> None:
    """Refuse a member who lacks the training a resource requires, or whose grant expired."""
    if required is None:
        return
    if required not in held:
        raise NotPermitted(f"{name} requires the training '{training_name}', which you do not hold")
    expires = held[required]
    if expires is not None and expires <= now:
        raise NotPermitted(
            f"{name} requires the training '{training_name}'; yours expired on {expires:%Y-%m-%d}"
        )


# ---------------------------------------------------------------------------------------------
# Intervals


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Half-open intervals [a_start, a_end) and [b_start, b_end) share an instant."""
    return a_start < b_end and b_start < a_end


def block_end(end: datetime, buffer_minutes: int) -> datetime:
    """The end of the span a booking keeps others from: its end plus the resource's buffer.

    With every booking blocking [start, end + buffer), two bookings never come closer than the buffer,
    whichever of them comes first.
    """
    return end + timedelta(minutes=buffer_minutes)


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


# ---------------------------------------------------------------------------------------------
# Quotas


def period_bounds(instant: datetime, period: QuotaPeriod, tz: ZoneInfo) -> Span:
    """The local day, ISO week (Monday first) or calendar month holding `instant`, as UTC."""
    local_day = instant.astimezone(tz).date()
    if period is QuotaPeriod.day:
        first, after = local_day, local_day + timedelta(days=1)
    elif period is QuotaPeriod.week:
        first = local_day - timedelta(days=local_day.weekday())
        after = first + timedelta(days=7)
    else:
        first = local_day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return Span(local_instant(first, 0, tz), local_instant(after, 0, tz))


PERIOD_WORDS: Mapping[QuotaPeriod, str] = {
    QuotaPeriod.day: "day",
    QuotaPeriod.week: "week",
    QuotaPeriod.month: "month",
}


def check_quota(limits: QuotaLimits, usage: QuotaUsage, requested_seconds: int) -> None:
    """Refuse a booking that would take the member past a limit of their plan."""
    group, period = limits.quota_group, PERIOD_WORDS[limits.period]
    if limits.max_hours is not None:
        allowed = limits.max_hours * 3600
        if usage.booked_seconds + requested_seconds > allowed + 1e-6:
            raise QuotaExceeded(
                f"your plan allows {format_hours(allowed)} of {group} per {period}; "
                f"you have {format_hours(usage.booked_seconds)} booked and asked for "
                f"{format_hours(requested_seconds)} more"
            )
    if limits.max_bookings is not None and usage.bookings + 1 > limits.max_bookings:
        raise QuotaExceeded(
            f"your plan allows {limits.max_bookings} bookings of {group} per {period}; "
            f"you have {usage.bookings}"
        )
    if limits.max_future_bookings is not None and usage.future_bookings + 1 > limits.max_future_bookings:
        raise QuotaExceeded(
            f"your plan allows {limits.max_future_bookings} upcoming bookings of {group} at once; "
            f"you have {usage.future_bookings}"
        )


# ---------------------------------------------------------------------------------------------
# Recurrence


def expand_rrule(
    rrule_text: str, start: datetime, end: datetime, tz: ZoneInfo, horizon: datetime
) -> list[Span]:
    """The occurrences of a series whose first booking is [start, end), expanded in local time.

    Each occurrence keeps the first one's local wall-clock start and end, so a weekly 10:00–12:00
    stays 10:00–12:00 across a daylight-saving change. Expansion stops at the RRULE's own end, at
    `horizon`, or at MAX_OCCURRENCES.
    """
    text = rrule_text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if not text or "DTSTART" in text.upper() or "\n" in text:
        raise InvalidRequest("rrule must be one RRULE line like FREQ=WEEKLY;COUNT=8 (without DTSTART)")
    local_start = start.astimezone(tz).replace(tzinfo=None)
    wall_length = end.astimezone(tz).replace(tzinfo=None) - local_start
    # Calendars write UNTIL in UTC (…Z); the series is expanded in local wall time, so UNTIL is too.
    text = _UNTIL_UTC.sub(lambda m: "UNTIL=" + _utc_until_to_local(m.group(1), tz), text)
    try:
        rule = du_rrule.rrulestr(text, dtstart=local_start)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidRequest(f"rrule '{rrule_text}' is not a valid RRULE: {exc}") from exc
    if not isinstance(rule, du_rrule.rrule) or getattr(rule, "_freq", None) not in ALLOWED_FREQUENCIES:
        raise InvalidRequest("rrule must repeat DAILY, WEEKLY, MONTHLY or YEARLY")
    if getattr(rule, "_interval", 1) < 1:
        raise InvalidRequest("rrule INTERVAL must be 1 or more")
    local_horizon = horizon.astimezone(tz).replace(tzinfo=None)
    occurrences: list[Span] = []
    for occurrence in rule:
        if occurrence > local_horizon or len(occurrences) >= MAX_OCCURRENCES:
            break
        occurrences.append(
            Span(
                occurrence.replace(tzinfo=tz).astimezone(UTC),
                (occurrence + wall_length).replace(tzinfo=tz).astimezone(UTC),
            )
        )
    return occurrences


_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def _utc_until_to_local(value: str, tz: ZoneInfo) -> str:
    try:
        instant = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidRequest(f"UNTIL={value}Z is not a date and time") from exc
    return instant.astimezone(tz).strftime("%Y%m%dT%H%M%S")


# ---------------------------------------------------------------------------------------------
# Waitlist


@dataclass(frozen=True, slots=True)
class Waiter:
    entry_id: str
    created_at: datetime


def waitlist_order(waiters: Iterable[Waiter]) -> list[Waiter]:
    """First come, first served; the id breaks ties so the order is total and stable."""
    return sorted(waiters, key=lambda w: (w.created_at, w.entry_id))
