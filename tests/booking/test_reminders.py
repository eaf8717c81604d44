"""Reminders before the start (SQLite and PostgreSQL): once per booking and per event session, none
for what was booked or registered inside the window, guests by e-mail."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from booking.bookings import service as bookings
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.members.service import load_actor
from booking.models import Delivery, Notification, ResourceKind, Role, Site
from booking.schemas import EventCreate, RegistrationCreate
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_resource

HOUR = timedelta(minutes=60)


def _kinds(session: Session, member_id: str) -> list[str]:
    return [
        n.kind
        for n in session.exec(
            select(Notification).where(Notification.member_id == member_id).order_by(col(Notification.id))
        )
    ]


def test_a_booking_is_reminded_once_and_not_if_made_inside_the_window(session: Session, site: Site) -> None:
    room = make_resource(session, site, name="Phòng họp", kind=ResourceKind.room, quota_group=None)
    early, late = make_member(session), make_member(session)
    made_early = bookings.book(
        session, actor(session, early), ask(room.id, "2027-03-01 13:00", "2027-03-01 14:00"), NOW
    )
    soon = NOW + timedelta(hours=3, minutes=30)  # 12:30: 13:00 is within the hour
    # Booked at 13:15 for 14:00: inside its reminder window already.
    bookings.book(
        session,
        actor(session, late),
        ask(room.id, "2027-03-01 14:00", "2027-03-01 15:00"),
        at("2027-03-01 13:15"),
    )
    assert bookings.send_reminders(session, NOW, HOUR) == 0  # nothing within the hour yet
    assert bookings.send_reminders(session, soon, HOUR) == 1
    assert bookings.send_reminders(session, soon + timedelta(minutes=1), HOUR) == 0
    assert _kinds(session, early.id) == ["confirmed", "reminder"]
    reminder = session.exec(
        select(Notification).where(Notification.member_id == early.id, Notification.kind == "reminder")
    ).one()
    assert made_early.code in reminder.message
    # The 14:00 booking was made at 13:00, inside its window: no reminder, even when it comes near.
    assert bookings.send_reminders(session, at("2027-03-01 13:30"), HOUR) == 0
    assert _kinds(session, late.id) == ["confirmed"]


def test_event_sessions_remind_their_registrants_members_and_guests(session: Session, site: Site) -> None:
    room = make_resource(session, site, name="Hội trường", kind=ResourceKind.training_room, quota_group=None)
    manager = make_member(session, role=Role.manager, manages=(site,))
    data = EventCreate.model_validate(
        {
            "site": site.id,
            "kind": "workshop",
            "title": "In 3D",
            "capacity": 5,
            "sessions": [
                {"resource_id": room.id, "start": at("2027-03-02 18:00"), "end": at("2027-03-02 20:00")}
            ],
        }
    )
    event = events.create_event(session, load_actor(session, manager), data, NOW)
    member, latecomer = make_member(session), make_member(session)
    event_registrations.register(session, load_actor(session, member), event.id, RegistrationCreate(), NOW)
    event_registrations.register(
        session, None, event.id, RegistrationCreate(name="Khách", email="khach@example.vn"), NOW
    )
    event_registrations.register(
        session, load_actor(session, latecomer), event.id, RegistrationCreate(), at("2027-03-02 17:30")
    )
    before = len(session.exec(select(Delivery)).all())
    assert event_registrations.send_reminders(session, at("2027-03-02 17:10"), HOUR) == 2
    assert event_registrations.send_reminders(session, at("2027-03-02 17:40"), HOUR) == 0
    assert _kinds(session, member.id) == ["event_registered", "reminder"]
    assert _kinds(session, latecomer.id) == ["event_registered"]
    queued = session.exec(select(Delivery)).all()
    assert len(queued) == before + 2
    assert any(d.to_address == "khach@example.vn" and d.kind == "reminder" for d in queued)


def test_managers_are_asked_to_approve_and_members_warned_of_expiring_trainings(
    session: Session, site: Site
) -> None:
    from booking import accounts
    from booking.members import service as members_service
    from tests.factories import make_training

    room = make_resource(
        session,
        site,
        name="Phòng STEM",
        kind=ResourceKind.stem_space,
        requires_approval=True,
        quota_group=None,
    )
    manager = make_member(session, role=Role.manager, manages=(site,))
    member = make_member(session, name="Lê Quang Minh")
    bookings.book(session, actor(session, member), ask(room.id, "2027-03-02 09:00", "2027-03-02 10:00"), NOW)
    assert _kinds(session, member.id) == ["pending"]
    assert _kinds(session, manager.id) == ["approval_needed"]
    asked = session.exec(select(Notification).where(Notification.member_id == manager.id)).one()
    assert "Lê Quang Minh asks to book Phòng STEM" in asked.message

    training = make_training(session, valid_days=30)
    members_service.record_training(session, member.id, training.id, 30, NOW, granted_by=None)
    assert accounts.warn_expiring_trainings(session, NOW + timedelta(days=10)) == 0  # 20 days left
    assert accounts.warn_expiring_trainings(session, NOW + timedelta(days=17)) == 1  # 13 days left
    assert accounts.warn_expiring_trainings(session, NOW + timedelta(days=18)) == 0  # told once
    assert _kinds(session, member.id) == ["pending", "training_expiring"]
    # Renewed: the next expiry is announced again in its time.
    members_service.record_training(
        session, member.id, training.id, 30, NOW + timedelta(days=20), granted_by=None
    )
    assert accounts.warn_expiring_trainings(session, NOW + timedelta(days=37)) == 1
