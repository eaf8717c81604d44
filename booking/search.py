"""Find a free room: every resource of the wanted kinds that holds N people and is free for a span."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from booking import repository as repo
from booking import rules, service
from booking.errors import InvalidRequest
from booking.models import Resource, ResourceKind, Site
from booking.schemas import FreeSpan

# What "a room" means to a member looking for a place to meet or work: everything but machines.
ROOM_KINDS: tuple[ResourceKind, ...] = (
    ResourceKind.room,
    ResourceKind.online_room,
    ResourceKind.training_room,
    ResourceKind.stem_space,
    ResourceKind.desk_pool,
)


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
    for resource in repo.list_resources(session, site_id=site_id):
        if resource.kind not in kinds or resource.capacity < people:
            continue
        site = sites.get(resource.site_id) or service.get_site_or_raise(session, resource.site_id)
        sites[site.id] = site
        try:
            rules.check_times(start, end, rules_of(resource), now, rules.zone(site.timezone))
        except InvalidRequest:
            continue
        free = service.availability(session, resource.id, start, end, now).free
        pool = resource.kind is ResourceKind.desk_pool
        seats = _free_seats(free, start, end) if pool else None
        if pool and (seats or 0) < people:
            continue
        if not pool and not any(s.start <= start and end <= s.end for s in free):
            continue
        found.append(FreeRoom(resource=resource, site=site, seats_free=seats))
    # A group of 6 should get the 6-seat room, not the 40-seat hall; pools come after rooms.
    found.sort(
        key=lambda f: (f.resource.kind is ResourceKind.desk_pool, f.resource.capacity, f.resource.name)
    )
    return found


def rules_of(resource: Resource) -> rules.BookingRules:
    """The resource's own booking rules as the pure rule functions take them."""
    return rules.BookingRules(
        name=resource.name,
        slot_minutes=resource.slot_minutes,
        min_minutes=resource.min_minutes,
        max_minutes=resource.max_minutes,
        lead_minutes=resource.lead_minutes,
        max_days_ahead=resource.max_days_ahead,
        buffer_minutes=resource.buffer_minutes,
    )


def _free_seats(free: Sequence[FreeSpan], start: datetime, end: datetime) -> int:
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
