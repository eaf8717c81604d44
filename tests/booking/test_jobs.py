"""The booking domain's scheduled job on a database of its own, with real commits."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking import jobs
from booking.bookings import service as bookings
from booking.models import Booking, BookingStatus, ResourceKind, WaitlistEntry, WaitlistStatus
from booking.security import new_id
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_resource, make_site


class TestReleaseNoShows:
    def test_no_shows_are_released_ended_bookings_complete_and_stale_waiters_expire(
        self, fresh_engine: Engine
    ) -> None:
        with Session(fresh_engine, expire_on_commit=False) as session:
            room = make_resource(session, make_site(session), kind=ResourceKind.room, quota_group=None)
            member = actor(session, make_member(session))
            absent = bookings.book(session, member, ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"), NOW)
            present = bookings.book(
                session, member, ask(room.id, "2027-03-01 09:00", "2027-03-01 10:00"), NOW
            )
            bookings.check_in(session, member, present.id, NOW)
            waiter = WaitlistEntry(
                id=new_id(),
                resource_id=room.id,
                member_id=member.id,
                start_at=at("2027-03-01 10:00"),
                end_at=at("2027-03-01 11:00"),
                status=WaitlistStatus.waiting,
                created_at=NOW,
            )
            session.add(waiter)
            session.commit()

        assert jobs.release_no_shows(fresh_engine, at("2027-03-01 10:16"), timedelta(minutes=15)) == 1

        with Session(fresh_engine) as session:
            assert session.get(Booking, absent.id).status is BookingStatus.no_show  # type: ignore[union-attr]
            assert session.get(Booking, present.id).status is BookingStatus.completed  # type: ignore[union-attr]
            assert session.get(WaitlistEntry, waiter.id).status is WaitlistStatus.expired  # type: ignore[union-attr]

    def test_a_second_run_changes_nothing(self, fresh_engine: Engine) -> None:
        with Session(fresh_engine, expire_on_commit=False) as session:
            room = make_resource(session, make_site(session), kind=ResourceKind.room, quota_group=None)
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"),
                NOW,
            )
            session.commit()
        assert jobs.release_no_shows(fresh_engine, at("2027-03-01 10:16"), timedelta(minutes=15)) == 1
        assert jobs.release_no_shows(fresh_engine, at("2027-03-01 10:17"), timedelta(minutes=15)) == 0
