"""The bookings' pure rules: the check-in window, the slot grid, who may see a booking, the grid's
cells. Every value comes in as an argument; nothing here does I/O."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from booking.errors import InvalidRequest
from booking.members.actors import Actor
from booking.messages import TimeOfDay, Value
from booking.models import Booking, ResourceKind
from booking.schemas import FreeSpan
from booking.spans import ClosureSpan, Span, overlaps

# The widest span one availability request may cover.
MAX_AVAILABILITY_DAYS = 62

# ---------------------------------------------------------------------------------------------
# Check-in: from `opens_min` before the start until the end


def check_in_opens_at(start: datetime, opens_min: int) -> datetime:
    """When check-in for a booking starting at `start` opens."""
    return start - timedelta(minutes=opens_min)


def check_in_is_open(start: datetime, end: datetime, now: datetime, opens_min: int) -> bool:
    """Whether a booking of [start, end) can be checked in at `now`."""
    return check_in_opens_at(start, opens_min) <= now < end


def latest_check_in_start(now: datetime, opens_min: int) -> datetime:
    """The latest start of a booking whose check-in is open at `now` (for a query's bound)."""
    return now + timedelta(minutes=opens_min)


def check_check_in_time(
    start: datetime, end: datetime, now: datetime, opens_min: int, tz: ZoneInfo, span: Value
) -> None:
    """Refuse a check-in before its window opens or after the booking ended, saying when it opens."""
    opens = check_in_opens_at(start, opens_min)
    if now < opens:
        raise InvalidRequest(
            "check-in for {span} opens at {opens}, {opens_min} min before the start",
            span=span,
            opens=TimeOfDay(opens, tz.key),
            opens_min=opens_min,
        )
    check_not_ended(end, now, span)


def check_not_ended(end: datetime, now: datetime, span: Value) -> None:
    """Refuse acting on a booking that has already ended."""
    if now >= end:
        raise InvalidRequest("the booking {span} has already ended", span=span)


# ---------------------------------------------------------------------------------------------
# The slot grid: slots start on multiples of the resource's slot length after local midnight


def ceil_to_slot(instant: datetime, start: datetime, slot_minutes: int) -> datetime:
    """The first slot boundary (counted from `start`) at or after the instant."""
    slot = timedelta(minutes=slot_minutes)
    slots = -(-(instant - start) // slot)
    return start + slots * slot


def ceil_to_grid(instant: datetime, tz: ZoneInfo, slot_minutes: int) -> datetime:
    """The start of the first local slot that has not begun at the instant."""
    local = instant.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return ceil_to_slot(local, midnight, slot_minutes).astimezone(UTC)


def floor_to_grid(instant: datetime, tz: ZoneInfo, slot_minutes: int) -> datetime:
    """The start of the local slot under way at the instant."""
    local = instant.astimezone(tz)
    minute = (local.hour * 60 + local.minute) // slot_minutes * slot_minutes
    return local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0).astimezone(UTC)


def next_slot(now: datetime, tz: ZoneInfo, slot_minutes: int, min_minutes: int) -> Span:
    """The next slot of the grid that has not begun, at the resource's shortest bookable length."""
    start = ceil_to_grid(now, tz, slot_minutes)
    return Span(start, start + timedelta(minutes=max(min_minutes, slot_minutes)))


def walk_in_span(now: datetime, tz: ZoneInfo, slot_minutes: int, min_minutes: int) -> Span:
    """The slot under way, and enough slots after it for the resource's shortest booking."""
    start = floor_to_grid(now, tz, slot_minutes)
    slots = max(1, -(-min_minutes // slot_minutes))
    return Span(start, start + timedelta(minutes=slot_minutes * slots))


def release_end(
    booking_start: datetime, booking_end: datetime, now: datetime, slot_minutes: int, span: Value
) -> datetime:
    """Where a booking that has begun ends when its member releases the rest: the end of the slot
    under way. Refuses when that slot is its last (nothing is left to release)."""
    new_end = ceil_to_slot(now, booking_start, slot_minutes)
    if new_end >= booking_end:
        raise InvalidRequest("the booking {span} is in its last slot; nothing is left to release", span=span)
    return new_end


# ---------------------------------------------------------------------------------------------
# Who may see a booking


def can_see(actor: Actor, booking: Booking) -> bool:
    """Its member, the site's managers and the site's kiosk see a booking; nobody else."""
    return (
        booking.member_id == actor.id or actor.manages(booking.site_id) or actor.is_kiosk_of(booking.site_id)
    )


# ---------------------------------------------------------------------------------------------
# Availability


def check_availability_span(start: datetime, end: datetime) -> None:
    """Refuse an availability question that is empty or wider than MAX_AVAILABILITY_DAYS."""
    if end <= start:
        raise InvalidRequest("the end must be after the start")
    if end - start > timedelta(days=MAX_AVAILABILITY_DAYS):
        raise InvalidRequest(
            "ask for at most {days} days of availability at once", days=MAX_AVAILABILITY_DAYS
        )


def fewest_free_seats(free: Sequence[FreeSpan], start: datetime, end: datetime) -> int:
    """The fewest free seats at any instant of [start, end), 0 where no span covers it."""
    cursor, fewest = start, None
    for span in sorted(free, key=lambda s: s.start):
        if span.end <= cursor or span.start >= end:
            continue
        if span.start > cursor:
            return 0
        fewest = span.seats if fewest is None else min(fewest, span.seats or 0)
        cursor = span.end
        if cursor >= end:
            return fewest or 0
    return 0


def is_free_for(free: Sequence[FreeSpan], start: datetime, end: datetime) -> bool:
    """Whether one free span covers all of [start, end)."""
    return any(s.start <= start and end <= s.end for s in free)


# ---------------------------------------------------------------------------------------------
# The availability grid's cells


class CellState(enum.StrEnum):
    free = "free"
    taken = "taken"
    mine = "mine"
    closed = "closed"
    past = "past"


@dataclass(frozen=True, slots=True)
class Cell:
    start: datetime
    end: datetime
    state: CellState
    # Desk pools: the seats still free in this slot.
    seats_free: int | None = None


def grid_cell(
    start: datetime,
    end: datetime,
    now: datetime,
    lead: datetime,
    horizon: datetime,
    open_spans: Sequence[Span],
    closures: Sequence[ClosureSpan],
    free: Sequence[FreeSpan],
    mine: Sequence[Span],
    kind: ResourceKind,
) -> Cell:
    """One slot of the grid: closed, past, mine, free (with its free seats), or taken."""
    if not any(w.start <= start and end <= w.end for w in open_spans):
        return Cell(start, end, CellState.closed)
    if any(overlaps(start, end, c.start, c.end) for c in closures):
        return Cell(start, end, CellState.closed)
    if start < now:
        return Cell(start, end, CellState.past)
    if any(overlaps(start, end, m.start, m.end) for m in mine):
        return Cell(start, end, CellState.mine)
    for span in free:
        if span.start <= start and end <= span.end:
            seats = span.seats if kind is ResourceKind.desk_pool else None
            return Cell(start, end, CellState.free, seats)
    # Inside opening hours but not free: too soon, too far ahead, or booked by someone.
    if start < lead or start > horizon:
        return Cell(start, end, CellState.closed)
    return Cell(start, end, CellState.taken)
