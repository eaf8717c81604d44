"""The events' pure rules: a capacity, a set of sessions, a registration window, who has qualified.

Every value comes in as an argument; nothing here does I/O. A rule that refuses raises a domain error
whose sentence names the rule and the numbers, in the site's local time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from booking.errors import InvalidRequest, NotPermitted
from booking.messages import At, Slot
from booking.spans import Span

MAX_CAPACITY = 10_000
# A course of evenings or a year of weekly classes; more is a mistake, not a plan.
MAX_SESSIONS = 200
LONGEST_SESSION = timedelta(hours=24)
# Attendance is taken from this long before a session's start until its end.
ATTENDANCE_OPENS = timedelta(minutes=60)


def check_capacity(capacity: int) -> None:
    """Refuse a capacity that seats nobody or more than any room of the center holds."""
    if capacity < 1:
        raise InvalidRequest("an event needs at least 1 seat; {capacity} was given", capacity=capacity)
    if capacity > MAX_CAPACITY:
        raise InvalidRequest(
            "an event has at most {most} seats; {capacity} was given", most=MAX_CAPACITY, capacity=capacity
        )


def check_sessions(spans: Sequence[Span], now: datetime, tz: ZoneInfo) -> list[Span]:
    """The sessions in time order; refuses none, too many, one in the past, one too long, and two
    that overlap each other."""
    check_count(len(spans))
    for span in spans:
        check_session(span, now, tz)
    return check_no_overlap(spans, tz)


def check_count(count: int) -> None:
    if count < 1:
        raise InvalidRequest("an event needs at least one session")
    if count > MAX_SESSIONS:
        raise InvalidRequest(
            "an event has at most {most} sessions; {count} were given", most=MAX_SESSIONS, count=count
        )


def check_session(span: Span, now: datetime, tz: ZoneInfo) -> None:
    """Refuse a session that ends before it starts, lies in the past or lasts over 24 hours."""
    slot = Slot(span.start, span.end, tz.key)
    if span.end <= span.start:
        raise InvalidRequest("the session {slot} ends before it starts", slot=slot)
    if span.start < now:
        raise InvalidRequest("the session {slot} is in the past", slot=slot)
    if span.end - span.start > LONGEST_SESSION:
        raise InvalidRequest("the session {slot} is longer than 24 hours", slot=slot)


def check_no_overlap(spans: Sequence[Span], tz: ZoneInfo) -> list[Span]:
    """The sessions in time order; refuses two that overlap each other."""
    ordered = sorted(spans, key=lambda span: span.start)
    for before, after in pairwise(ordered):
        if after.start < before.end:
            raise InvalidRequest(
                "the sessions {first} and {second} overlap",
                first=Slot(before.start, before.end, tz.key),
                second=Slot(after.start, after.end, tz.key),
            )
    return ordered


def check_window(
    opens_at: datetime | None, closes_at: datetime | None, first_start: datetime, now: datetime, tz: ZoneInfo
) -> None:
    """Refuse a registration before the window opens or after it closes (by default at the first
    session's start)."""
    if opens_at is not None and now < opens_at:
        raise NotPermitted("registration opens {opens}", opens=At(opens_at, tz.key))
    closes = closes_at if closes_at is not None else first_start
    if now >= closes:
        raise NotPermitted("registration closed {closes}", closes=At(closes, tz.key))


def check_window_order(opens_at: datetime | None, closes_at: datetime | None, tz: ZoneInfo) -> None:
    """Refuse a registration window that closes before it opens."""
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise InvalidRequest(
            "registration cannot close ({closes}) before it opens ({opens})",
            closes=At(closes_at, tz.key),
            opens=At(opens_at, tz.key),
        )


def seats_left(capacity: int, registered: int) -> int:
    return max(0, capacity - registered)


def qualifies(session_ids: Collection[str], attended: Collection[str], passed: bool) -> bool:
    """Whether a registrant completed a training event: present at every session, or passed by the
    instructor."""
    return passed or (bool(session_ids) and set(session_ids) <= set(attended))


def session_for_attendance(sessions: Sequence[Span], now: datetime) -> int | None:
    """The index of the session attendance is taken for now: the one under way or about to begin
    (within ATTENDANCE_OPENS of its start); None when there is none."""
    for index, span in enumerate(sessions):
        if span.start - ATTENDANCE_OPENS <= now < span.end:
            return index
    return None
