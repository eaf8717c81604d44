"""Moving a booking and a series, and cancelling with a reason, on a real database (both back ends)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from booking.bookings import changes, closures
from booking.bookings import service as bookings
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted, QuotaExceeded
from booking.ledger import service as ledger
from booking.members.actors import Actor, MemberInfo
from booking.models import (
    Booking,
    BookingStatus,
    Closure,
    Notification,
    ResourceKind,
    Role,
    Site,
    WaitlistEntry,
)
from booking.schemas import BookingUpdate, ClosureCreate, SeriesUpdate, WaitlistCreate
from booking.series import service as series
from booking.waitlist import service as waitlist
from tests.booking.helpers import ask, count_rows
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_plan, make_resource, quota


def change(**values: object) -> BookingUpdate:
    """A move request; local times in Hồ Chí Minh City ('2027-03-02 10:00') become instants."""
    return BookingUpdate.model_validate(
        {k: at(v) if k in ("start", "end") and isinstance(v, str) else v for k, v in values.items()}
    )


def stored(session: Session, booking_id: str) -> Booking:
    session.expire_all()
    found = session.get(Booking, booking_id)
    assert found is not None
    return found


class TestMove:
    def test_moves_to_a_free_time_keeping_id_and_code(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        code = booking.code
        moved = changes.move(session, who, booking.id, change(start="2027-03-02 14:00"), NOW)
        assert (moved.id, moved.code) == (booking.id, code)
        assert (moved.start_at, moved.end_at) == (at("2027-03-02 14:00"), at("2027-03-02 15:00"))
        assert moved.status is BookingStatus.confirmed
        # The old slot is free for someone else.
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            NOW,
        )

    def test_may_overlap_its_own_old_slot(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, buffer_minutes=15)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        moved = changes.move(
            session, who, booking.id, change(start="2027-03-02 10:30", end="2027-03-02 12:00"), NOW
        )
        assert stored(session, moved.id).end_at == at("2027-03-02 12:00")

    def test_refuses_a_taken_slot_and_keeps_the_old_one(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            NOW,
        )
        with pytest.raises(Conflict, match=r"Laser 1 is booked .*14:00"), session.begin_nested():
            changes.move(session, who, booking.id, change(start="2027-03-02 14:30"), NOW)
        kept = stored(session, booking.id)
        assert (kept.start_at, kept.status) == (at("2027-03-02 10:00"), BookingStatus.confirmed)

    def test_moves_to_another_resource_of_the_same_kind(self, session: Session, site: Site) -> None:
        one = make_resource(session, site, name="Laser 1")
        two = make_resource(session, site, name="Laser 2")
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(one.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        moved = changes.move(session, who, booking.id, change(resource_id=two.id), NOW)
        assert (moved.resource_id, moved.start_at) == (two.id, at("2027-03-02 10:00"))

    def test_refuses_a_resource_of_another_kind(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        room = make_resource(session, site, name="Room A", kind=ResourceKind.room, quota_group=None)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        with pytest.raises(InvalidRequest, match="Laser 1 and Room A are not the same kind of place"):
            changes.move(session, who, booking.id, change(resource_id=room.id), NOW)
        assert stored(session, booking.id).resource_id == laser.id

    def test_quota_counts_the_old_time_as_given_back(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=2)))
        who = actor(session, member)
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 12:00"), NOW)
        # The full two hours again, at another time, fit only because the old two are given back.
        changes.move(session, who, booking.id, change(start="2027-03-03 10:00"), NOW)
        used = ledger.my_quotas(session, MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0]
        assert used.booked_hours == 2

    def test_quota_still_refuses_a_longer_booking(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=2)))
        who = actor(session, member)
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 12:00"), NOW)
        with pytest.raises(QuotaExceeded), session.begin_nested():
            changes.move(session, who, booking.id, change(end="2027-03-02 13:00"), NOW)
        assert stored(session, booking.id).end_at == at("2027-03-02 12:00")
        used = ledger.my_quotas(session, MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0]
        assert used.booked_hours == 2

    def test_serves_the_waitlist_of_the_freed_slot(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        waiter = make_member(session)
        waitlist.join(
            session,
            actor(session, waiter),
            WaitlistCreate(resource_id=laser.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00")),
            NOW,
        )
        changes.move(session, who, booking.id, change(start="2027-03-02 15:00"), NOW)
        won = session.exec(select(Booking).where(Booking.member_id == waiter.id)).one()
        assert won.start_at == at("2027-03-02 10:00")
        assert session.exec(select(WaitlistEntry)).one().status.value == "booked"

    def test_a_begun_booking_cannot_move(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        with pytest.raises(InvalidRequest, match="has begun; it can no longer be moved"):
            changes.move(session, who, booking.id, change(start="2027-03-02 15:00"), at("2027-03-02 10:05"))

    def test_a_cancelled_booking_cannot_move(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        bookings.cancel(session, who, booking.id, NOW)
        with pytest.raises(
            InvalidRequest, match=r"is cancelled; only a booking that has not begun can be moved"
        ):
            changes.move(session, who, booking.id, change(start="2027-03-02 15:00"), NOW)

    def test_another_member_cannot_see_it(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        booking = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            NOW,
        )
        with pytest.raises(NotFound):
            changes.move(
                session,
                actor(session, make_member(session)),
                booking.id,
                change(start="2027-03-02 15:00"),
                NOW,
            )
        assert stored(session, booking.id).start_at == at("2027-03-02 10:00")

    def test_a_move_needs_approval_again_where_new_bookings_do(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, requires_approval=True, quota_group=None)
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        member = make_member(session)
        booking = bookings.book(
            session, actor(session, member), ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        bookings.approve(session, manager, booking.id, NOW)
        moved = changes.move(
            session, actor(session, member), booking.id, change(start="2027-03-02 14:00"), NOW
        )
        assert moved.status is BookingStatus.pending

    def test_a_manager_moves_it_and_the_member_is_told(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        member = make_member(session)
        booking = bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        changes.move(session, manager, booking.id, change(start="2027-03-02 16:00"), NOW)
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
        assert "moved your booking of Laser 1" in told.message
        assert "16:00" in told.message


class TestOnBehalf:
    def test_a_manager_books_for_a_member_charged_to_them(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        manager_member = make_member(session, role=Role.manager, manages=(site,))
        member = make_member(session, plan=make_plan(session, quota(max_hours=4)))
        booking = bookings.book(
            session,
            actor(session, manager_member),
            ask(laser.id, "2027-03-02 10:00", "2027-03-02 12:00", member=member.id),
            NOW,
        )
        assert (booking.member_id, booking.booked_by) == (member.id, manager_member.id)
        used = ledger.my_quotas(session, MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0]
        assert used.booked_hours == 2

    def test_a_member_booking_for_themselves_has_no_booked_by(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        assert booking.booked_by is None

    def test_a_member_cannot_book_for_another(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        other = make_member(session)
        with pytest.raises(NotPermitted, match="only the site's managers and its kiosk"):
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00", member=other.id),
                NOW,
            )
        assert count_rows(session, Booking) == 0


class TestCancelWithReason:
    def test_the_member_is_told_the_managers_reason(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        member = make_member(session)
        booking = bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        bookings.cancel(session, manager, booking.id, NOW, reason="the laser tube is being replaced")
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
        assert "cancelled your booking of Laser 1" in told.message
        assert "the laser tube is being replaced" in told.message


def weekly(session: Session, site: Site, count: int = 3) -> tuple[series.SeriesResult, Actor]:
    room = make_resource(session, site, kind=ResourceKind.room, name="Room A", quota_group=None)
    who = actor(session, make_member(session))
    made = series.book_series(
        session,
        who,
        ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00", rrule=f"FREQ=WEEKLY;COUNT={count}"),
        NOW,
    )
    return made, who


class TestMoveSeries:
    def test_moves_every_occurrence_to_a_new_time(self, session: Session, site: Site) -> None:
        made, who = weekly(session, site)
        result = series.move_series(
            session, who, made.series.id, SeriesUpdate(start_time="14:00", end_time="15:30"), NOW
        )
        assert [b.start_at for b in result.moved] == [
            at("2027-03-02 14:00"),
            at("2027-03-09 14:00"),
            at("2027-03-16 14:00"),
        ]
        assert all(
            b.end_at - b.start_at == at("2027-03-02 15:30") - at("2027-03-02 14:00") for b in result.moved
        )
        assert result.skipped == []

    def test_moves_to_another_weekday(self, session: Session, site: Site) -> None:
        made, who = weekly(session, site)  # Tuesdays
        result = series.move_series(session, who, made.series.id, SeriesUpdate(weekday=3), NOW)
        assert [b.start_at for b in result.moved] == [
            at("2027-03-04 10:00"),
            at("2027-03-11 10:00"),
            at("2027-03-18 10:00"),
        ]

    def test_refuses_all_listing_the_taken_dates(self, session: Session, site: Site) -> None:
        made, who = weekly(session, site)
        room_id = made.bookings[0].resource_id
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room_id, "2027-03-09 14:00", "2027-03-09 15:00"),
            NOW,
        )
        with (
            pytest.raises(Conflict, match=r"1 of 3 dates cannot be booked — .*09/03/2027"),
            session.begin_nested(),
        ):
            series.move_series(
                session, who, made.series.id, SeriesUpdate(start_time="14:00", end_time="15:00"), NOW
            )
        assert sorted(stored(session, b.id).start_at for b in made.bookings) == [
            at("2027-03-02 10:00"),
            at("2027-03-09 10:00"),
            at("2027-03-16 10:00"),
        ]

    def test_skip_conflicts_moves_the_others(self, session: Session, site: Site) -> None:
        made, who = weekly(session, site)
        room_id = made.bookings[0].resource_id
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room_id, "2027-03-09 14:00", "2027-03-09 15:00"),
            NOW,
        )
        result = series.move_series(
            session,
            who,
            made.series.id,
            SeriesUpdate(start_time="14:00", end_time="15:00", skip_conflicts=True),
            NOW,
        )
        assert len(result.moved) == 2
        assert [s.start for s in result.skipped] == [at("2027-03-09 14:00")]
        assert stored(session, made.bookings[1].id).start_at == at("2027-03-09 10:00")

    def test_one_occurrence_moves_alone(self, session: Session, site: Site) -> None:
        made, who = weekly(session, site)
        second = made.bookings[1]
        changes.move(session, who, second.id, change(start="2027-03-10 10:00"), NOW)
        starts = sorted(stored(session, b.id).start_at for b in made.bookings)
        assert starts == [at("2027-03-02 10:00"), at("2027-03-10 10:00"), at("2027-03-16 10:00")]

    def test_nothing_to_change_is_refused(self, session: Session, site: Site) -> None:
        made, who = weekly(session, site)
        with pytest.raises(InvalidRequest, match="say what to change"):
            series.move_series(session, who, made.series.id, SeriesUpdate(), NOW)


class TestCloseSite:
    def _closure(self, on_bookings: str = "keep") -> ClosureCreate:
        return ClosureCreate.model_validate(
            {
                "start": at("2027-03-02 00:00"),
                "end": at("2027-03-03 00:00"),
                "reason": "power works",
                "on_bookings": on_bookings,
            }
        )

    def test_lists_the_bookings_a_closure_would_hit(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        who = actor(session, make_member(session))
        inside = bookings.book(session, who, ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        bookings.book(session, who, ask(room.id, "2027-03-03 10:00", "2027-03-03 11:00"), NOW)
        hit = closures.bookings_hit(
            session, manager, site.id, at("2027-03-02 00:00"), at("2027-03-03 00:00"), NOW
        )
        assert [b.id for b in hit] == [inside.id]
        assert count_rows(session, Closure) == 0

    def test_cancels_them_and_tells_the_members_why(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None, name="Room A")
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        member = make_member(session)
        booking = bookings.book(
            session, actor(session, member), ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        outcome = closures.close_site(session, manager, site.id, self._closure("cancel"), NOW)
        assert [b.id for b in outcome.cancelled] == [booking.id]
        assert stored(session, booking.id).status is BookingStatus.cancelled
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
        assert "cancelled your booking of Room A" in told.message
        assert told.message.endswith(": power works")

    def test_keeps_them_and_tells_the_members(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None, name="Room A")
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        member = make_member(session)
        booking = bookings.book(
            session, actor(session, member), ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        outcome = closures.close_site(session, manager, site.id, self._closure(), NOW)
        assert [b.id for b in outcome.kept] == [booking.id]
        assert stored(session, booking.id).status is BookingStatus.confirmed
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
        assert "your booking of Room A" in told.message
        assert "stands" in told.message
        assert count_rows(session, Closure) == 1

    def test_only_the_sites_managers(self, session: Session, site: Site) -> None:
        with pytest.raises(NotPermitted, match="only the site's managers can close it"):
            closures.close_site(session, actor(session, make_member(session)), site.id, self._closure(), NOW)
        assert count_rows(session, Closure) == 0
