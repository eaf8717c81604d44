"""Announcing and cancelling events: an event's sessions book their rooms, a change of times or
capacity moves the bookings and tells the registrants. Never commits.

Reading events is `booking.events.reading`; registering for them, `booking.events.registrations`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import service as catalogue
from booking.engine import service as engine
from booking.engine.status import Move, transition
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.events import repository as repo
from booking.events import rules
from booking.events.reading import event_name, get_event_or_raise, sessions_of, site_tz
from booking.events.registrations import promote_waiters
from booking.members.actors import Actor
from booking.messages import Items, Name, Slot, message
from booking.models import (
    ACTIVE_STATUSES,
    Booking,
    Event,
    EventKind,
    EventSession,
    EventStatus,
    RegistrationStatus,
    Site,
)
from booking.notifications import notify
from booking.schemas import EventCreate, EventSessionCreate, EventUpdate
from booking.security import new_id
from booking.series.rules import FURTHEST_END, expand_rrule
from booking.spans import Span
from booking.waitlist import service as waitlist

LIVE = (RegistrationStatus.registered, RegistrationStatus.waitlisted)


def create_event(session: Session, actor: Actor, data: EventCreate, now: datetime) -> Event:
    """Announce an event: every session books its room or space for the event (409 naming a taken slot)."""
    site = catalogue.get_site_or_raise(session, data.site)
    if not actor.manages(site.id):
        raise NotPermitted("only the site's managers announce events there")
    tz = ZoneInfo(site.timezone)
    rules.check_capacity(data.capacity)
    for training_id in (data.training_id, data.required_training_id):
        if training_id is not None:
            catalogue.get_training_or_raise(session, training_id)
    catalogue.check_plan_exists(session, data.required_plan_id)
    if data.kind is EventKind.training and data.training_id is None:
        raise InvalidRequest("a training event names the training it grants (training_id)")
    spans = _requested_spans(data, tz)
    ordered = rules.check_sessions([span for span, _ in spans], now, tz)
    rules.check_window_order(data.opens_at, data.closes_at, tz)
    # All or nothing: a taken slot for the fifth session undoes the event and its first four rooms,
    # whatever the caller does with the transaction afterwards.
    with session.begin_nested():
        return _write_event(session, actor, data, spans, ordered, site, now)


def _write_event(
    session: Session,
    actor: Actor,
    data: EventCreate,
    spans: list[tuple[Span, str]],
    ordered: list[Span],
    site: Site,
    now: datetime,
) -> Event:
    event = Event(
        id=new_id(),
        site_id=site.id,
        kind=data.kind,
        title=data.title,
        title_en=data.title_en,
        description=data.description,
        description_en=data.description_en,
        capacity=data.capacity,
        registered=0,
        public=data.public,
        training_id=data.training_id,
        required_plan_id=data.required_plan_id,
        required_training_id=data.required_training_id,
        opens_at=data.opens_at.astimezone(UTC) if data.opens_at else None,
        closes_at=data.closes_at.astimezone(UTC) if data.closes_at else None,
        starts_at=ordered[0].start,
        ends_at=max(span.end for span in ordered),
        status=EventStatus.scheduled,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    session.flush()
    _book_sessions(session, actor, event, spans, now)
    return event


def _requested_spans(data: EventCreate, tz: ZoneInfo) -> list[tuple[Span, str]]:
    """The sessions asked for: as listed, or the first one repeated by the RRULE."""
    if not data.sessions:
        raise InvalidRequest("an event needs at least one session")
    if len(data.sessions) > rules.MAX_SESSIONS:
        raise InvalidRequest(
            "an event has at most {most} sessions; {count} were given",
            most=rules.MAX_SESSIONS,
            count=len(data.sessions),
        )
    if data.rrule is None:
        return [(Span(s.start.astimezone(UTC), s.end.astimezone(UTC)), s.resource_id) for s in data.sessions]
    if len(data.sessions) != 1:
        raise InvalidRequest("with an rrule, give exactly one session: the first, which the rule repeats")
    first = data.sessions[0]
    start, end = first.start.astimezone(UTC), first.end.astimezone(UTC)
    if end <= start:
        raise InvalidRequest("the session {slot} ends before it starts", slot=Slot(start, end, tz.key))
    occurrences = expand_rrule(data.rrule, start, end, tz, start + FURTHEST_END)
    return [(span, first.resource_id) for span in occurrences]


def update_event(session: Session, actor: Actor, event_id: str, data: EventUpdate, now: datetime) -> Event:
    """Change an event: its words, seats, window or sessions. Moving the sessions moves their room
    bookings (the old slot is given up only if the new one is won); registrants are told of new times."""
    event = repo.lock_event(session, event_id)
    if event is None:
        raise NotFound("there is no event '{event_id}'", event_id=event_id)
    if not actor.manages(event.site_id):
        raise NotPermitted("only the site's managers change its events")
    if event.status is EventStatus.cancelled:
        raise Conflict("{event} was cancelled", event=event_name(event))
    tz = site_tz(session, event.site_id)
    with session.begin_nested():
        for name in ("title", "title_en", "description", "description_en", "public"):
            value = getattr(data, name)
            if value is not None:
                setattr(event, name, value)
        if data.opens_at is not None:
            event.opens_at = data.opens_at.astimezone(UTC)
        if data.closes_at is not None:
            event.closes_at = data.closes_at.astimezone(UTC)
        rules.check_window_order(event.opens_at, event.closes_at, tz)
        moved = data.sessions is not None and _move_sessions(session, actor, event, data.sessions, now, tz)
        event.updated_at = now
        session.add(event)
        session.flush()
        if data.capacity is not None:
            _change_capacity(session, event, data.capacity, now)
    if moved:
        sittings = sessions_of(session, event)
        times = Items(tuple(message("{slot}", slot=Slot(s.start_at, s.end_at, tz.key)) for s in sittings))
        for registration in repo.registrations(session, event.id, LIVE):
            if registration.member_id is not None:
                notify(
                    session,
                    registration.member_id,
                    "event_moved",
                    message("The times of {event} changed: {times}", event=event_name(event), times=times),
                    now=now,
                )
    return event


def _change_capacity(session: Session, event: Event, capacity: int, now: datetime) -> None:
    rules.check_capacity(capacity)
    if capacity < event.registered:
        raise Conflict(
            "{event} already has {registered} people registered; it cannot have fewer seats than that",
            event=event_name(event),
            registered=event.registered,
        )
    event.capacity = capacity
    session.add(event)
    session.flush()
    promote_waiters(session, event, now)


def _move_sessions(
    session: Session,
    actor: Actor,
    event: Event,
    wanted: Sequence[EventSessionCreate],
    now: datetime,
    tz: ZoneInfo,
) -> bool:
    """Release the sessions no longer wanted, book the new ones; True when anything changed."""
    rules.check_count(len(wanted))
    asked = [(Span(s.start.astimezone(UTC), s.end.astimezone(UTC)), s.resource_id) for s in wanted]
    rules.check_no_overlap([span for span, _ in asked], tz)
    current = {(s.resource_id, s.start_at, s.end_at): s for s in sessions_of(session, event)}
    keys = {(resource_id, span.start, span.end) for span, resource_id in asked}
    attended = repo.attendance_of(session, event.id)
    present_at = {session_id for ids in attended.values() for session_id in ids}
    dropped = [s for key, s in current.items() if key not in keys]
    added = [
        (span, resource_id)
        for span, resource_id in asked
        if (resource_id, span.start, span.end) not in current
    ]
    for sitting in dropped:
        slot = Slot(sitting.start_at, sitting.end_at, tz.key)
        if sitting.id in present_at:
            raise Conflict("the session {slot} has attendance taken; it cannot be removed", slot=slot)
        if sitting.start_at <= now:
            raise InvalidRequest("the session {slot} has begun; it cannot be moved", slot=slot)
    for span, _resource_id in added:
        rules.check_session(span, now, tz)
    # The old slots go first, so a session moved by half an hour may overlap where it was.
    for sitting in dropped:
        if sitting.booking_id is not None:
            _release_room(session, sitting.booking_id, now)
        session.delete(sitting)
    session.flush()
    _book_sessions(session, actor, event, added, now)
    remaining = [(span.start, span.end) for span, _ in asked]
    event.starts_at = min(start for start, _ in remaining)
    event.ends_at = max(end for _, end in remaining)
    return bool(dropped or added)


def _book_sessions(
    session: Session, actor: Actor, event: Event, spans: Sequence[tuple[Span, str]], now: datetime
) -> None:
    """Book the room of each session for the event, and record the sessions."""
    targets: dict[str, engine.Target] = {}
    for span, resource_id in sorted(spans, key=lambda item: item[0].start):
        target = targets.get(resource_id)
        if target is None:
            target = engine.event_target(session, actor, resource_id)
            if target.resource.site_id != event.site_id:
                site = catalogue.get_site_or_raise(session, event.site_id)
                raise InvalidRequest(
                    "{resource} is not at {site}; an event's sessions are held at its own site",
                    resource=target.resource.name,
                    site=Name(site.name, site.name_en or None),
                )
            engine.with_closures(
                session, target, min(s.start for s, _ in spans), max(s.end for s, _ in spans)
            )
            targets[resource_id] = target
        booking = engine.book_for_event(
            session, target, span.start, span.end, now, event_id=event.id, note=event.title
        )
        session.add(
            EventSession(
                id=new_id(),
                event_id=event.id,
                resource_id=resource_id,
                start_at=span.start,
                end_at=span.end,
                booking_id=booking.id,
            )
        )
    session.flush()


def message_registrants(session: Session, actor: Actor, event_id: str, text: str, now: datetime) -> int:
    """Tell every member registered or waiting (in-app; by e-mail once delivery is set up); how many."""
    event = get_event_or_raise(session, actor, event_id)
    if not actor.manages(event.site_id):
        raise NotPermitted("only the site's managers write to an event's registrants")
    told = 0
    for registration in repo.registrations(session, event.id, LIVE):
        if registration.member_id is not None:
            notify(
                session,
                registration.member_id,
                "event_message",
                message("About {event}: {text}", event=event_name(event), text=text.strip()),
                now=now,
            )
            told += 1
    session.flush()
    return told


def cancel_event(session: Session, actor: Actor, event_id: str, now: datetime) -> Event:
    """Call an event off: its rooms are released for others, every registrant is told."""
    event = repo.lock_event(session, event_id)
    if event is None:
        raise NotFound("there is no event '{event_id}'", event_id=event_id)
    if not actor.manages(event.site_id):
        raise NotPermitted("only the site's managers cancel its events")
    if event.status is EventStatus.cancelled:
        return event
    tz = site_tz(session, event.site_id)
    event.status = EventStatus.cancelled
    event.updated_at = now
    session.add(event)
    for sitting in sessions_of(session, event):
        if sitting.booking_id is not None:
            _release_room(session, sitting.booking_id, now)
    first = Slot(event.starts_at, event.ends_at, tz.key)
    for registration in repo.registrations(session, event.id, LIVE):
        registration.status = RegistrationStatus.cancelled
        registration.updated_at = now
        session.add(registration)
        if registration.member_id is not None:
            notify(
                session,
                registration.member_id,
                "event_cancelled",
                message("{event} ({slot}) was cancelled", event=event_name(event), slot=first),
                now=now,
            )
    repo.clear_seats(session, event)
    session.flush()
    return event


def _release_room(session: Session, booking_id: str, now: datetime) -> None:
    booking = session.get(Booking, booking_id)
    if booking is None or booking.status not in ACTIVE_STATUSES:
        return
    move = Move.cancel if booking.start_at > now else Move.release
    booking.status = transition(booking.status, move, booking.id)
    booking.updated_at = now
    session.add(booking)
    session.flush()
    if booking.end_at > now:
        waitlist.promote(session, booking.resource_id, max(now, booking.start_at), booking.block_end, now)
