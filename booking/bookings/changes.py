"""Changing a booking: move it to another time or another resource of the same kind, in one step.

The new slot is taken under the same guards as a new booking (every rule, the member's and the
resources' locks, the database's overlap guard); the old slot is given up in the same transaction, so
it is freed only if the new one is won. The quota is checked with the old booking's time given back,
and the waitlist of the freed slot is served. Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from booking.bookings import repository as bookings_repo
from booking.bookings.service import get_booking_or_raise
from booking.catalogue.cache import CATALOGUE
from booking.engine import repository as engine_repo
from booking.engine import service as engine
from booking.engine.rules import block_end
from booking.engine.status import Move, moved_status, transition
from booking.errors import Conflict, InvalidRequest, NotPermitted
from booking.ledger import service as ledger
from booking.members.actors import Actor
from booking.messages import Slot, message
from booking.models import Booking, BookingStatus
from booking.notifications import notify
from booking.schemas import BookingUpdate
from booking.waitlist import service as waitlist


@dataclass(frozen=True, slots=True)
class NewSlot:
    """Where a booking moves to (UTC)."""

    resource_id: str
    start: datetime
    end: datetime


def new_slot(booking: Booking, data: BookingUpdate) -> NewSlot:
    """The slot a change asks for: what it omits stays; a new start alone keeps the booking's length."""
    start = data.start.astimezone(UTC) if data.start else booking.start_at
    length = booking.end_at - booking.start_at
    end = data.end.astimezone(UTC) if data.end is not None else start + length
    return NewSlot(data.resource_id or booking.resource_id, start, end)


def move(session: Session, actor: Actor, booking_id: str, data: BookingUpdate, now: datetime) -> Booking:
    """Move a booking that has not begun (its member or the site's managers); Conflict naming the
    slot when the new one is taken, and then the booking stays where it was."""
    booking = get_booking_or_raise(session, actor, booking_id)
    return move_booking(session, actor, booking, new_slot(booking, data), now)


def move_booking(session: Session, actor: Actor, booking: Booking, slot: NewSlot, now: datetime) -> Booking:
    """Move a loaded booking to `slot` (see `move`)."""
    if booking.member_id != actor.id and not actor.manages(booking.site_id):
        raise NotPermitted("only the member who booked and the site's managers can change a booking")
    # Lock order as for a new booking: the member, then (here) the booking itself, then the resources
    # (by id, both when the booking changes resource). Two changes of one booking queue, and each acts
    # on what the other left, so its time is given back once.
    ledger.hold_balance(session, booking.member_id)
    booking = bookings_repo.lock_booking(session, booking.id) or booking
    old = CATALOGUE.resource(session, booking.resource_id)
    tz_name = old.site.timezone
    old_span = Slot(booking.start_at, booking.end_at, old.site.tz.key)
    transition(booking.status, Move.move, old_span)
    if booking.start_at <= now:
        raise InvalidRequest(
            "the booking {slot} has begun; it can no longer be moved (cancel the rest of it instead)",
            slot=Slot(booking.start_at, booking.end_at, tz_name),
        )
    if (slot.resource_id, slot.start, slot.end) == (booking.resource_id, booking.start_at, booking.end_at):
        return booking
    member_id = None if booking.member_id == actor.id else booking.member_id
    target = engine.load_target(session, actor, slot.resource_id, member_id, now)
    if target.resource.kind is not old.kind:
        raise InvalidRequest(
            "{resource} and {other} are not the same kind of place; a booking moves only to one of "
            "the same kind",
            resource=old.name,
            other=target.resource.name,
        )
    engine.with_closures(session, target, slot.start, slot.end)
    engine.check_slot_rules(target, slot.start, slot.end, booking.seats, now)
    engine.check_in_service(session, target, slot.start, slot.end)
    for resource_id in sorted({booking.resource_id, slot.resource_id}):
        engine_repo.lock_resource(session, resource_id)
    # The quota sees the old booking's time given back before it counts the new one; if anything
    # below refuses, the request's transaction is dropped and the refund with it.
    ledger.refund(session, booking, ledger.booked_seconds(booking), now)
    ledger.ask_quotas(
        session, booking.member_id, target.quota_limits, slot.start, slot.end, booking.seats, target.tz, now
    )()
    engine.check_free(session, target, slot.start, slot.end, booking.seats, moving=booking.id)
    freed = (booking.resource_id, booking.start_at, booking.block_end)
    freed_end = booking.end_at
    resource = target.resource
    booking.resource_id = resource.id
    booking.site_id = resource.site_id
    booking.start_at = slot.start
    booking.end_at = slot.end
    booking.block_end = block_end(slot.end, resource.buffer_minutes)
    booking.exclusive = resource.exclusive
    booking.quota_group = resource.quota_group
    booking.status = moved_status(resource.requires_approval, target.by_manager)
    if booking.status is BookingStatus.pending:
        booking.decided_by = None
    booking.updated_at = now
    try:
        engine_repo.update_booking(session, booking)
    except engine_repo.OverlapRace as exc:
        raise Conflict(
            "{resource} was booked {slot} by someone else a moment ago; your booking stays where it was",
            resource=resource.name,
            slot=Slot(slot.start, slot.end, resource.site.timezone),
        ) from exc
    ledger.reserve(session, booking, now)
    waitlist.promote(session, freed[0], freed[1], freed[2], now)
    if booking.member_id != actor.id:
        notify(
            session,
            booking.member_id,
            "moved",
            message(
                "A manager moved your booking of {resource} {old} to {new_resource} {new}",
                resource=old.name,
                old=Slot(freed[1], freed_end, tz_name),
                new_resource=resource.name,
                new=Slot(slot.start, slot.end, resource.site.timezone),
            ),
            booking=booking,
            now=now,
        )
    return booking
