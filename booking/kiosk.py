"""What a site's kiosk does: now and next per room, check-in by card, walk-in bookings for the next slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from booking import repository as repo
from booking import rules, service
from booking.errors import DomainError, InvalidRequest, NotFound, NotPermitted
from booking.models import ACTIVE_STATUSES, Booking, BookingStatus, Member, Resource, ResourceKind
from booking.schemas import BookingCreate
from booking.service import Actor


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
    site = service.get_site_or_raise(session, site_id)
    tz = rules.zone(site.timezone)
    day_end = rules.local_instant(now.astimezone(tz).date(), rules.MINUTES_PER_DAY, tz)
    rooms = [r for r in repo.list_resources(session, site_id=site.id) if r.kind is not ResourceKind.machine]
    result = []
    for room in rooms:
        bookings = session.exec(
            select(Booking)
            .where(
                Booking.resource_id == room.id,
                col(Booking.status).in_(ACTIVE_STATUSES),
                col(Booking.start_at) < day_end,
                col(Booking.end_at) > now,
            )
            .order_by(col(Booking.start_at))
        ).all()
        current = next((b for b in bookings if b.start_at <= now < b.end_at), None)
        upcoming = next((b for b in bookings if b.start_at > now), None)
        result.append(NowNext(resource=room, current=current, upcoming=upcoming))
    return result


def member_by_card(session: Session, card_uid: str) -> Member:
    """The active member holding the card, or NotFound naming the card."""
    card = card_uid.strip().upper()
    member = repo.get_member_by_card(session, card) if card else None
    if member is None or not member.active:
        raise NotFound(f"no member holds the card {card or '(empty)'}")
    return member


def check_in_by_card(
    session: Session, actor: Actor, site_id: str, card_uid: str, now: datetime, *, opens_min: int = 15
) -> Booking:
    """Check in the card holder's booking on this site whose check-in is open now (the earliest)."""
    _require_kiosk(actor, site_id)
    member = member_by_card(session, card_uid)
    candidates = session.exec(
        select(Booking)
        .where(
            Booking.member_id == member.id,
            Booking.site_id == site_id,
            col(Booking.status).in_((BookingStatus.confirmed, BookingStatus.checked_in)),
            col(Booking.start_at) <= now + timedelta(minutes=opens_min),
            col(Booking.end_at) > now,
        )
        .order_by(col(Booking.start_at))
    ).all()
    if not candidates:
        raise NotFound(f"{member.name} has no booking here to check in to now")
    # A booking already checked in counts as done only if nothing else waits for a check-in.
    booking = next((b for b in candidates if b.status is BookingStatus.confirmed), candidates[0])
    return service.check_in(session, actor, booking.id, now, check_in_opens_min=opens_min)


def next_slot(resource: Resource, tz_name: str, now: datetime) -> tuple[datetime, datetime]:
    """The next slot of the resource's grid that has not begun, at its shortest bookable length."""
    tz = rules.zone(tz_name)
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    slot = timedelta(minutes=resource.slot_minutes)
    start = midnight + -(-(local - midnight) // slot) * slot
    length = timedelta(minutes=max(resource.min_minutes, resource.slot_minutes))
    return start.astimezone(UTC), (start + length).astimezone(UTC)


def walk_in_slots(session: Session, site_id: str, now: datetime) -> list[WalkInSlot]:
    """The rooms of the site that take walk-ins and are free for their next slot."""
    site = service.get_site_or_raise(session, site_id)
    slots = []
    for resource in repo.list_resources(session, site_id=site.id):
        if resource.kind is ResourceKind.machine or not resource.allow_walk_in or resource.requires_approval:
            continue
        start, end = next_slot(resource, site.timezone, now)
        free = service.availability(session, resource.id, start, end, now).free
        if any(s.start <= start and end <= s.end for s in free):
            slots.append(WalkInSlot(resource=resource, start=start, end=end))
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
    member = member_by_card(session, card_uid)
    resource = service.get_resource_or_raise(session, resource_id)
    if resource.site_id != site_id:
        raise NotFound(f"there is no resource '{resource_id}' at this site")
    if not resource.allow_walk_in:
        raise InvalidRequest(f"{resource.name} is not open to walk-ins; book it ahead")
    site = service.get_site_or_raise(session, site_id)
    start, end = next_slot(resource, site.timezone, now)
    booking = service.book(
        session, actor, BookingCreate(resource_id=resource.id, start=start, end=end, member=member.id), now
    )
    if booking.status is BookingStatus.confirmed and booking.start_at - timedelta(minutes=opens_min) <= now:
        try:
            with session.begin_nested():
                service.check_in(session, actor, booking.id, now, check_in_opens_min=opens_min)
        except DomainError:
            pass  # the booking stands; the member checks in when its window opens
    return booking
