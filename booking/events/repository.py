"""Every query of the events: the event row that orders its registrations, seats, waitlists, attendance."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, func, select

from booking.models import Attendance, Event, EventSession, EventStatus, Registration, RegistrationStatus


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


_event = _table(Event)


def get_event(session: Session, event_id: str) -> Event | None:
    return session.get(Event, event_id)


def lock_event(session: Session, event_id: str) -> Event | None:
    """The event, its row locked until the transaction ends (PostgreSQL): registrations, cancellations
    and promotions of one event queue here, so seats and waitlist places are given one at a time.
    SQLite needs no row lock: every writing transaction there holds the database's write lock."""
    query = select(Event).where(Event.id == event_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).first()


def take_seat(session: Session, event: Event) -> bool:
    """Seat one more registrant if a seat is left; False when the event is full.

    One conditional UPDATE: even without the row lock, the database never counts past the capacity
    (and the CHECK on the table refuses it)."""
    taken = session.connection().execute(
        _event.update()
        .where(_event.c.id == event.id, _event.c.registered < _event.c.capacity)
        .values(registered=_event.c.registered + 1)
    )
    if taken.rowcount != 1:
        return False
    set_committed_value(event, "registered", event.registered + 1)
    return True


def give_seat(session: Session, event: Event) -> None:
    """A registrant left their seat."""
    session.connection().execute(
        _event.update()
        .where(_event.c.id == event.id, _event.c.registered > 0)
        .values(registered=_event.c.registered - 1)
    )
    set_committed_value(event, "registered", max(0, event.registered - 1))


def clear_seats(session: Session, event: Event) -> None:
    session.connection().execute(_event.update().where(_event.c.id == event.id).values(registered=0))
    set_committed_value(event, "registered", 0)


def next_position(session: Session, event_id: str) -> int:
    """The waitlist place after every one given so far (places only grow; gaps are harmless)."""
    last = session.exec(
        select(func.max(Registration.position)).where(Registration.event_id == event_id)
    ).one()
    return int(last or 0) + 1


def first_waiter(session: Session, event_id: str) -> Registration | None:
    return session.exec(
        select(Registration)
        .where(Registration.event_id == event_id, Registration.status == RegistrationStatus.waitlisted)
        .order_by(col(Registration.position))
        .limit(1)
    ).first()


def waiting_ahead(session: Session, registration: Registration) -> int:
    """How many waitlisted registrants of the event came before this one."""
    return int(
        session.exec(
            select(func.count()).where(
                Registration.event_id == registration.event_id,
                Registration.status == RegistrationStatus.waitlisted,
                col(Registration.position) < (registration.position or 0),
            )
        ).one()
    )


def waitlisted_counts(session: Session, event_ids: Collection[str]) -> dict[str, int]:
    if not event_ids:
        return {}
    rows = session.exec(
        select(Registration.event_id, func.count())
        .where(
            col(Registration.event_id).in_(list(event_ids)),
            Registration.status == RegistrationStatus.waitlisted,
        )
        .group_by(col(Registration.event_id))
    ).all()
    return {event_id: int(count) for event_id, count in rows}


def live_registration_of_member(session: Session, event_id: str, member_id: str) -> Registration | None:
    return session.exec(
        select(Registration).where(
            Registration.event_id == event_id,
            Registration.member_id == member_id,
            Registration.status != RegistrationStatus.cancelled,
        )
    ).first()


def live_registration_of_guest(session: Session, event_id: str, email: str) -> Registration | None:
    return session.exec(
        select(Registration).where(
            Registration.event_id == event_id,
            col(Registration.member_id).is_(None),
            func.lower(Registration.email) == email.lower(),
            Registration.status != RegistrationStatus.cancelled,
        )
    ).first()


def get_registration(session: Session, registration_id: str) -> Registration | None:
    return session.get(Registration, registration_id)


def registration_by_code(session: Session, code: str) -> Registration | None:
    return session.exec(select(Registration).where(Registration.code == code)).first()


def code_taken(session: Session, code: str) -> bool:
    return session.exec(select(Registration.id).where(Registration.code == code)).first() is not None


def registrations(
    session: Session, event_id: str, statuses: Collection[RegistrationStatus] | None = None
) -> Sequence[Registration]:
    """The event's registrations: seated first (by arrival), then the waitlist in order."""
    query = select(Registration).where(Registration.event_id == event_id)
    if statuses is not None:
        query = query.where(col(Registration.status).in_(list(statuses)))
    return session.exec(
        query.order_by(col(Registration.status), col(Registration.position), col(Registration.created_at))
    ).all()


def member_registrations(session: Session, member_id: str) -> Sequence[Registration]:
    return session.exec(
        select(Registration)
        .where(Registration.member_id == member_id, Registration.status != RegistrationStatus.cancelled)
        .order_by(col(Registration.created_at).desc())
    ).all()


def sessions_of(session: Session, event_ids: Collection[str]) -> dict[str, list[EventSession]]:
    """Each event's sessions in time order."""
    found: dict[str, list[EventSession]] = {event_id: [] for event_id in event_ids}
    if not event_ids:
        return found
    for row in session.exec(
        select(EventSession)
        .where(col(EventSession.event_id).in_(list(event_ids)))
        .order_by(col(EventSession.start_at))
    ).all():
        found[row.event_id].append(row)
    return found


def attendance_of(session: Session, event_id: str) -> dict[str, set[str]]:
    """The sessions each registration of the event attended."""
    rows = session.exec(
        select(Attendance.registration_id, Attendance.session_id)
        .join(EventSession, col(EventSession.id) == col(Attendance.session_id))
        .where(EventSession.event_id == event_id)
    ).all()
    found: dict[str, set[str]] = {}
    for registration_id, session_id in rows:
        found.setdefault(registration_id, set()).add(session_id)
    return found


def attended(session: Session, registration_id: str) -> set[str]:
    rows = session.exec(
        select(Attendance.session_id).where(Attendance.registration_id == registration_id)
    ).all()
    return set(rows)


def has_attended(session: Session, registration_id: str, session_id: str) -> bool:
    return session.get(Attendance, (registration_id, session_id)) is not None


def events_between(
    session: Session,
    *,
    site_ids: Collection[str] | None,
    start: datetime | None,
    end: datetime | None,
    public_only: bool,
    include_cancelled: bool = True,
    limit: int = 500,
) -> Sequence[Event]:
    """Events touching [start, end), soonest first."""
    query = select(Event)
    if site_ids is not None:
        query = query.where(col(Event.site_id).in_(list(site_ids)))
    if start is not None:
        query = query.where(col(Event.ends_at) > start)
    if end is not None:
        query = query.where(col(Event.starts_at) < end)
    if public_only:
        query = query.where(col(Event.public).is_(True))
    if not include_cancelled:
        query = query.where(Event.status == EventStatus.scheduled)
    return session.exec(query.order_by(col(Event.starts_at), col(Event.id)).limit(limit)).all()


def sessions_due_for_reminder(
    session: Session, now: datetime, until: datetime, limit: int = 200
) -> list[tuple[EventSession, Event]]:
    """Sessions of scheduled events starting in (now, until] whose registrants were not reminded."""
    rows = session.exec(
        select(EventSession, Event)
        .join(Event, col(Event.id) == col(EventSession.event_id))
        .where(
            Event.status == EventStatus.scheduled,
            col(EventSession.start_at) > now,
            col(EventSession.start_at) <= until,
            col(EventSession.reminded_at).is_(None),
        )
        .order_by(col(EventSession.start_at))
        .limit(limit)
    ).all()
    return [(sitting, event) for sitting, event in rows]
