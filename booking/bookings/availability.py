"""When a resource is free: its free spans (free seats for a pool), and the free-room search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from booking.bookings.rules import ceil_to_grid, check_availability_span, fewest_free_seats, is_free_for
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.catalogue.rules import booking_rules, opening_windows, parse_opening_hours
from booking.engine import repository as engine_repo
from booking.engine.rules import check_times
from booking.errors import InvalidRequest
from booking.models import Resource, ResourceKind, Site
from booking.schemas import AvailabilityRead, FreeSpan
from booking.spans import SeatSpan, Span, free_seat_spans, subtract, zone

# What "a room" means to a member looking for a place to meet or work: everything but machines.
ROOM_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind.room,
    ResourceKind.online_room,
    ResourceKind.training_room,
    ResourceKind.stem_space,
    ResourceKind.desk_pool,
)


def availability(
    session: Session, resource_id: str, start: datetime, end: datetime, now: datetime
) -> AvailabilityRead:
    """Free spans of the resource inside opening hours (free seats for a pool), from now on."""
    check_availability_span(start, end)
    resource = catalogue.get_resource_or_raise(session, resource_id)
    site = catalogue.get_site_or_raise(session, resource.site_id)
    tz = zone(site.timezone)
    hours = parse_opening_hours(site.opening_hours)
    earliest = ceil_to_grid(
        max(start, now + timedelta(minutes=resource.lead_minutes)), tz, resource.slot_minutes
    )
    latest = min(end, now + timedelta(days=resource.max_days_ahead))
    if earliest >= latest:
        return AvailabilityRead(resource_id=resource.id, free=[])
    windows: list[Span] = []
    day = earliest.astimezone(tz).date() - timedelta(days=1)
    while day <= latest.astimezone(tz).date():
        for window in opening_windows(day, hours, tz):
            lo, hi = max(window.start, earliest), min(window.end, latest)
            if lo < hi:
                windows.append(Span(lo, hi))
        day += timedelta(days=1)
    closures = catalogue.site_closures(session, site, Span(earliest, latest))
    windows = subtract(windows, [Span(c.start, c.end) for c in closures])
    buffer = timedelta(minutes=resource.buffer_minutes)
    bookings = engine_repo.active_bookings_touching(session, resource.id, earliest - buffer, latest + buffer)
    if resource.kind is ResourceKind.desk_pool:
        seats = free_seat_spans(
            windows, [SeatSpan(b.start_at, b.end_at, b.seats) for b in bookings], resource.capacity
        )
        free = [FreeSpan(start=s.start, end=s.end, seats=s.seats) for s in seats]
    else:
        busy = [Span(b.start_at - buffer, b.block_end) for b in bookings]
        free = [FreeSpan(start=s.start, end=s.end) for s in subtract(windows, busy)]
    return AvailabilityRead(resource_id=resource.id, free=free)


@dataclass(frozen=True, slots=True)
class FreeRoom:
    resource: Resource
    site: Site
    # Desk pools: the seats free for the whole span; None for rooms booked as a whole.
    seats_free: int | None


def find_free_rooms(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    people: int,
    now: datetime,
    site_id: str | None = None,
    kinds: Sequence[ResourceKind] = ROOM_KINDS,
) -> list[FreeRoom]:
    """Resources that fit `people` and could be booked for [start, end): the snuggest fit first.

    A resource is left out when the span breaks one of its own rules (slot grid, duration, lead time,
    horizon), falls outside its site's opening hours or in a closure, or when it is taken.
    """
    if end <= start:
        raise InvalidRequest("the end must be after the start")
    if people < 1:
        raise InvalidRequest("look for a place for at least 1 person")
    found: list[FreeRoom] = []
    sites: dict[str, Site] = {}
    for resource in catalogue_repo.list_resources(session, site_id=site_id):
        if resource.kind not in kinds or resource.capacity < people:
            continue
        site = sites.get(resource.site_id) or catalogue.get_site_or_raise(session, resource.site_id)
        sites[site.id] = site
        try:
            check_times(start, end, booking_rules(resource), now, zone(site.timezone))
        except InvalidRequest:
            continue
        free = availability(session, resource.id, start, end, now).free
        pool = resource.kind is ResourceKind.desk_pool
        seats = fewest_free_seats(free, start, end) if pool else None
        if pool and (seats or 0) < people:
            continue
        if not pool and not is_free_for(free, start, end):
            continue
        found.append(FreeRoom(resource=resource, site=site, seats_free=seats))
    # A group of 6 should get the 6-seat room, not the 40-seat hall; pools come after rooms.
    found.sort(
        key=lambda f: (f.resource.kind is ResourceKind.desk_pool, f.resource.capacity, f.resource.name)
    )
    return found
