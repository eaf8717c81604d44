"""The events' use cases: announce an event (booking its rooms), register and cancel (seats and a
waitlist the database keeps within capacity), take attendance, and grant a training event's training.
Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.engine import service as engine
from booking.engine.status import Move, transition
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted, Unauthenticated
from booking.events import repository as repo
from booking.events import rules
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor
from booking.members.rules import check_training, looks_like_email
from booking.messages import Items, Name, Slot, message
from booking.models import (
    ACTIVE_STATUSES,
    Booking,
    Event,
    EventKind,
    EventSession,
    EventStatus,
    Registration,
    RegistrationStatus,
    Role,
    Site,
)
from booking.notifications import notify, queue_email
from booking.schemas import (
    EventCreate,
    EventRead,
    EventSessionCreate,
    EventSessionRead,
    EventUpdate,
    RegistrationCreate,
    RegistrationRead,
)
from booking.security import new_booking_code, new_id
from booking.series.rules import FURTHEST_END, expand_rrule
from booking.spans import Span
from booking.waitlist import service as waitlist

CODE_ATTEMPTS = 5
LIVE = (RegistrationStatus.registered, RegistrationStatus.waitlisted)


def event_name(event: Event) -> Name:
    return Name(event.title, event.title_en or None)


# --- reading ------------------------------------------------------------------------------------


def get_event_or_raise(session: Session, actor: Actor | None, event_id: str) -> Event:
    """The event; a members-only event is not found for someone not signed in."""
    event = repo.get_event(session, event_id)
    if event is None or (actor is None and not event.public):
        raise NotFound("there is no event '{event_id}'", event_id=event_id)
    return event


def event_reads(session: Session, events: Sequence[Event]) -> list[EventRead]:
    """Events as the API gives them, with their sessions and waitlists read in two queries."""
    ids = [event.id for event in events]
    sessions = repo.sessions_of(session, ids)
    waiting = repo.waitlisted_counts(session, ids)
    return [
        EventRead(
            id=event.id,
            site=event.site_id,
            kind=event.kind,
            title=event.title,
            title_en=event.title_en,
            description=event.description,
            description_en=event.description_en,
            capacity=event.capacity,
            registered=event.registered,
            waitlisted=waiting.get(event.id, 0),
            seats_left=rules.seats_left(event.capacity, event.registered),
            training_id=event.training_id,
            required_plan_id=event.required_plan_id,
            required_training_id=event.required_training_id,
            public=event.public,
            opens_at=event.opens_at,
            closes_at=event.closes_at,
            start=event.starts_at,
            end=event.ends_at,
            sessions=[
                EventSessionRead(id=s.id, resource_id=s.resource_id, start=s.start_at, end=s.end_at)
                for s in sessions[event.id]
            ],
            status=event.status,
        )
        for event in events
    ]


def list_events(
    session: Session,
    actor: Actor | None,
    *,
    site_ids: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    include_cancelled: bool = True,
) -> Sequence[Event]:
    """Events touching [start, end): public ones for anyone, all of them for a signed-in member."""
    return repo.events_between(
        session,
        site_ids=site_ids,
        start=start.astimezone(UTC) if start else None,
        end=end.astimezone(UTC) if end else None,
        public_only=actor is None,
        include_cancelled=include_cancelled,
    )


def sessions_of(session: Session, event: Event) -> list[EventSession]:
    return repo.sessions_of(session, [event.id])[event.id]


# --- announcing and cancelling --------------------------------------------------------------------


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
    tz = _site_tz(session, event.site_id)
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
    tz = _site_tz(session, event.site_id)
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


def _site_tz(session: Session, site_id: str) -> ZoneInfo:
    return ZoneInfo(catalogue.get_site_or_raise(session, site_id).timezone)


# --- registering --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registrant:
    member_id: str | None
    name: str
    email: str


def register(
    session: Session,
    actor: Actor | None,
    event_id: str,
    data: RegistrationCreate,
    now: datetime,
    *,
    language: str = "vi",
) -> Registration:
    """Take a seat, or the next place on the waitlist once the seats are gone; a member registers once."""
    event = repo.lock_event(session, event_id)
    if event is None or (actor is None and not event.public):
        raise NotFound("there is no event '{event_id}'", event_id=event_id)
    tz = _site_tz(session, event.site_id)
    if event.status is EventStatus.cancelled:
        raise Conflict("{event} was cancelled", event=event_name(event))
    rules.check_window(event.opens_at, event.closes_at, event.starts_at, now, tz)
    registrant = _registrant(session, actor, event, data, now)
    held = (
        repo.live_registration_of_member(session, event.id, registrant.member_id)
        if registrant.member_id is not None
        else repo.live_registration_of_guest(session, event.id, registrant.email)
    )
    if held is not None:
        raise Conflict(
            "{name} is already registered for {event} (code {code})",
            name=registrant.name,
            event=event_name(event),
            code=held.code,
        )
    seated = repo.take_seat(session, event)
    registration = Registration(
        id=new_id(),
        event_id=event.id,
        member_id=registrant.member_id,
        name=registrant.name,
        email=registrant.email,
        status=RegistrationStatus.registered if seated else RegistrationStatus.waitlisted,
        position=None if seated else repo.next_position(session, event.id),
        code=_new_code(session),
        passed=False,
        created_at=now,
        updated_at=now,
    )
    session.add(registration)
    session.flush()
    _confirm(session, event, registration, tz, language, now)
    return registration


def _confirm(
    session: Session, event: Event, registration: Registration, tz: ZoneInfo, language: str, now: datetime
) -> None:
    """Tell the registrant their seat (or waitlist place) and code: a member in-app and by e-mail,
    a guest by e-mail at the address they gave."""
    slot = Slot(event.starts_at, event.ends_at, tz.key)
    if registration.status is RegistrationStatus.registered:
        said = message(
            "You are registered for {event} ({slot}); your code is {code}",
            event=event_name(event),
            slot=slot,
            code=registration.code,
        )
    else:
        said = message(
            "{event} ({slot}) is full: you are on its waitlist, and are told if a seat frees up; "
            "your code is {code}",
            event=event_name(event),
            slot=slot,
            code=registration.code,
        )
    link = f"/events/{event.id}"
    if registration.member_id is not None:
        notify(session, registration.member_id, "event_registered", said, now=now, link=link)
    else:
        queue_email(
            session,
            "event_registered",
            said,
            now,
            to_address=registration.email,
            language=language,
            link=link,
        )


def _registrant(
    session: Session, actor: Actor | None, event: Event, data: RegistrationCreate, now: datetime
) -> Registrant:
    """Who registers: the signed-in member, a member a manager names, or a guest of a public event."""
    if actor is None:
        if not event.public:
            raise Unauthenticated("sign in to register for an event for members")
        name, email = data.name.strip(), data.email.strip()
        if not name:
            raise InvalidRequest("give your name to register as a guest")
        if not looks_like_email(email):
            raise InvalidRequest("'{email}' is not an e-mail address", email=email)
        return Registrant(None, name, email.lower())
    if actor.member.role is Role.kiosk:
        raise NotPermitted("a kiosk account cannot do this")
    member = actor.member
    if data.member is not None and data.member != actor.id:
        if not actor.manages(event.site_id):
            raise NotPermitted("only the site's managers register another member")
        member_row = members.get_member_or_raise(session, data.member)
        name, email, plan_id = member_row.name, member_row.email, member_row.plan_id
        member_id = member_row.id
    else:
        name, email, plan_id, member_id = member.name, member.email, member.plan_id, member.id
    if event.required_plan_id is not None and plan_id != event.required_plan_id:
        plan = catalogue_repo.get_plan(session, event.required_plan_id)
        raise NotPermitted(
            "{event} is for members of the plan {plan}",
            event=event_name(event),
            plan=Name(plan.name, plan.name_en or None) if plan else event.required_plan_id,
        )
    if event.required_training_id is not None:
        training = catalogue.get_training_or_raise(session, event.required_training_id)
        check_training(
            training.id, members_repo.trainings_held(session, member_id), now, training.name, event.title
        )
    return Registrant(member_id, name, email)


def _new_code(session: Session) -> str:
    for _attempt in range(CODE_ATTEMPTS):
        code = new_booking_code()
        if not repo.code_taken(session, code):
            return code
    raise Conflict("no free registration code could be drawn; please try again")


def cancel_registration(
    session: Session, actor: Actor, event_id: str, registration_id: str, now: datetime
) -> Registration:
    """Give up a seat or a waitlist place; a freed seat goes to the first waiter, who is told."""
    event = repo.lock_event(session, event_id)
    registration = repo.get_registration(session, registration_id)
    if event is None or registration is None or registration.event_id != event_id:
        raise NotFound("there is no registration '{registration_id}'", registration_id=registration_id)
    if registration.member_id != actor.id and not actor.manages(event.site_id):
        raise NotPermitted("only the registrant and the site's managers cancel a registration")
    if registration.status is RegistrationStatus.cancelled:
        return registration
    was_seated = registration.status is RegistrationStatus.registered
    registration.status = RegistrationStatus.cancelled
    registration.position = None
    registration.updated_at = now
    session.add(registration)
    session.flush()
    if was_seated:
        repo.give_seat(session, event)
        if event.status is EventStatus.scheduled and now < event.ends_at:
            promote_waiters(session, event, now)
    return registration


def promote_waiters(session: Session, event: Event, now: datetime) -> list[Registration]:
    """Seat waiters, first come first served, while seats are left (the event's row is locked)."""
    promoted: list[Registration] = []
    tz = _site_tz(session, event.site_id)
    while True:
        waiter = repo.first_waiter(session, event.id)
        if waiter is None or not repo.take_seat(session, event):
            return promoted
        waiter.status = RegistrationStatus.registered
        waiter.position = None
        waiter.updated_at = now
        session.add(waiter)
        session.flush()
        if waiter.member_id is not None:
            notify(
                session,
                waiter.member_id,
                "event_promoted",
                message(
                    "A seat freed up: you are registered for {event} ({slot}); your code is {code}",
                    event=event_name(event),
                    slot=Slot(event.starts_at, event.ends_at, tz.key),
                    code=waiter.code,
                ),
                now=now,
            )
        promoted.append(waiter)


def registration_read(session: Session, registration: Registration) -> RegistrationRead:
    """One registration as the API gives it: its waitlist place, the sessions it attended."""
    position = (
        repo.waiting_ahead(session, registration) + 1
        if registration.status is RegistrationStatus.waitlisted
        else None
    )
    return _read(registration, position, repo.attended(session, registration.id))


def list_registrations(session: Session, actor: Actor, event_id: str) -> list[RegistrationRead]:
    """The event's registrations with attendance, for its site's managers."""
    event = get_event_or_raise(session, actor, event_id)
    if not actor.manages(event.site_id):
        raise NotPermitted("only the site's managers see an event's registrations")
    attendance = repo.attendance_of(session, event.id)
    rows = repo.registrations(session, event.id)
    waiting = [r for r in rows if r.status is RegistrationStatus.waitlisted]
    places = {r.id: index + 1 for index, r in enumerate(sorted(waiting, key=lambda r: r.position or 0))}
    return [_read(r, places.get(r.id), attendance.get(r.id, set())) for r in rows]


def _read(registration: Registration, position: int | None, attended: set[str]) -> RegistrationRead:
    return RegistrationRead(
        id=registration.id,
        event_id=registration.event_id,
        member=registration.member_id,
        name=registration.name,
        status=registration.status,
        position=position,
        code=registration.code,
        attended=bool(attended),
        attended_sessions=sorted(attended),
        passed=registration.passed,
        created_at=registration.created_at,
    )


def my_registrations(session: Session, member_id: str) -> list[tuple[Registration, Event]]:
    """The member's live registrations with their events, soonest event first."""
    found = []
    for registration in repo.member_registrations(session, member_id):
        event = repo.get_event(session, registration.event_id)
        if event is not None:
            found.append((registration, event))
    return sorted(found, key=lambda pair: pair[1].starts_at)


def sessions_between(
    session: Session, site_id: str, start: datetime, end: datetime
) -> list[tuple[Event, EventSession]]:
    """The site's scheduled events' sessions touching [start, end), in time order (a kiosk's day)."""
    found = repo.events_between(
        session, site_ids=[site_id], start=start, end=end, public_only=False, include_cancelled=False
    )
    sittings = repo.sessions_of(session, [e.id for e in found])
    pairs = [
        (event, sitting)
        for event in found
        for sitting in sittings[event.id]
        if sitting.start_at < end and sitting.end_at > start
    ]
    return sorted(pairs, key=lambda pair: pair[1].start_at)


def send_reminders(session: Session, now: datetime, window: timedelta) -> int:
    """Remind the registrants of each session starting within `window`, once (those who registered
    inside the window were just told); guests by e-mail. Returns how many were reminded."""
    reminded = 0
    for sitting, event in repo.sessions_due_for_reminder(session, now, now + window):
        sitting.reminded_at = now
        session.add(sitting)
        tz = _site_tz(session, event.site_id)
        for registration in repo.registrations(session, event.id, [RegistrationStatus.registered]):
            if registration.created_at > sitting.start_at - window:
                continue
            said = message(
                "Reminder: {event} is {slot}; your code is {code}",
                event=event_name(event),
                slot=Slot(sitting.start_at, sitting.end_at, tz.key),
                code=registration.code,
            )
            link = f"/events/{event.id}"
            if registration.member_id is not None:
                notify(session, registration.member_id, "reminder", said, now=now, link=link)
            else:
                queue_email(session, "reminder", said, now, to_address=registration.email, link=link)
            reminded += 1
    session.flush()
    return reminded
