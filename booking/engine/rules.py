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
from booking.messages import Message, Slot, message
from booking.models import LONGEST_BOOKING_MINUTES
from booking.spans import overlaps


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
            "{name} is booked for at least {min_minutes} min; {slot} is {minutes} min",
            name=rules.name,
            min_minutes=rules.min_minutes,
            slot=Slot(start, end, tz.key),
            minutes=minutes,
        )
    longest = min(rules.max_minutes, LONGEST_BOOKING_MINUTES)
    if minutes > longest:
        raise InvalidRequest(
            "{name} can be booked for at most {max_minutes} min at a time; {slot} is {minutes} min",
            name=rules.name,
            max_minutes=longest,
            slot=Slot(start, end, tz.key),
            minutes=minutes,
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
            "{name} is booked in slots of {slot_minutes} min; {slot} does not fit them",
            name=rules.name,
            slot_minutes=rules.slot_minutes,
            slot=Slot(start, end, tz.key),
        )
    if walk_in:
        if end <= now:
            raise InvalidRequest("{slot} has already passed", slot=Slot(start, end, tz.key))
    elif start < now:
        raise InvalidRequest("{slot} has already begun or passed", slot=Slot(start, end, tz.key))
    elif start < now + timedelta(minutes=rules.lead_minutes):
        raise InvalidRequest(
            "{name} must be booked at least {lead_minutes} min ahead; {slot} starts too soon",
            name=rules.name,
            lead_minutes=rules.lead_minutes,
            slot=Slot(start, end, tz.key),
        )
    if start > now + timedelta(days=rules.max_days_ahead):
        raise InvalidRequest(
            "{name} can be booked at most {max_days_ahead} days ahead; {slot} is further",
            name=rules.name,
            max_days_ahead=rules.max_days_ahead,
            slot=Slot(start, end, tz.key),
        )


def check_seats(seats: int, capacity: int, exclusive: bool, name: str) -> None:
    """Refuse a seat count a resource cannot take."""
    if seats < 1:
        raise InvalidRequest("seats must be at least 1")
    if exclusive and seats != 1:
        raise InvalidRequest("{name} is booked as a whole; seats apply only to desk pools", name=name)
    if seats > capacity:
        raise InvalidRequest(
            "{name} has {capacity} seats; {seats} were asked for", name=name, capacity=capacity, seats=seats
        )


def check_free_seats(in_use: int, seats: int, capacity: int, name: str, when: Slot) -> None:
    """Refuse a pool booking that needs more seats than are free at the pool's busiest instant."""
    if in_use + seats > capacity:
        free = max(capacity - in_use, 0)
        raise Conflict(
            "{name} has {free} of {capacity} seats free at its busiest during {when}; {seats} were asked for",
            name=name,
            free=free,
            capacity=capacity,
            when=when,
            seats=seats,
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
) -> Message:
    """Why a slot is taken: whose booking holds it, and the buffer when only the buffer touches."""
    span = Slot(holder_start, holder_end, tz.key)
    if buffer_minutes and not overlaps(start, end, holder_start, holder_end):
        if mine:
            return message(
                "you already booked {resource} {slot}, and it needs {buffer} min between bookings",
                resource=name,
                slot=span,
                buffer=buffer_minutes,
            )
        return message(
            "{resource} is booked {slot}, and it needs {buffer} min between bookings",
            resource=name,
            slot=span,
            buffer=buffer_minutes,
        )
    if mine:
        return message("you already booked {resource} {slot}", resource=name, slot=span)
    return message("{resource} is booked {slot}", resource=name, slot=span)
