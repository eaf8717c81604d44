"""Attendance at events: by registration code or id (a manager's tick list, the API), at the site's
kiosk by code or card; the first registrant present checks the session's room in, and a training
event grants its training to whoever completed it. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from booking.catalogue import service as catalogue
from booking.engine.status import Move, transition
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.events import repository as repo
from booking.events import rules
from booking.events.reading import event_name, get_event_or_raise, sessions_of
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor
from booking.messages import Name, message
from booking.models import (
    Attendance,
    Booking,
    BookingStatus,
    Event,
    EventKind,
    EventSession,
    EventStatus,
    Registration,
    RegistrationStatus,
)
from booking.notifications import notify
from booking.schemas import AttendanceCreate
from booking.spans import Span


def record_attendance(
    session: Session, actor: Actor, event_id: str, data: AttendanceCreate, now: datetime
) -> Registration:
    """Mark a registrant present at a session (by code or registration), by a manager or the site's
    kiosk; a training event then grants its training to whoever completed it."""
    event = get_event_or_raise(session, actor, event_id)
    if not (actor.manages(event.site_id) or actor.is_kiosk_of(event.site_id)):
        raise NotPermitted("only the site's managers and its kiosk take attendance")
    if event.status is EventStatus.cancelled:
        raise Conflict("{event} was cancelled", event=event_name(event))
    registration = _registration_for(session, event, data)
    if data.passed is not None and not actor.manages(event.site_id):
        raise NotPermitted("only the site's managers mark a registrant as passed")
    sittings = sessions_of(session, event)
    if data.passed is None or data.session_id is not None:
        sitting = _sitting(session, event, sittings, data.session_id, now)
        if not repo.has_attended(session, registration.id, sitting.id):
            session.add(
                Attendance(
                    registration_id=registration.id, session_id=sitting.id, at=now, recorded_by=actor.id
                )
            )
            session.flush()
            _check_in_room(session, sitting, now)
    if data.passed is not None:
        registration.passed = data.passed
        registration.updated_at = now
        session.add(registration)
        session.flush()
    _grant_if_completed(session, event, registration, [s.id for s in sittings], actor, now)
    return registration


def attend_at_kiosk(
    session: Session, actor: Actor, site_id: str, now: datetime, *, code: str = "", card: str = ""
) -> tuple[Registration, Event] | None:
    """At the site's kiosk: a registration code, or a card whose holder registered for an event of
    the site under way, marks them present; None when the code or card is not an event's (the kiosk
    then tries a booking's check-in)."""
    if code.strip():
        registration = repo.registration_by_code(session, code.strip().upper())
        event = repo.get_event(session, registration.event_id) if registration else None
        if registration is None or event is None or event.site_id != site_id:
            return None
        return record_attendance(
            session, actor, event.id, AttendanceCreate(code=registration.code), now
        ), event
    member = members_repo.get_member_by_card(session, card.strip().upper()) if card.strip() else None
    if member is None:
        return None
    for event in under_way(session, site_id, now):
        registration = repo.live_registration_of_member(session, event.id, member.id)
        if registration is not None and registration.status is RegistrationStatus.registered:
            attendance = AttendanceCreate(registration_id=registration.id)
            return record_attendance(session, actor, event.id, attendance, now), event
    return None


def under_way(session: Session, site_id: str, now: datetime) -> list[Event]:
    """The site's events with a session under way or beginning within the hour."""
    found = []
    for event in repo.events_between(
        session,
        site_ids=[site_id],
        start=now - rules.ATTENDANCE_OPENS,
        end=now + rules.ATTENDANCE_OPENS,
        public_only=False,
        include_cancelled=False,
    ):
        sittings = [Span(s.start_at, s.end_at) for s in sessions_of(session, event)]
        if rules.session_for_attendance(sittings, now) is not None:
            found.append(event)
    return found


def _registration_for(session: Session, event: Event, data: AttendanceCreate) -> Registration:
    if data.code:
        code = data.code.strip().upper()
        registration = repo.registration_by_code(session, code)
        if registration is None or registration.event_id != event.id:
            raise NotFound(
                "no registration for {event} has the code {code}", event=event_name(event), code=code
            )
    elif data.registration_id:
        registration = repo.get_registration(session, data.registration_id)
        if registration is None or registration.event_id != event.id:
            raise NotFound(
                "there is no registration '{registration_id}'", registration_id=data.registration_id
            )
    else:
        raise InvalidRequest("give a registration code or a registration id")
    if registration.status is RegistrationStatus.waitlisted:
        raise Conflict(
            "{name} is on the waitlist of {event}, not registered",
            name=registration.name,
            event=event_name(event),
        )
    if registration.status is RegistrationStatus.cancelled:
        raise Conflict("the registration of {name} was cancelled", name=registration.name)
    return registration


def _sitting(
    session: Session, event: Event, sittings: list[EventSession], session_id: str | None, now: datetime
) -> EventSession:
    if session_id is not None:
        for sitting in sittings:
            if sitting.id == session_id:
                return sitting
        raise NotFound(
            "{event} has no session '{session_id}'", event=event_name(event), session_id=session_id
        )
    index = rules.session_for_attendance([Span(s.start_at, s.end_at) for s in sittings], now)
    if index is None:
        raise InvalidRequest(
            "no session of {event} is under way or begins within the hour; choose the session",
            event=event_name(event),
        )
    return sittings[index]


def _check_in_room(session: Session, sitting: EventSession, now: datetime) -> None:
    """The first registrant present checks the session's room booking in: the room is in use."""
    if sitting.booking_id is None:
        return
    booking = session.get(Booking, sitting.booking_id)
    if booking is not None and booking.status is BookingStatus.confirmed:
        booking.status = transition(booking.status, Move.check_in, booking.id)
        booking.checked_in_at = now
        booking.updated_at = now
        session.add(booking)
        session.flush()


def _grant_if_completed(
    session: Session,
    event: Event,
    registration: Registration,
    session_ids: list[str],
    actor: Actor,
    now: datetime,
) -> None:
    if event.kind is not EventKind.training or event.training_id is None or registration.member_id is None:
        return
    if not rules.qualifies(session_ids, repo.attended(session, registration.id), registration.passed):
        return
    training = catalogue.get_training_or_raise(session, event.training_id)
    grant = members_repo.get_grant(session, registration.member_id, training.id)
    if grant is not None and grant.granted_at >= event.starts_at:
        return
    members.record_training(
        session, registration.member_id, training.id, training.valid_days, now, granted_by=actor.id
    )
    notify(
        session,
        registration.member_id,
        "training_granted",
        message(
            "You completed {event}: you now hold the training '{training}'",
            event=event_name(event),
            training=Name(training.name, training.name_en or None),
        ),
        now=now,
    )
