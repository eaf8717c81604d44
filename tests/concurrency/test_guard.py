"""The database itself refuses overlaps: the exclusion constraint (PostgreSQL), the triggers (SQLite)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from booking.bookings import service
from booking.errors import Conflict
from booking.members.service import load_actor
from booking.models import Booking, BookingStatus, Member, Resource, ResourceKind
from booking.schemas import BookingCreate
from tests.conftest import NOW
from tests.factories import at, booking_row, make_member, make_resource, make_site
from tests.words import en_slot

START = at("2027-03-02 10:00")


def _row(resource: Resource, member: Member, start: datetime, minutes: int, **extra: object) -> Booking:
    return Booking.model_validate(
        booking_row(resource, member, start, start + timedelta(minutes=minutes), NOW, **extra)
    )


def _refused(session: Session, booking: Booking) -> None:
    savepoint = session.begin_nested()
    session.add(booking)
    with pytest.raises(IntegrityError):
        session.flush()
    savepoint.rollback()


class TestOverlapGuard:
    def test_refuses_an_overlapping_row_written_past_the_service(self, session: Session) -> None:
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        session.add(_row(resource, member, START, 60))
        session.flush()
        _refused(session, _row(resource, member, START + timedelta(minutes=30), 60))

    def test_buffer_is_part_of_the_guarded_span(self, session: Session) -> None:
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        session.add(_row(resource, member, START, 60, block_end=START + timedelta(minutes=75)))
        session.flush()
        _refused(session, _row(resource, member, START + timedelta(minutes=60), 30))

    def test_inactive_rows_and_pools_are_not_guarded(self, session: Session) -> None:
        resource = make_resource(session, make_site(session))
        pool = make_resource(session, make_site(session), kind=ResourceKind.desk_pool, capacity=4)
        member = make_member(session)
        session.add(_row(resource, member, START, 60))
        session.add(_row(resource, member, START, 60, status=BookingStatus.cancelled))
        session.add(_row(pool, member, START, 60, exclusive=False))
        session.add(_row(pool, member, START, 60, exclusive=False))
        session.flush()

    def test_an_overlap_is_refused_whatever_lies_before_and_between(self, session: Session) -> None:
        """The guard asks for the last active booking starting before the new end: a long history, a
        cancelled booking in between and a slot wrapping an earlier one do not hide an overlap."""
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        for day in range(1, 40):  # a history of earlier bookings, all still active
            session.add(_row(resource, member, START - timedelta(days=day), 60))
        session.add(_row(resource, member, START, 120))  # 10:00–12:00
        cancelled = _row(resource, member, START + timedelta(minutes=60), 120, status=BookingStatus.cancelled)
        session.add(cancelled)
        session.add(_row(resource, member, START + timedelta(hours=4), 60))  # 14:00–15:00
        session.flush()
        _refused(session, _row(resource, member, START + timedelta(minutes=90), 60))  # 11:30–12:30
        _refused(session, _row(resource, member, START - timedelta(minutes=30), 240))  # 09:30–13:30
        _refused(session, _row(resource, member, START + timedelta(minutes=119), 2))  # 11:59–12:01
        _refused(session, _row(resource, member, START + timedelta(minutes=150), 240))  # 12:30–16:30

    def test_a_slot_between_two_bookings_fits_exactly(self, session: Session) -> None:
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        session.add(_row(resource, member, START - timedelta(hours=1), 60))  # 09:00–10:00
        session.add(_row(resource, member, START + timedelta(hours=1), 60))  # 11:00–12:00
        session.flush()
        between = _row(resource, member, START, 60)
        session.add(between)
        session.flush()
        assert session.get(Booking, between.id) is not None

    def test_moving_a_booking_onto_another_is_refused(self, session: Session) -> None:
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        session.add(_row(resource, member, START, 60))
        later = _row(resource, member, START + timedelta(hours=3), 60)
        session.add(later)
        session.flush()
        savepoint = session.begin_nested()
        later.start_at = START + timedelta(minutes=30)
        later.end_at = later.block_end = START + timedelta(minutes=90)
        with pytest.raises(IntegrityError):
            session.flush()
        savepoint.rollback()

    def test_reactivating_into_an_overlap_is_refused(self, session: Session) -> None:
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        session.add(_row(resource, member, START, 60))
        cancelled = _row(resource, member, START, 60, status=BookingStatus.cancelled)
        session.add(cancelled)
        session.flush()
        savepoint = session.begin_nested()
        cancelled.status = BookingStatus.confirmed
        with pytest.raises(IntegrityError):
            session.flush()
        savepoint.rollback()


@pytest.mark.slow
class TestInterleavedTransactions:
    def test_the_second_writer_loses_with_a_named_conflict(self, fresh_engine: Engine) -> None:
        with Session(fresh_engine, expire_on_commit=False) as setup:
            resource = make_resource(setup, make_site(setup), name="Laser 1")
            first, second = make_member(setup), make_member(setup)
            setup.commit()
        ask = BookingCreate(resource_id=resource.id, start=START, end=START + timedelta(hours=1))
        inserted, outcome = threading.Event(), {}

        def second_writer() -> None:
            inserted.wait(timeout=30)
            try:
                with Session(fresh_engine, expire_on_commit=False) as session:
                    service.book(session, load_actor(session, second), ask, NOW)
                    session.commit()
                outcome["result"] = "booked"
            except Conflict as exc:
                outcome["result"] = exc.detail

        thread = threading.Thread(target=second_writer)
        thread.start()
        with Session(fresh_engine, expire_on_commit=False) as session:
            service.book(session, load_actor(session, first), ask, NOW)
            inserted.set()
            # Hold the first transaction open while the second one runs into it.
            thread.join(timeout=0.5)
            session.commit()
        thread.join(timeout=60)
        assert outcome == {"result": f"Laser 1 is booked {en_slot('2027-03-02 10:00–11:00')}"}
