"""The waitlist's use cases: join, leave, read a place in the queue, and promote waiters when a slot
frees. Waiters are booked through the engine, re-checked as if booking anew. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlmodel import Session

from booking.engine import service as engine
from booking.errors import Conflict, DomainError, InvalidRequest, NotFound
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor
from booking.messages import Slot, message
from booking.models import Booking, WaitlistEntry, WaitlistStatus
from booking.notifications import notify
from booking.schemas import WaitlistCreate, WaitlistRead
from booking.security import new_id
from booking.waitlist import repository as repo
from booking.waitlist.rules import has_expired


def waitlist_read(session: Session, entry: WaitlistEntry) -> WaitlistRead:
    """A waitlist entry with its place in the queue while it waits."""
    position = repo.waiting_ahead(session, entry) + 1 if entry.status is WaitlistStatus.waiting else None
    return WaitlistRead(
        id=entry.id,
        resource_id=entry.resource_id,
        member=entry.member_id,
        start=entry.start_at,
        end=entry.end_at,
        seats=entry.seats,
        status=entry.status,
        booking_id=entry.booking_id,
        position=position,
        created_at=entry.created_at,
    )


def list_entries(session: Session, actor: Actor) -> Sequence[WaitlistEntry]:
    """The actor's waitlist entries, newest first."""
    return repo.list_member_entries(session, actor.id)


def waiting_entries(session: Session, member_id: str, now: datetime) -> list[WaitlistEntry]:
    """The member's waitlist entries still waiting for a slot that has not begun, soonest first."""
    return list(repo.member_waiting(session, member_id, now))


def join(session: Session, actor: Actor, data: WaitlistCreate, now: datetime) -> WaitlistEntry:
    """Queue for a taken slot; refuses a free one (book it instead) and a slot the member could not book."""
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    target = engine.load_target(session, actor, data.resource_id, None, now)
    engine.with_closures(session, target, start, end)
    engine.check_slot_rules(target, start, end, data.seats, now)
    try:
        engine.check_free(session, target, start, end, data.seats)
    except Conflict:
        pass
    else:
        raise InvalidRequest(
            "{name} is free {slot}: book it instead",
            name=target.resource.name,
            slot=Slot(start, end, target.tz.key),
        )
    for entry in repo.list_member_entries(session, actor.id):
        if (
            entry.status is WaitlistStatus.waiting
            and entry.resource_id == target.resource.id
            and entry.start_at == start
            and entry.end_at == end
        ):
            return entry
    entry = WaitlistEntry(
        id=new_id(),
        resource_id=target.resource.id,
        member_id=actor.id,
        start_at=start,
        end_at=end,
        seats=data.seats,
        status=WaitlistStatus.waiting,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def leave(session: Session, actor: Actor, entry_id: str) -> WaitlistEntry:
    """Stop waiting."""
    entry = repo.get_entry(session, entry_id)
    if entry is None or entry.member_id != actor.id:
        raise NotFound("there is no waitlist entry '{entry_id}'", entry_id=entry_id)
    if entry.status is WaitlistStatus.waiting:
        entry.status = WaitlistStatus.cancelled
        session.add(entry)
        session.flush()
    return entry


def promote(
    session: Session, resource_id: str, start: datetime, end: datetime, now: datetime
) -> list[Booking]:
    """Book freed time for the waiters, first come first served, each re-checked as if booking anew.

    A waiter who no longer qualifies (training, quota, rules) or whose slot is still partly taken keeps
    waiting; the next one is tried.
    """
    promoted: list[Booking] = []
    for entry in repo.waiting_entries(session, resource_id, start, end):
        if has_expired(entry.start_at, now):
            entry.status = WaitlistStatus.expired
            session.add(entry)
            continue
        member = members_repo.get_member(session, entry.member_id)
        if member is None:
            continue
        try:
            with session.begin_nested():
                target = engine.load_target(
                    session, members.load_actor(session, member), resource_id, None, now
                )
                engine.with_closures(session, target, entry.start_at, entry.end_at)
                booking = engine.book_one(
                    session,
                    target,
                    entry.start_at,
                    entry.end_at,
                    entry.seats,
                    now,
                    note="from the waitlist",
                )
        except DomainError:
            continue
        entry.status = WaitlistStatus.booked
        entry.booking_id = booking.id
        session.add(entry)
        notify(
            session,
            member.id,
            "waitlist",
            message(
                "A slot freed up: you are booked on {resource} {slot}",
                resource=target.resource.name,
                slot=Slot(booking.start_at, booking.end_at, target.tz.key),
            ),
            booking=booking,
            now=now,
        )
        promoted.append(booking)
    session.flush()
    return promoted


def expire_stale(session: Session, now: datetime) -> int:
    """Entries whose slot has begun stop waiting; returns how many expired."""
    stale = repo.stale_entries(session, now)
    for entry in stale:
        entry.status = WaitlistStatus.expired
        session.add(entry)
    session.flush()
    return len(stale)
