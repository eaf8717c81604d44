"""The series' pure rules: RRULE expansion in local time, the weekly rule the portal writes, how far
an open-ended series reaches, and the refusal that lists every date that cannot be booked."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du_rrule

from booking.errors import Conflict, DomainError, InvalidRequest
from booking.messages import Items, Slot, message
from booking.spans import Span, check_year

# A series may not expand to more bookings than this, whatever its RRULE says.
MAX_OCCURRENCES = 200
ALLOWED_FREQUENCIES = frozenset({du_rrule.DAILY, du_rrule.WEEKLY, du_rrule.MONTHLY, du_rrule.YEARLY})
# RFC 5545 weekday codes, Monday first like date.weekday().
WEEKDAY_CODES: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# A series with its own end (COUNT or UNTIL) may reach this far; an open-ended one stops at the
# resource's booking horizon.
FURTHEST_END = timedelta(days=3660)


def expansion_horizon(rrule_text: str, now: datetime, max_days_ahead: int) -> datetime:
    """How far a series is expanded: the resource's horizon when the RRULE has no end of its own."""
    upper = rrule_text.upper()
    open_ended = "COUNT=" not in upper and "UNTIL=" not in upper
    return now + (timedelta(days=max_days_ahead) if open_ended else FURTHEST_END)


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
        raise InvalidRequest(
            "rrule '{rrule_text}' is not a valid RRULE: {reason}", rrule_text=rrule_text, reason=str(exc)
        ) from exc
    if not isinstance(rule, du_rrule.rrule) or getattr(rule, "_freq", None) not in ALLOWED_FREQUENCIES:
        raise InvalidRequest("rrule must repeat DAILY, WEEKLY, MONTHLY or YEARLY")
    if getattr(rule, "_interval", 1) < 1:
        raise InvalidRequest("rrule INTERVAL must be 1 or more")
    local_horizon = horizon.astimezone(tz).replace(tzinfo=None)
    occurrences: list[Span] = []
    for occurrence in _walk_until(rule, local_horizon):
        if occurrence > local_horizon or len(occurrences) >= MAX_OCCURRENCES:
            break
        occurrences.append(
            Span(
                occurrence.replace(tzinfo=tz).astimezone(UTC),
                (occurrence + wall_length).replace(tzinfo=tz).astimezone(UTC),
            )
        )
    return occurrences


class _PastHorizon(Exception):
    """dateutil's walk entered a year after the horizon's."""


class _HorizonBoundRule(du_rrule.rrule):
    """A parsed rule whose walk stops a year or so after the horizon, match or no match.

    dateutil walks a rule period by period and checks UNTIL only on a date that matches, so a rule
    that never matches again (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) walks every day to the year 9999:
    seconds of CPU for one request. Its walk rebuilds its masks (`_iterinfo.rebuild`, python-dateutil
    2.9, pinned) once per month it enters (once per year for YEARLY) and reads `_byeaster` there at
    most twice; counting those reads bounds the walk. `tests/booking/series/test_rules.py` checks the
    dates against dateutil's own unbounded walk, so a dateutil that reads differently fails there.
    """

    _reads_left: int

    @property
    def _byeaster(self) -> Any:
        self._reads_left -= 1
        if self._reads_left < 0:
            raise _PastHorizon
        return self.__dict__["_byeaster"]


def _walk_until(rule: du_rrule.rrule, local_horizon: datetime) -> Iterator[datetime]:
    """The rule's dates in order, the walk stopping a year or so after `local_horizon`."""
    start: datetime = rule._dtstart  # type: ignore[attr-defined]
    yearly = rule._freq == du_rrule.YEARLY  # type: ignore[attr-defined]
    years = max(0, local_horizon.year - start.year) + 2
    rebuilds = years if yearly else 12 * years
    rule.__class__ = _HorizonBoundRule
    assert isinstance(rule, _HorizonBoundRule)
    rule._reads_left = 2 * (rebuilds + 1) + 1
    try:
        yield from iter(rule)
    except _PastHorizon:
        return


_UNTIL_UTC = re.compile(r"UNTIL=(\d{8}T\d{6})Z", re.IGNORECASE)


def _utc_until_to_local(value: str, tz: ZoneInfo) -> str:
    try:
        instant = datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidRequest("UNTIL={value}Z is not a date and time", value=value) from exc
    check_year(instant)
    return instant.astimezone(tz).strftime("%Y%m%dT%H%M%S")


def weekly_rrule(weekdays: Sequence[int], *, until: date | None = None, count: int | None = None) -> str:
    """An RRULE repeating weekly on the given weekdays (0 = Monday) until a local date or N times.

    UNTIL is written as the last instant of that local day, without a zone: the series is expanded in
    the site's local time, where a floating UNTIL means exactly that day.
    """
    days = sorted(set(weekdays))
    if not days:
        raise InvalidRequest("choose at least one weekday to repeat on")
    if any(d not in range(7) for d in days):
        raise InvalidRequest("weekdays are numbered 0 (Monday) to 6 (Sunday)")
    if (until is None) == (count is None):
        raise InvalidRequest("a repeat ends either on a date or after a number of times; give one of them")
    rule = "FREQ=WEEKLY;BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in days)
    if count is not None:
        if not 1 <= count <= MAX_OCCURRENCES:
            raise InvalidRequest(
                "a series has 1 to {most} bookings; {count} were asked for",
                most=MAX_OCCURRENCES,
                count=count,
            )
        return f"{rule};COUNT={count}"
    assert until is not None
    return f"{rule};UNTIL={until:%Y%m%d}T235959"


def series_refusal(refused: Sequence[tuple[Span, DomainError]], total: int, tz: ZoneInfo) -> DomainError:
    """One error listing every date of a series that cannot be booked, and why."""
    listed = Items(
        tuple(
            message("{slot}: {why}", slot=Slot(span.start, span.end, tz.key), why=exc.message)
            for span, exc in refused
        )
    )
    kinds = {type(exc) for _, exc in refused}
    error_type: type[DomainError] = kinds.pop() if len(kinds) == 1 else Conflict
    return error_type(
        "{refused} of {total} dates cannot be booked — {listed}",
        refused=len(refused),
        total=total,
        listed=listed,
    )


def moved_occurrence(
    start: datetime,
    end: datetime,
    tz: ZoneInfo,
    *,
    start_time: str | None,
    end_time: str | None,
    weekday: int | None,
) -> Span:
    """Where one occurrence of a series goes when the series is changed, in the site's local time.

    `start_time`/`end_time` ("HH:MM") replace its local wall-clock times; `weekday` (0 = Monday) moves
    it to that day of its own week (Monday to Sunday); what is not given stays. An end at or before
    the start means the next day only when the occurrence already ran past midnight.
    """
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    day = local_start.date()
    if weekday is not None:
        day += timedelta(days=weekday - day.weekday())
    days_long = (local_end.date() - local_start.date()).days
    new_start_time = _hhmm(start_time) if start_time else local_start.time()
    new_end_time = _hhmm(end_time) if end_time else local_end.time()
    new_start = datetime.combine(day, new_start_time, tz)
    new_end = datetime.combine(day + timedelta(days=days_long), new_end_time, tz)
    if new_end <= new_start:
        raise InvalidRequest(
            "the new times {start}–{end} end before they start",
            start=f"{new_start_time:%H:%M}",
            end=f"{new_end_time:%H:%M}",
        )
    return Span(new_start.astimezone(UTC), new_end.astimezone(UTC))


def _hhmm(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a time of day like 14:30", value=value) from exc
