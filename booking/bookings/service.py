"""The bookings' use cases: book, read, cancel or release, check in, approve or reject, walk in, the
machine's use as a check-in, the no-show and completion moves, taking a resource out of service.

Every status change goes through the engine's status table. Time freed by a cancellation, a
rejection or a no-show goes back to the member's quota and to the waitlist. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking import notifications
from booking.bookings import repository as repo
from booking.bookings.rules import (
    can_see,
    check_check_in_time,
    check_not_ended,
    release_end,
    walk_in_span,
)
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.engine import service as engine
from booking.engine.rules import block_end
from booking.engine.status import Move, can_move, transition
from booking.errors import DomainError, InvalidRequest, NotFound, NotPermitted
from booking.ledger import service as ledger
from booking.members import repository as members_repo
from booking.members.actors import Actor
from booking.messages import Slot, message
from booking.models import ACTIVE_STATUSES, Booking, BookingStatus, ResourceBlock, Role
from booking.notifications import notify
from booking.schemas import BookingCreate, BookingRead
from booking.spans import zone
from booking.sql import Steps, finish
from booking.waitlist import service as waitlist

# How far back "my bookings" shows the past; older ones stay in the API and the iCal feed's range.
PAST_DAYS = 90


def booking_read(booking: Booking, viewer: Actor | None = None) -> BookingRead:
    """A booking as the API shows it; a kiosk (`viewer`), a screen in a public hall, is not shown
    the member's note."""
    kiosk = viewer is not None and viewer.member.role is Role.kiosk
    return BookingRead(
        id=booking.id,
        resource_id=booking.resource_id,
        site=booking.site_id,
        member=booking.member_id,
        start=booking.start_at,
        end=booking.end_at,
        seats=booking.seats,
        status=booking.status,
        code=booking.code,
        series_id=booking.series_id,
        note="" if kiosk else booking.note,
        created_at=booking.created_at,
        checked_in_at=booking.checked_in_at,
        booked_by=booking.booked_by,
    )


def needs_loading(database: str, actor: Actor, data: BookingCreate) -> bool:
    """Whether drafting booking `data` (`draft`) would read the database, not only this process's
    snapshots of the catalogue: then it is drafted in a thread, in a session that only reads."""
    return engine.reads_database(database, actor, data.resource_id, data.member)


def load_for_booking(session: Session, actor: Actor, data: BookingCreate, now: datetime) -> None:
    """Load into this process's caches, in a session that only reads, what booking `data` will read of
    the catalogue (the resource, its site, the plan's quota rules, the closures over the slot), so
    the booking's write transaction finds them there and holds the write lock for none of it. What
    it would refuse is left to `book`, which checks everything again (a booking repeated with its
    idempotency key is answered as the first time, whatever has changed since)."""
    try:
        target = engine.load_target(session, actor, data.resource_id, data.member, now)
        engine.with_closures(session, target, data.start.astimezone(UTC), data.end.astimezone(UTC))
    except DomainError:
        pass


@dataclass(frozen=True, slots=True)
class Draft:
    """A booking checked against every rule that reads no other booking, its row and its words made
    (`draft`): what its write transaction then does (`write`), holding the write slot, is only what
    must be asked there."""

    actor: Actor
    data: BookingCreate
    now: datetime
    card_presented: bool
    target: engine.Target
    booking: Booking
    code: str  # the row's check-in code as drawn: `told` names it
    told: notifications.Notice


def draft(
    session: Session, actor: Actor, data: BookingCreate, now: datetime, *, card_presented: bool = False
) -> Draft:
    """Booking `data`, drafted: the member and the resource (a suspended member, a missing training
    refused), the slot's rules (times, hours, closures, seats), the row and what its member is told.
    Writes nothing, and reads the database only for what the catalogue's snapshots lack."""
    if data.rrule:
        raise InvalidRequest("use book_series for a recurring booking")
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    target = engine.load_target(
        session, actor, data.resource_id, data.member, now, card_presented=card_presented
    )
    engine.with_closures(session, target, start, end)
    booking = engine.draft_one(target, start, end, data.seats, now, note=data.note)
    return Draft(actor, data, now, card_presented, target, booking, booking.code, _told(target, booking, now))


def write(session: Session, drafted: Draft) -> Booking:
    """Write a drafted booking in this transaction: what only the transaction can judge (the
    resource in service, the slot free, the quotas; a member's account and trainings, read again),
    then the row, its ledger entry and what its member (and, for a booking awaiting approval, the
    site's managers) are told. Refuses as `book` does."""
    return finish(write_steps(session, drafted))


def claim(drafted: Draft) -> engine.Claim:
    """What writing the drafted booking locks (booking.engine.service.lock_claims)."""
    return engine.claim(drafted.target)


def write_steps(session: Session, drafted: Draft) -> Steps[Booking]:
    """`write` in steps (booking.sql.Steps), for a writer that writes many bookings together."""
    target, now, data = drafted.target, drafted.now, drafted.data
    if engine.reads_member_rows(drafted.actor, target):
        target = engine.load_target(
            session, drafted.actor, data.resource_id, data.member, now, card_presented=drafted.card_presented
        )
    booking = yield from engine.write_one_steps(session, target, drafted.booking, now)
    # A check-in code drawn again (the first was taken) is the one the member is told.
    notifications.send(session, drafted.told if booking.code == drafted.code else _told(target, booking, now))
    if booking.status is BookingStatus.pending:
        asks = message(
            "{name} asks to book {resource} {slot}; it awaits your approval",
            name=target.member.name,
            resource=target.resource.name,
            slot=Slot(booking.start_at, booking.end_at, target.tz.key),
        )
        for manager_id in members_repo.managers_of(session, booking.site_id):
            notify(session, manager_id, "approval_needed", asks, now=now, link="/manage/approvals")
    return booking


def book(
    session: Session, actor: Actor, data: BookingCreate, now: datetime, *, card_presented: bool = False
) -> Booking:
    """Book one slot; refuses with the rule and the numbers, or Conflict naming the slot.
    `card_presented`: a kiosk books for the holder of the card presented at it (a walk-in)."""
    return write(session, draft(session, actor, data, now, card_presented=card_presented))


def _told(target: engine.Target, booking: Booking, now: datetime) -> notifications.Notice:
    """What the member is told of their new booking: confirmed with its code, or awaiting approval."""
    slot = Slot(booking.start_at, booking.end_at, target.tz.key)
    if booking.status is BookingStatus.pending:
        said = message(
            "Your booking of {resource} {slot} awaits a manager's approval; you are told when it is decided",
            resource=target.resource.name,
            slot=slot,
        )
    else:
        said = message(
            "Your booking of {resource} {slot} is confirmed; your check-in code is {code}",
            resource=target.resource.name,
            slot=slot,
            code=booking.code,
        )
    return notifications.notice(booking.member_id, booking.status.value, said, booking=booking, now=now)


# --- reading ------------------------------------------------------------------------------------


def get_booking_or_raise(session: Session, actor: Actor, booking_id: str) -> Booking:
    """The booking if the actor may see it; NotFound otherwise (no hint that it exists)."""
    booking = repo.get_booking(session, booking_id)
    if booking is None or not can_see(actor, booking):
        raise NotFound("there is no booking '{booking_id}'", booking_id=booking_id)
    return booking


def list_bookings(
    session: Session,
    actor: Actor,
    *,
    mine: bool,
    start: datetime | None,
    end: datetime | None,
    site_id: str | None = None,
    resource_id: str | None = None,
    statuses: Sequence[BookingStatus] | None = None,
) -> Sequence[Booking]:
    """The actor's bookings, or (managers) their sites' bookings."""
    if mine or not actor.manages_any:
        return repo.list_bookings(
            session,
            member_id=actor.id,
            start=start,
            end=end,
            resource_id=resource_id,
            statuses=statuses,
            site_ids=[site_id] if site_id else None,
        )
    if site_id is not None and not actor.manages(site_id):
        raise NotPermitted("you do not manage the site '{site_id}'", site_id=site_id)
    sites: list[str] | None = [site_id] if site_id else None
    if sites is None and not actor.is_admin:
        sites = sorted(actor.managed_sites)
    return repo.list_bookings(
        session, site_ids=sites, start=start, end=end, resource_id=resource_id, statuses=statuses
    )


@dataclass(frozen=True, slots=True)
class MyBookings:
    """A member's bookings: those still ahead or under way, and the ended or called-off ones."""

    upcoming: list[Booking]
    past: list[Booking]


def split_bookings(session: Session, member_id: str, now: datetime, *, limit: int = 500) -> MyBookings:
    """Upcoming (active, not ended; soonest first) and past (ended or inactive; newest first)."""
    rows = repo.member_bookings_ending_after(session, member_id, now - timedelta(days=PAST_DAYS), limit=limit)
    upcoming = [b for b in rows if b.status in ACTIVE_STATUSES and b.end_at > now]
    past = [b for b in rows if not (b.status in ACTIVE_STATUSES and b.end_at > now)]
    past.reverse()
    return MyBookings(upcoming=upcoming, past=past)


def _tz_of(session: Session, booking: Booking) -> ZoneInfo:
    return zone(catalogue.get_site_or_raise(session, booking.site_id).timezone)


def _span_of(session: Session, booking: Booking) -> Slot:
    return Slot(booking.start_at, booking.end_at, _tz_of(session, booking).key)


def _name_of(session: Session, booking: Booking) -> str:
    resource = catalogue_repo.get_resource(session, booking.resource_id)
    return resource.name if resource else booking.resource_id


# --- cancel and release -------------------------------------------------------------------------


def cancel(session: Session, actor: Actor, booking_id: str, now: datetime, *, reason: str = "") -> Booking:
    """Cancel a booking before it starts; once it has begun, release the rest of it.

    Either way the freed time goes back to the member's quota and to the waitlist; a member whose
    booking a manager cancels is told, with the manager's reason.
    """
    booking = get_booking_or_raise(session, actor, booking_id)
    if booking.member_id != actor.id and not actor.manages(booking.site_id):
        raise NotPermitted("only the member who booked and the site's managers can cancel a booking")
    # Two cancellations of one booking queue here, so its time is given back once.
    booking = repo.lock_booking(session, booking.id) or booking
    span_text = _span_of(session, booking)
    move = Move.cancel if now < booking.start_at else Move.release
    after = transition(booking.status, move, span_text)
    if after is booking.status:
        return booking
    check_not_ended(booking.end_at, now, span_text)
    freed_from, freed_until = booking.start_at, booking.block_end
    if move is Move.cancel:
        ledger.refund(session, booking, ledger.booked_seconds(booking), now)
    else:
        resource = catalogue.get_resource_or_raise(session, booking.resource_id)
        new_end = release_end(booking.start_at, booking.end_at, now, resource.slot_minutes, span_text)
        ledger.refund(session, booking, booking.seats * int((booking.end_at - new_end).total_seconds()), now)
        booking.end_at = new_end
        booking.block_end = block_end(new_end, resource.buffer_minutes)
        freed_from = new_end
    booking.status = after
    booking.updated_at = now
    session.add(booking)
    session.flush()
    if booking.member_id != actor.id:
        notify(
            session,
            booking.member_id,
            "cancelled",
            message(
                "A manager cancelled your booking of {resource} {slot}: {reason}",
                resource=_name_of(session, booking),
                slot=span_text,
                reason=reason.strip(),
            )
            if reason.strip()
            else message(
                "A manager cancelled your booking of {resource} {slot}",
                resource=_name_of(session, booking),
                slot=span_text,
            ),
            booking=booking,
            now=now,
        )
    waitlist.promote(session, booking.resource_id, freed_from, freed_until, now)
    return booking


# --- check-in -----------------------------------------------------------------------------------


def check_in(
    session: Session, actor: Actor, booking_id: str, now: datetime, *, check_in_opens_min: int = 15
) -> Booking:
    """Mark the member present; allowed from a little before the start until the end."""
    booking = get_booking_or_raise(session, actor, booking_id)
    return _check_in(session, booking, now, check_in_opens_min)


def check_in_by_code(
    session: Session, actor: Actor, code: str, now: datetime, *, check_in_opens_min: int = 15
) -> Booking:
    """Check in the booking with this code (a kiosk, a manager, or its member)."""
    booking = repo.get_booking_by_code(session, code)
    if booking is None or not can_see(actor, booking):
        raise NotFound("no booking has the code {text}", text=code.strip().upper())
    return _check_in(session, booking, now, check_in_opens_min)


def _check_in(session: Session, booking: Booking, now: datetime, opens_min: int) -> Booking:
    tz = _tz_of(session, booking)
    span_text = Slot(booking.start_at, booking.end_at, tz.key)
    after = transition(booking.status, Move.check_in, span_text)
    if after is booking.status:
        return booking
    check_check_in_time(booking.start_at, booking.end_at, now, opens_min, tz, span_text)
    booking.status = after
    booking.checked_in_at = now
    booking.updated_at = now
    session.add(booking)
    session.flush()
    return booking


def mark_used(session: Session, booking_id: str, now: datetime) -> Booking | None:
    """A machine session began during the booking: that is a check-in, whenever it happens in the booking."""
    booking = repo.get_booking(session, booking_id)
    if booking is None or not can_move(booking.status, Move.check_in):
        return booking
    booking.status = transition(booking.status, Move.check_in, "")
    booking.checked_in_at = now
    booking.updated_at = now
    session.add(booking)
    session.flush()
    return booking


# --- approvals ----------------------------------------------------------------------------------


def approve(session: Session, actor: Actor, booking_id: str, now: datetime, note: str = "") -> Booking:
    """A manager confirms a pending booking."""
    booking = _for_decision(session, actor, booking_id)
    span_text = _span_of(session, booking)
    booking.status = transition(booking.status, Move.approve, span_text)
    booking.decided_by = actor.id
    booking.updated_at = now
    session.add(booking)
    notify(
        session,
        booking.member_id,
        "approved",
        message(
            "Your booking of {resource} {slot} is confirmed. {note}",
            resource=_name_of(session, booking),
            slot=span_text,
            note=note.strip(),
        ),
        booking=booking,
        now=now,
    )
    session.flush()
    return booking


def reject(session: Session, actor: Actor, booking_id: str, now: datetime, note: str = "") -> Booking:
    """A manager refuses a pending booking; its time goes back to the quota and the waitlist."""
    booking = _for_decision(session, actor, booking_id)
    span_text = _span_of(session, booking)
    booking.status = transition(booking.status, Move.reject, span_text)
    booking.decided_by = actor.id
    booking.updated_at = now
    session.add(booking)
    ledger.refund(session, booking, ledger.booked_seconds(booking), now)
    notify(
        session,
        booking.member_id,
        "rejected",
        message(
            "Your booking of {resource} {slot} was declined. {note}",
            resource=_name_of(session, booking),
            slot=span_text,
            note=note.strip(),
        ),
        booking=booking,
        now=now,
    )
    session.flush()
    waitlist.promote(session, booking.resource_id, booking.start_at, booking.block_end, now)
    return booking


def _for_decision(session: Session, actor: Actor, booking_id: str) -> Booking:
    booking = get_booking_or_raise(session, actor, booking_id)
    if not actor.manages(booking.site_id):
        raise NotPermitted("only the site's managers approve or decline bookings")
    return booking


# --- time-driven moves (run by booking.jobs) ------------------------------------------------------


def release_no_shows(session: Session, now: datetime, grace: timedelta) -> list[Booking]:
    """Bookings not checked in (nor started on their machine) `grace` after their start become no-shows."""
    # A bounded batch per run keeps the transaction (and SQLite's write lock) short after a backlog;
    # the job runs every minute and takes the next batch.
    released = []
    for booking in repo.due_for_no_show(session, now - grace):
        span_text = _span_of(session, booking)
        booking.status = transition(booking.status, Move.no_show, span_text)
        booking.updated_at = now
        session.add(booking)
        session.flush()
        notify(
            session,
            booking.member_id,
            "no_show",
            message(
                "You did not check in for {resource} {slot}; the slot was released",
                resource=_name_of(session, booking),
                slot=span_text,
            ),
            booking=booking,
            now=now,
        )
        if booking.end_at > now:
            waitlist.promote(session, booking.resource_id, now, booking.block_end, now)
        released.append(booking)
    return released


def complete_ended(session: Session, now: datetime) -> int:
    """Checked-in bookings whose end has passed become completed; returns how many."""
    ended = repo.ended(session, now)
    for booking in ended:
        booking.status = transition(booking.status, Move.complete, _span_of(session, booking))
        booking.updated_at = now
        session.add(booking)
    session.flush()
    return len(ended)


# --- walk-ins -----------------------------------------------------------------------------------


def book_walk_in(
    session: Session, actor: Actor, resource_id: str, now: datetime, *, member_id: str | None = None
) -> Booking:
    """Book the slot under way (and enough after it for the shortest booking) for a member at the door."""
    target = engine.load_target(session, actor, resource_id, member_id, now)
    resource = target.resource
    if not resource.allow_walk_in:
        raise NotPermitted("{name} takes no walk-ins; book it ahead", name=resource.name)
    span = walk_in_span(now, target.tz, resource.slot_minutes, resource.rules.min_minutes)
    engine.with_closures(session, target, span.start, span.end)
    return engine.book_one(session, target, span.start, span.end, 1, now, note="walk-in", walk_in=True)


# --- out of service -----------------------------------------------------------------------------


def block_resource(session: Session, resource_id: str, reason: str, why: str, now: datetime) -> ResourceBlock:
    """Take a resource out of service from now until cleared; members booked on it are told."""
    for block in catalogue_repo.open_blocks(session, resource_id, reason):
        if block.message != why:
            block.message = why
            session.add(block)
        return block
    block = ResourceBlock(resource_id=resource_id, reason=reason, message=why, start_at=now, created_at=now)
    session.add(block)
    session.flush()
    resource = catalogue_repo.get_resource(session, resource_id)
    name = resource.name if resource else resource_id
    for booking in repo.upcoming_bookings(session, resource_id, now):
        span_text = _span_of(session, booking)
        notify(
            session,
            booking.member_id,
            "out_of_service",
            message(
                "{resource} is out of service ({reason}); your booking {slot} may not be usable",
                resource=name,
                reason=why,
                slot=span_text,
            ),
            booking=booking,
            now=now,
        )
    return block


def clear_blocks(session: Session, resource_id: str, reason: str, now: datetime) -> int:
    """Put the resource back in service for this reason; returns how many blocks were cleared."""
    cleared = 0
    for block in catalogue_repo.open_blocks(session, resource_id, reason):
        block.cleared_at = now
        session.add(block)
        cleared += 1
    session.flush()
    return cleared


def send_reminders(session: Session, now: datetime, window: timedelta, limit: int = 500) -> int:
    """Remind each member of a confirmed booking starting within `window`, once; a booking made inside
    that window was just made and gets none. Returns how many were reminded."""
    reminded = 0
    for booking in repo.due_for_reminder(session, now, now + window, limit):
        booking.reminded_at = now
        session.add(booking)
        if booking.created_at > booking.start_at - window:
            continue
        notify(
            session,
            booking.member_id,
            "reminder",
            message(
                "Reminder: your booking of {resource} is {slot}; your check-in code is {code}",
                resource=_name_of(session, booking),
                slot=_span_of(session, booking),
                code=booking.code,
            ),
            booking=booking,
            now=now,
        )
        reminded += 1
    session.flush()
    return reminded
