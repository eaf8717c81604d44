"""The engine's pure rules: a slot's times and seats, the span a booking blocks, the refusal that
names who holds a slot.

Every value comes in as an argument; nothing here does I/O. A rule that refuses raises a domain error
whose sentence names the rule and the numbers, in the site's local time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from booking.catalogue.rules import BookingRules
from booking.errors import Conflict, InvalidRequest
from booking.spans import format_span, overlaps


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


def check_free_seats(in_use: int, seats: int, capacity: int, name: str, when: str) -> None:
    """Refuse a pool booking that needs more seats than are free at the pool's busiest instant."""
    if in_use + seats > capacity:
        free = max(capacity - in_use, 0)
        raise Conflict(
            f"{name} has {free} of {capacity} seats free at its busiest during {when}; {seats} were asked for"
        )


def block_end(end: datetime, buffer_minutes: int) -> datetime:
    """The end of the span a booking keeps others from: its end plus the resource's buffer.

    With every booking blocking [start, end + buffer), two bookings never come closer than the buffer,
    whichever of them comes first.
    """
    return end + timedelta(minutes=buffer_minutes)


def taken_message(
    name: str,
    buffer_minutes: int,
    start: datetime,
    end: datetime,
    holder_start: datetime,
    holder_end: datetime,
    mine: bool,
    tz: ZoneInfo,
) -> str:
    """Why a slot is taken: whose booking holds it, and the buffer when only the buffer touches."""
    span = format_span(holder_start, holder_end, tz)
    message = f"you already booked {name} {span}" if mine else f"{name} is booked {span}"
    if buffer_minutes and not overlaps(start, end, holder_start, holder_end):
        message += f", and it needs {buffer_minutes} min between bookings"
    return message
