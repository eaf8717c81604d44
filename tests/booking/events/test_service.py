"""Events on a real database (SQLite and PostgreSQL): rooms booked for sessions, seats and the
waitlist, attendance, and a training earned at a training event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from booking.bookings import service as bookings
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.events import attendance
from booking.events import reading as events_reading
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.members import repository as members_repo
from booking.models import (
    Booking,
    BookingStatus,
    Event,
    EventStatus,
    Member,
    Notification,
    RegistrationStatus,
    Resource,
    ResourceKind,
    Role,
    Site,
)
from booking.schemas import AttendanceCreate, EventCreate, RegistrationCreate
from tests.booking.helpers import ask, count_rows
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_plan, make_resource, make_site, make_training


@pytest.fixture
def room(session: Session, site: Site) -> Resource:
    return make_resource(
        session, site, name="Training room", kind=ResourceKind.training_room, quota_group=None
    )


@pytest.fixture
def manager(session: Session, site: Site) -> Member:
    return make_member(session, role=Role.manager, manages=(site,), name="Trần Văn Quản")


def announce(
    session: Session,
    manager: Member,
    site: Site,
    room: Resource,
    *sittings: tuple[str, str],
    capacity: int = 3,
    **extra: object,
) -> Event:
    data = EventCreate.model_validate(
        {
            "site": site.id,
            "kind": extra.pop("kind", "workshop"),
            "title": "Làm quen máy cắt laser",
            "title_en": "Laser cutting basics",
            "capacity": capacity,
            "sessions": [
                {"resource_id": room.id, "start": at(start), "end": at(end)} for start, end in sittings
            ],
            **extra,
        }
    )
    return events.create_event(session, actor(session, manager), data, NOW)


EVENING = ("2027-03-02 18:00", "2027-03-02 20:00")
NEXT_EVENING = ("2027-03-09 18:00", "2027-03-09 20:00")


class TestAnnounce:
    def test_each_session_books_its_room_for_the_event(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, NEXT_EVENING, EVENING)
        sittings = events_reading.sessions_of(session, event)
        assert [(s.start_at, s.end_at) for s in sittings] == [
            (at(EVENING[0]), at(EVENING[1])),
            (at(NEXT_EVENING[0]), at(NEXT_EVENING[1])),
        ]
        held = session.exec(select(Booking).where(Booking.event_id == event.id)).all()
        assert {b.id for b in held} == {s.booking_id for s in sittings}
        assert all(b.status is BookingStatus.confirmed and b.quota_group is None for b in held)
        assert (event.starts_at, event.ends_at) == (at(EVENING[0]), at(NEXT_EVENING[1]))
        member = make_member(session)
        with pytest.raises(Conflict, match="Training room"):
            bookings.book(
                session, actor(session, member), ask(room.id, "2027-03-02 19:00", "2027-03-02 20:00"), NOW
            )

    def test_a_taken_slot_is_refused_by_name(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        member = make_member(session)
        bookings.book(
            session, actor(session, member), ask(room.id, "2027-03-02 19:00", "2027-03-02 20:00"), NOW
        )
        with pytest.raises(Conflict, match="Training room"):
            announce(session, manager, site, room, EVENING)

    def test_a_weekly_class_from_an_rrule(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, EVENING, kind="class", rrule="FREQ=WEEKLY;COUNT=6")
        starts = [s.start_at for s in events_reading.sessions_of(session, event)]
        assert starts == [at(EVENING[0]) + timedelta(weeks=week) for week in range(6)]

    def test_only_the_sites_managers_announce(self, session: Session, site: Site, room: Resource) -> None:
        other = make_member(session, role=Role.manager, manages=(make_site(session),))
        with pytest.raises(NotPermitted, match="managers"):
            announce(session, other, site, room, EVENING)
        with pytest.raises(NotPermitted):
            announce(session, make_member(session), site, room, EVENING)

    def test_a_room_of_another_site_is_refused(self, session: Session, site: Site, manager: Member) -> None:
        elsewhere = make_resource(session, make_site(session), name="Far room", kind=ResourceKind.room)
        with pytest.raises(InvalidRequest, match="Far room is not at"):
            announce(session, manager, site, elsewhere, EVENING)

    def test_a_session_outside_opening_hours_is_refused(
        self, session: Session, room: Resource, manager: Member
    ) -> None:
        short = make_site(session, opening_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed")})
        manager_there = make_member(session, role=Role.manager, manages=(short,))
        hall = make_resource(session, short, name="Hall", kind=ResourceKind.room)
        with pytest.raises(InvalidRequest):
            announce(session, manager_there, short, hall, EVENING)

    def test_a_training_event_names_its_training(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        with pytest.raises(InvalidRequest, match="training_id"):
            announce(session, manager, site, room, EVENING, kind="training")

    def test_no_show_job_leaves_event_rooms_alone(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, EVENING)
        released = bookings.release_no_shows(session, at("2027-03-02 19:00"), timedelta(minutes=15))
        assert released == []
        assert session.exec(select(Booking).where(Booking.event_id == event.id)).one().status is (
            BookingStatus.confirmed
        )


class TestRegistration:
    def test_seats_then_the_waitlist_in_order(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, EVENING, capacity=2)
        people = [make_member(session) for _ in range(4)]
        got = [
            event_registrations.register(session, actor(session, p), event.id, RegistrationCreate(), NOW)
            for p in people
        ]
        assert [r.status for r in got] == [RegistrationStatus.registered] * 2 + [
            RegistrationStatus.waitlisted
        ] * 2
        assert [event_registrations.registration_read(session, r).position for r in got] == [None, None, 1, 2]
        assert event.registered == 2
        with pytest.raises(Conflict, match="already registered"):
            event_registrations.register(
                session, actor(session, people[0]), event.id, RegistrationCreate(), NOW
            )
        # A seat freed: the first waiter takes it and is told; the second moves up.
        event_registrations.cancel_registration(session, actor(session, people[1]), event.id, got[1].id, NOW)
        assert got[2].status is RegistrationStatus.registered
        assert event_registrations.registration_read(session, got[3]).position == 1
        told = session.exec(
            select(Notification).where(Notification.member_id == people[2].id).order_by(col(Notification.id))
        ).all()
        assert [n.kind for n in told] == ["event_registered", "event_promoted"]  # waitlisted, then seated
        assert got[2].code in told[0].message
        # A waiter who leaves frees no seat.
        event_registrations.cancel_registration(session, actor(session, people[3]), event.id, got[3].id, NOW)
        assert session.get(Event, event.id).registered == 2  # type: ignore[union-attr]

    def test_only_the_registrant_or_a_manager_cancels(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, EVENING)
        registration = event_registrations.register(
            session, actor(session, make_member(session)), event.id, RegistrationCreate(), NOW
        )
        with pytest.raises(NotPermitted):
            event_registrations.cancel_registration(
                session, actor(session, make_member(session)), event.id, registration.id, NOW
            )
        event_registrations.cancel_registration(
            session, actor(session, manager), event.id, registration.id, NOW
        )
        assert registration.status is RegistrationStatus.cancelled

    def test_guests_register_for_public_events_only(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, EVENING)
        guest = event_registrations.register(
            session, None, event.id, RegistrationCreate(name="Lê Minh", email="Minh@Example.org"), NOW
        )
        assert (guest.member_id, guest.email, guest.status) == (
            None,
            "minh@example.org",
            RegistrationStatus.registered,
        )
        with pytest.raises(Conflict, match="already registered"):
            event_registrations.register(
                session, None, event.id, RegistrationCreate(name="Lê Minh", email="minh@example.org"), NOW
            )
        with pytest.raises(InvalidRequest, match="not an e-mail address"):
            event_registrations.register(
                session, None, event.id, RegistrationCreate(name="X", email="not-mail"), NOW
            )
        with pytest.raises(InvalidRequest, match="give your name"):
            event_registrations.register(session, None, event.id, RegistrationCreate(email="a@b.vn"), NOW)
        private = announce(session, manager, site, room, NEXT_EVENING, public=False)
        with pytest.raises(NotFound):
            event_registrations.register(
                session, None, private.id, RegistrationCreate(name="X", email="x@b.vn"), NOW
            )

    def test_the_window_plan_and_training_required(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        plan = make_plan(session)
        training = make_training(session)
        event = announce(
            session,
            manager,
            site,
            room,
            EVENING,
            required_plan_id=plan.id,
            required_training_id=training.id,
            opens_at=NOW + timedelta(hours=1),
        )
        holder = make_member(session, plan=plan)
        with pytest.raises(NotPermitted, match="registration opens"):
            event_registrations.register(session, actor(session, holder), event.id, RegistrationCreate(), NOW)
        later = NOW + timedelta(hours=2)
        with pytest.raises(NotPermitted, match="plan"):
            event_registrations.register(
                session, actor(session, make_member(session)), event.id, RegistrationCreate(), later
            )
        with pytest.raises(NotPermitted, match="requires the training"):
            event_registrations.register(
                session, actor(session, holder), event.id, RegistrationCreate(), later
            )
        with pytest.raises(NotPermitted, match="registration closed"):
            event_registrations.register(
                session, actor(session, holder), event.id, RegistrationCreate(), at(EVENING[0])
            )

    def test_cancelling_the_event_frees_its_rooms_and_tells_registrants(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        event = announce(session, manager, site, room, EVENING)
        member = make_member(session)
        registration = event_registrations.register(
            session, actor(session, member), event.id, RegistrationCreate(), NOW
        )
        events.cancel_event(session, actor(session, manager), event.id, NOW)
        assert (event.status, event.registered, registration.status) == (
            EventStatus.cancelled,
            0,
            RegistrationStatus.cancelled,
        )
        kinds = [
            n.kind
            for n in session.exec(
                select(Notification).where(Notification.member_id == member.id).order_by(col(Notification.id))
            )
        ]
        assert kinds == ["event_registered", "event_cancelled"]
        booked = bookings.book(session, actor(session, member), ask(room.id, *EVENING), NOW)
        assert booked.status is BookingStatus.confirmed
        with pytest.raises(Conflict, match="cancelled"):
            event_registrations.register(
                session, actor(session, make_member(session)), event.id, RegistrationCreate(), NOW
            )


class TestAttendance:
    def test_a_training_event_grants_its_training_to_who_came_to_every_session(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        training = make_training(session, valid_days=365)
        event = announce(
            session, manager, site, room, EVENING, NEXT_EVENING, kind="training", training_id=training.id
        )
        member = make_member(session)
        registration = event_registrations.register(
            session, actor(session, member), event.id, RegistrationCreate(), NOW
        )
        boss = actor(session, manager)
        during_first = at("2027-03-02 18:10")
        attendance.record_attendance(
            session, boss, event.id, AttendanceCreate(code=registration.code.lower()), during_first
        )
        assert training.id not in members_repo.trainings_held(session, member.id)
        room_booking = session.exec(
            select(Booking).where(Booking.event_id == event.id).order_by(col(Booking.start_at))
        ).first()
        assert room_booking is not None
        assert room_booking.status is BookingStatus.checked_in
        # Twice for the same session changes nothing.
        attendance.record_attendance(
            session, boss, event.id, AttendanceCreate(code=registration.code), during_first
        )
        during_second = at("2027-03-09 17:30")
        attendance.record_attendance(
            session, boss, event.id, AttendanceCreate(registration_id=registration.id), during_second
        )
        held = members_repo.trainings_held(session, member.id)
        assert held[training.id] == during_second + timedelta(days=365)
        read = event_registrations.registration_read(session, registration)
        assert read.attended
        assert len(read.attended_sessions) == 2
        kinds = [
            n.kind
            for n in session.exec(
                select(Notification).where(Notification.member_id == member.id).order_by(col(Notification.id))
            )
        ]
        assert kinds == ["event_registered", "training_granted"]

    def test_the_instructor_passes_a_registrant(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        training = make_training(session)
        event = announce(
            session, manager, site, room, EVENING, NEXT_EVENING, kind="training", training_id=training.id
        )
        member = make_member(session)
        registration = event_registrations.register(
            session, actor(session, member), event.id, RegistrationCreate(), NOW
        )
        attendance.record_attendance(
            session,
            actor(session, manager),
            event.id,
            AttendanceCreate(registration_id=registration.id, passed=True),
            NOW,
        )
        assert training.id in members_repo.trainings_held(session, member.id)

    def test_refusals(self, session: Session, site: Site, room: Resource, manager: Member) -> None:
        event = announce(session, manager, site, room, EVENING, capacity=1)
        first = event_registrations.register(
            session, actor(session, make_member(session)), event.id, RegistrationCreate(), NOW
        )
        waiter = event_registrations.register(
            session, actor(session, make_member(session)), event.id, RegistrationCreate(), NOW
        )
        boss = actor(session, manager)
        with pytest.raises(InvalidRequest, match="no session"):
            attendance.record_attendance(session, boss, event.id, AttendanceCreate(code=first.code), NOW)
        during = at("2027-03-02 18:30")
        with pytest.raises(Conflict, match="waitlist"):
            attendance.record_attendance(session, boss, event.id, AttendanceCreate(code=waiter.code), during)
        with pytest.raises(NotFound, match="ZZZZ"):
            attendance.record_attendance(session, boss, event.id, AttendanceCreate(code="zzzz"), during)
        with pytest.raises(NotPermitted):
            attendance.record_attendance(
                session,
                actor(session, make_member(session)),
                event.id,
                AttendanceCreate(code=first.code),
                during,
            )
        kiosk = make_member(session, role=Role.kiosk, kiosk_site=site)
        with pytest.raises(NotPermitted, match="passed"):
            attendance.record_attendance(
                session,
                actor(session, kiosk),
                event.id,
                AttendanceCreate(code=first.code, passed=True),
                during,
            )
        attendance.record_attendance(
            session, actor(session, kiosk), event.id, AttendanceCreate(code=first.code), during
        )
        assert count_rows(session, Booking) >= 1


class TestChanges:
    def test_moving_sessions_moves_their_rooms_and_tells_registrants(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        from booking.schemas import EventUpdate

        event = announce(session, manager, site, room, EVENING, NEXT_EVENING)
        member = make_member(session)
        event_registrations.register(session, actor(session, member), event.id, RegistrationCreate(), NOW)
        # The first evening moves half an hour later (over where it was); the second stays.
        later = {"resource_id": room.id, "start": at("2027-03-02 18:30"), "end": at("2027-03-02 20:30")}
        kept = {"resource_id": room.id, "start": at(NEXT_EVENING[0]), "end": at(NEXT_EVENING[1])}
        events.update_event(
            session,
            actor(session, manager),
            event.id,
            EventUpdate.model_validate({"sessions": [later, kept]}),
            NOW,
        )
        starts = [s.start_at for s in events_reading.sessions_of(session, event)]
        assert starts == [at("2027-03-02 18:30"), at(NEXT_EVENING[0])]
        held = session.exec(
            select(Booking).where(
                Booking.event_id == event.id, col(Booking.status) == BookingStatus.confirmed
            )
        ).all()
        assert sorted(b.start_at for b in held) == starts
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id).order_by(col(Notification.id))
        ).all()
        assert [n.kind for n in told] == ["event_registered", "event_moved"]
        # The freed 18:00 half hour is bookable again.
        bookings.book(
            session, actor(session, member), ask(room.id, "2027-03-02 17:30", "2027-03-02 18:30"), NOW
        )

    def test_a_move_onto_a_taken_slot_changes_nothing(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        from booking.schemas import EventUpdate

        event = announce(session, manager, site, room, EVENING)
        member = make_member(session)
        bookings.book(
            session, actor(session, member), ask(room.id, "2027-03-04 18:00", "2027-03-04 19:00"), NOW
        )
        moved = {"resource_id": room.id, "start": at("2027-03-04 18:00"), "end": at("2027-03-04 20:00")}
        with pytest.raises(Conflict, match="Training room"):
            events.update_event(
                session,
                actor(session, manager),
                event.id,
                EventUpdate.model_validate({"sessions": [moved]}),
                NOW,
            )
        assert [s.start_at for s in events_reading.sessions_of(session, event)] == [at(EVENING[0])]

    def test_more_seats_seat_the_waiters_and_fewer_than_taken_are_refused(
        self, session: Session, site: Site, room: Resource, manager: Member
    ) -> None:
        from booking.schemas import EventUpdate

        event = announce(session, manager, site, room, EVENING, capacity=1)
        first, second = (
            event_registrations.register(
                session, actor(session, make_member(session)), event.id, RegistrationCreate(), NOW
            )
            for _ in range(2)
        )
        boss = actor(session, manager)
        events.update_event(session, boss, event.id, EventUpdate(capacity=2), NOW)
        assert second.status is RegistrationStatus.registered
        with pytest.raises(Conflict, match="2 people registered"):
            events.update_event(session, boss, event.id, EventUpdate(capacity=1), NOW)
        assert events.message_registrants(session, boss, event.id, "Mang theo laptop", NOW) == 2
        assert first.status is RegistrationStatus.registered
