"""Registering for an event: seats and a waitlist the database keeps within capacity, cancelling,
promoting waiters, the registrants' lists and reminders. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted, Unauthenticated
from booking.events import repository as repo
from booking.events import rules
from booking.events.reading import event_name, get_event_or_raise, site_tz
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor
from booking.members.rules import check_training, looks_like_email
from booking.messages import Name, Slot, message
from booking.models import Event, EventStatus, Registration, RegistrationStatus, Role
from booking.notifications import notify, queue_email
from booking.schemas import RegistrationCreate, RegistrationRead
from booking.security import new_booking_code, new_id

CODE_ATTEMPTS = 5


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
    tz = site_tz(session, event.site_id)
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
    tz = site_tz(session, event.site_id)
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


def send_reminders(session: Session, now: datetime, window: timedelta) -> int:
    """Remind the registrants of each session starting within `window`, once (those who registered
    inside the window were just told); guests by e-mail. Returns how many were reminded."""
    reminded = 0
    for sitting, event in repo.sessions_due_for_reminder(session, now, now + window):
        sitting.reminded_at = now
        session.add(sitting)
        tz = site_tz(session, event.site_id)
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
