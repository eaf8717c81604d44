"""What a site's kiosk does: now and next per room, check-in by card, walk-in bookings for the next slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from booking.bookings import repository as repo
from booking.bookings import service
from booking.bookings.availability import availability
from booking.bookings.rules import check_in_is_open, is_free_for, latest_check_in_start, next_slot
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.engine.status import Move, can_move
from booking.errors import DomainError, InvalidRequest, NotFound, NotPermitted
from booking.members import service as members
from booking.members.actors import Actor
from booking.members.rules import given_name
from booking.models import Booking, BookingStatus, Resource, ResourceKind
from booking.schemas import BookingCreate
from booking.spans import MINUTES_PER_DAY, local_instant, zone


@dataclass(frozen=True, slots=True)
class NowNext:
    """A room as the lobby screen shows it: the booking holding it now and the next one today."""

    resource: Resource
    current: Booking | None
    upcoming: Booking | None


@dataclass(frozen=True, slots=True)
class WalkInSlot:
    resource: Resource
    start: datetime
    end: datetime


def _require_kiosk(actor: Actor, site_id: str) -> None:
    if not actor.is_kiosk_of(site_id):
        raise NotPermitted("only this site's kiosk can do this")


def now_and_next(session: Session, site_id: str, now: datetime) -> list[NowNext]:
    """Every bookable room of the site (machines have their own board) with its booking now and next."""
    site = catalogue.get_site_or_raise(session, site_id)
    tz = zone(site.timezone)
    day_end = local_instant(now.astimezone(tz).date(), MINUTES_PER_DAY, tz)
    rooms = [
        r
        for r in catalogue_repo.list_resources(session, site_id=site.id)
        if r.kind is not ResourceKind.machine
    ]
    result = []
    for room in rooms:
        bookings = repo.active_between(session, room.id, now, day_end)
        current = next((b for b in bookings if b.start_at <= now < b.end_at), None)
        upcoming = next((b for b in bookings if b.start_at > now), None)
        result.append(NowNext(resource=room, current=current, upcoming=upcoming))
    return result


def check_in_by_card(
    session: Session, actor: Actor, site_id: str, card_uid: str, now: datetime, *, opens_min: int = 15
) -> Booking:
    """Check in the card holder's booking on this site whose check-in is open now (the earliest)."""
    _require_kiosk(actor, site_id)
    member = members.member_by_card(session, card_uid)
    candidates = repo.check_in_candidates(
        session, member.id, site_id, latest_check_in_start(now, opens_min), now
    )
    if not candidates:
        raise NotFound("{name} has no booking here to check in to now", name=given_name(member.name))
    # A booking already checked in counts as done only if nothing else waits for a check-in.
    booking = next((b for b in candidates if b.status is BookingStatus.confirmed), candidates[0])
    return service.check_in(session, actor, booking.id, now, check_in_opens_min=opens_min)


def walk_in_slots(session: Session, site_id: str, now: datetime) -> list[WalkInSlot]:
    """The rooms of the site that take walk-ins and are free for their next slot."""
    site = catalogue.get_site_or_raise(session, site_id)
    tz = zone(site.timezone)
    slots = []
    for resource in catalogue_repo.list_resources(session, site_id=site.id):
        if resource.kind is ResourceKind.machine or not resource.allow_walk_in or resource.requires_approval:
            continue
        span = next_slot(now, tz, resource.slot_minutes, resource.min_minutes)
        free = availability(session, resource.id, span.start, span.end, now).free
        if is_free_for(free, span.start, span.end):
            slots.append(WalkInSlot(resource=resource, start=span.start, end=span.end))
    return slots


def walk_in(
    session: Session,
    actor: Actor,
    site_id: str,
    resource_id: str,
    card_uid: str,
    now: datetime,
    *,
    opens_min: int = 15,
) -> Booking:
    """Book the room's next slot for the card holder, and check them in when its check-in is open."""
    _require_kiosk(actor, site_id)
    member = members.member_by_card(session, card_uid)
    resource = catalogue.get_resource_or_raise(session, resource_id)
    if resource.site_id != site_id:
        raise NotFound("there is no resource '{resource_id}' at this site", resource_id=resource_id)
    if not resource.allow_walk_in:
        raise InvalidRequest("{name} is not open to walk-ins; book it ahead", name=resource.name)
    site = catalogue.get_site_or_raise(session, site_id)
    span = next_slot(now, zone(site.timezone), resource.slot_minutes, resource.min_minutes)
    booking = service.book(
        session,
        actor,
        BookingCreate(resource_id=resource.id, start=span.start, end=span.end, member=member.id),
        now,
        card_presented=True,
    )
    if can_move(booking.status, Move.check_in) and check_in_is_open(
        booking.start_at, booking.end_at, now, opens_min
    ):
        try:
            with session.begin_nested():
                service.check_in(session, actor, booking.id, now, check_in_opens_min=opens_min)
        except DomainError:
            pass  # the booking stands; the member checks in when its window opens
    return booking
