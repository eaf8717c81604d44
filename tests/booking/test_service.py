"""Booking use cases on a real database (SQLite and PostgreSQL), each test rolled back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from booking import service
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted, QuotaExceeded
from booking.models import (
    Booking,
    BookingStatus,
    LedgerEntry,
    Notification,
    QuotaPeriod,
    ResourceKind,
    Role,
    Site,
    WaitlistStatus,
)
from booking.schemas import BookingCreate, ClosureCreate, WaitlistCreate
from tests.conftest import NOW
from tests.factories import (
    actor,
    at,
    grant,
    make_member,
    make_plan,
    make_resource,
    make_site,
    make_training,
    quota,
)


def _count(session: Session, model: type[Booking] | type[LedgerEntry]) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


def _ask(resource_id: str, start: str, end: str, **extra: object) -> BookingCreate:
    return BookingCreate.model_validate(
        {"resource_id": resource_id, "start": at(start), "end": at(end), **extra}
    )


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(session)


class TestBook:
    def test_books_a_free_slot_and_charges_the_ledger(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=4)))
        booking = service.book(
            session, actor(session, member), _ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:30"), NOW
        )
        assert booking.status is BookingStatus.confirmed
        assert booking.start_at == at("2027-03-02 10:00")
        assert len(booking.code) == 8
        ledger = session.exec(select(LedgerEntry).where(LedgerEntry.booking_id == booking.id)).one()
        assert ledger.seconds == 5400

    def test_refuses_overlap_naming_the_slot(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        first = make_member(session)
        service.book(
            session, actor(session, first), _ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"), NOW
        )
        other = make_member(session)
        before = _count(session, Booking), _count(session, LedgerEntry)
        with pytest.raises(Conflict) as caught:
            service.book(
                session, actor(session, other), _ask(laser.id, "2027-03-02 14:30", "2027-03-02 16:00"), NOW
            )
        assert caught.value.detail == "Laser 1 is booked 2027-03-02 14:00–15:00"
        assert (_count(session, Booking), _count(session, LedgerEntry)) == before

    def test_refuses_own_overlap_saying_so(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        member = make_member(session)
        service.book(
            session, actor(session, member), _ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"), NOW
        )
        with pytest.raises(Conflict, match=r"^you already booked Laser 1 2027-03-02 14:00–15:00$"):
            service.book(
                session, actor(session, member), _ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"), NOW
            )

    def test_rejects_overlap_with_buffer(self, session: Session, site: Site) -> None:
        cnc = make_resource(session, site, name="CNC", buffer_minutes=15, slot_minutes=15, min_minutes=15)
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(cnc.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            NOW,
        )
        with pytest.raises(Conflict) as caught:
            service.book(
                session,
                actor(session, make_member(session)),
                _ask(cnc.id, "2027-03-02 15:00", "2027-03-02 16:00"),
                NOW,
            )
        assert (
            caught.value.detail
            == "CNC is booked 2027-03-02 14:00–15:00, and it needs 15 min between bookings"
        )
        # Exactly the buffer apart, on both sides, is fine.
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(cnc.id, "2027-03-02 15:15", "2027-03-02 16:00"),
            NOW,
        )
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(cnc.id, "2027-03-02 12:45", "2027-03-02 13:45"),
            NOW,
        )

    def test_back_to_back_without_buffer(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            NOW,
        )
        booking = service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-02 15:00", "2027-03-02 16:00"),
            NOW,
        )
        assert booking.status is BookingStatus.confirmed

    def test_pool_seats_never_exceed_capacity(self, session: Session, site: Site) -> None:
        desks = make_resource(
            session, site, name="Desks", kind=ResourceKind.desk_pool, capacity=5, quota_group=None
        )
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(desks.id, "2027-03-02 09:00", "2027-03-02 12:00", seats=3),
            NOW,
        )
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(desks.id, "2027-03-02 11:00", "2027-03-02 13:00", seats=2),
            NOW,
        )
        with pytest.raises(Conflict) as caught:
            service.book(
                session,
                actor(session, make_member(session)),
                _ask(desks.id, "2027-03-02 10:00", "2027-03-02 11:30"),
                NOW,
            )
        assert (
            caught.value.detail
            == "Desks has 0 of 5 seats free at its busiest during 2027-03-02 10:00–11:30; 1 were asked for"
        )
        ok = service.book(
            session,
            actor(session, make_member(session)),
            _ask(desks.id, "2027-03-02 12:00", "2027-03-02 13:00", seats=3),
            NOW,
        )
        assert ok.seats == 3

    def test_requires_training(self, session: Session, site: Site) -> None:
        training = make_training(session)
        laser = make_resource(session, site, name="Laser 1", training=training)
        member = make_member(session)
        with pytest.raises(
            NotPermitted, match="Laser 1 requires the training 'Laser safety', which you do not hold"
        ):
            service.book(
                session, actor(session, member), _ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
            )
        grant(session, member, training, expires_at=NOW - timedelta(days=1))
        with pytest.raises(NotPermitted, match="yours expired on 2027-02-28"):
            service.book(
                session, actor(session, member), _ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
            )
        service.grant_training(session, None, member.id, training.id, NOW)
        assert service.book(
            session, actor(session, member), _ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )

    def test_quota_hours_per_week(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        member = make_member(session, plan=make_plan(session, quota(max_hours=4)))
        who = actor(session, member)
        service.book(session, who, _ask(laser.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW)
        service.book(session, who, _ask(laser.id, "2027-03-03 08:00", "2027-03-03 09:30"), NOW)
        before = _count(session, Booking)
        with pytest.raises(QuotaExceeded) as caught:
            service.book(session, who, _ask(laser.id, "2027-03-04 08:00", "2027-03-04 09:00"), NOW)
        assert caught.value.detail == (
            "your plan allows 4 h of laser per week; you have 3.5 h booked and asked for 1 h more"
        )
        assert _count(session, Booking) == before
        # The next ISO week (from Monday 8 March, local time) starts afresh.
        service.book(session, who, _ask(laser.id, "2027-03-08 08:00", "2027-03-08 10:00"), NOW)

    def test_quota_counts_and_future_bookings(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group="meeting-rooms")
        plan = make_plan(
            session,
            quota("meeting-rooms", QuotaPeriod.day, max_bookings=1),
            quota("meeting-rooms", QuotaPeriod.month, max_future_bookings=2),
        )
        who = actor(session, make_member(session, plan=plan))
        service.book(session, who, _ask(room.id, "2027-03-02 08:00", "2027-03-02 09:00"), NOW)
        with pytest.raises(QuotaExceeded, match="allows 1 bookings of meeting-rooms per day; you have 1"):
            service.book(session, who, _ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        service.book(session, who, _ask(room.id, "2027-03-03 08:00", "2027-03-03 09:00"), NOW)
        with pytest.raises(
            QuotaExceeded, match="allows 2 upcoming bookings of meeting-rooms at once; you have 2"
        ):
            service.book(session, who, _ask(room.id, "2027-03-04 08:00", "2027-03-04 09:00"), NOW)

    def test_cancel_refunds_the_quota(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session, plan=make_plan(session, quota(max_hours=2))))
        booking = service.book(session, who, _ask(laser.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW)
        service.cancel(session, who, booking.id, NOW)
        assert booking.status is BookingStatus.cancelled
        again = service.book(session, who, _ask(laser.id, "2027-03-02 12:00", "2027-03-02 14:00"), NOW)
        assert again.status is BookingStatus.confirmed
        assert service.my_quotas(session, who.member, NOW, "Asia/Ho_Chi_Minh")[0].booked_hours == 2

    def test_outside_opening_hours_and_closure(self, session: Session) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "17:00"]]})
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        manager = make_member(session, role=Role.manager, manages=(site,))
        who = actor(session, make_member(session))
        with pytest.raises(
            InvalidRequest, match="Test Center is open 08:00–17:00 on Tuesdays; 2027-03-02 16:30–17:30"
        ):
            service.book(session, who, _ask(room.id, "2027-03-02 16:30", "2027-03-02 17:30"), NOW)
        service.add_closure(
            session,
            actor(session, manager),
            site.id,
            ClosureCreate(start=at("2027-03-02 12:00"), end=at("2027-03-02 17:00"), reason="maintenance day"),
        )
        with pytest.raises(InvalidRequest, match=r"closed 2027-03-02 12:00–17:00 \(maintenance day\)"):
            service.book(session, who, _ask(room.id, "2027-03-02 13:00", "2027-03-02 14:00"), NOW)

    def test_refuses_tet(self, session: Session) -> None:
        site = make_site(session)
        room = make_resource(
            session, site, name="Room", kind=ResourceKind.room, quota_group=None, max_days_ahead=400
        )
        with pytest.raises(InvalidRequest, match=r"\(Lunar New Year\)"):
            service.book(
                session,
                actor(session, make_member(session)),
                _ask(room.id, "2028-01-26 09:00", "2028-01-26 10:00"),
                NOW,
            )

    def test_unknown_resource_is_not_found(self, session: Session) -> None:
        with pytest.raises(NotFound, match="there is no resource 'nope'"):
            service.book(
                session,
                actor(session, make_member(session)),
                _ask("nope", "2027-03-02 09:00", "2027-03-02 10:00"),
                NOW,
            )

    def test_member_cannot_book_for_another(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        other = make_member(session)
        with pytest.raises(NotPermitted, match="only the site's managers and its kiosk"):
            service.book(
                session,
                actor(session, make_member(session)),
                _ask(room.id, "2027-03-02 09:00", "2027-03-02 10:00", member=other.id),
                NOW,
            )


class TestApproval:
    def test_pending_then_confirmed_or_rejected(self, session: Session, site: Site) -> None:
        room = make_resource(
            session,
            site,
            name="STEM lab",
            kind=ResourceKind.stem_space,
            requires_approval=True,
            quota_group="classes",
        )
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        member = make_member(session, plan=make_plan(session, quota("classes", max_hours=3)))
        who = actor(session, member)
        first = service.book(session, who, _ask(room.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW)
        assert first.status is BookingStatus.pending
        with pytest.raises(Conflict):  # a pending booking holds the slot
            service.book(
                session,
                actor(session, make_member(session)),
                _ask(room.id, "2027-03-02 09:00", "2027-03-02 10:00"),
                NOW,
            )
        with pytest.raises(NotPermitted, match="only the site's managers approve"):
            service.approve(session, who, first.id, NOW)
        assert service.approve(session, manager, first.id, NOW).status is BookingStatus.confirmed
        second = service.book(session, who, _ask(room.id, "2027-03-03 08:00", "2027-03-03 09:00"), NOW)
        assert service.reject(session, manager, second.id, NOW, "class full").status is BookingStatus.rejected
        assert (
            service.my_quotas(session, service.MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0].booked_hours
            == 2
        )
        messages = session.exec(select(Notification.message).where(Notification.member_id == member.id)).all()
        assert any("was declined. class full" in m for m in messages)
        with pytest.raises(InvalidRequest, match="is confirmed, not awaiting a decision"):
            service.reject(session, manager, first.id, NOW)

    def test_managers_own_bookings_need_no_approval(self, session: Session, site: Site) -> None:
        room = make_resource(
            session, site, kind=ResourceKind.stem_space, requires_approval=True, quota_group=None
        )
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        assert (
            service.book(session, manager, _ask(room.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW).status
            is BookingStatus.confirmed
        )


class TestCheckIn:
    def test_window_and_kiosk(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        member = actor(session, make_member(session))
        kiosk = actor(session, make_member(session, role=Role.kiosk, kiosk_site=site))
        booking = service.book(session, member, _ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"), NOW)
        with pytest.raises(
            InvalidRequest,
            match="check-in for 2027-03-01 10:00–11:00 opens at 09:45, 15 min before the start",
        ):
            service.check_in(session, member, booking.id, NOW)
        checked = service.check_in_by_code(session, kiosk, booking.code.lower(), NOW + timedelta(minutes=50))
        assert checked.status is BookingStatus.checked_in
        assert service.check_in(session, member, booking.id, NOW + timedelta(minutes=55)) is checked

    def test_other_sites_kiosk_cannot_see(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        booking = service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"),
            NOW,
        )
        stranger = actor(session, make_member(session, role=Role.kiosk, kiosk_site=make_site(session)))
        with pytest.raises(NotFound, match=f"no booking has the code {booking.code}"):
            service.check_in_by_code(session, stranger, booking.code, NOW + timedelta(minutes=55))


class TestCancelAndRelease:
    def test_release_after_start_refunds_the_rest(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group="rooms")
        member = make_member(session, plan=make_plan(session, quota("rooms", max_hours=10)))
        who = actor(session, member)
        booking = service.book(session, who, _ask(room.id, "2027-03-01 10:00", "2027-03-01 13:00"), NOW)
        released = service.cancel(session, who, booking.id, at("2027-03-01 11:10"))
        assert released.status is BookingStatus.released
        assert released.end_at == at("2027-03-01 11:30")
        assert (
            service.my_quotas(session, service.MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0].booked_hours
            == 1.5
        )
        # The released rest is free again.
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-01 11:30", "2027-03-01 12:00"),
            at("2027-03-01 11:10"),
        )

    def test_other_member_cannot_cancel(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        booking = service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            NOW,
        )
        with pytest.raises(NotFound, match=f"there is no booking '{booking.id}'"):
            service.cancel(session, actor(session, make_member(session)), booking.id, NOW)
        assert session.get(Booking, booking.id).status is BookingStatus.confirmed  # type: ignore[union-attr]


class TestSeries:
    def test_strict_series_lists_every_conflict(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        other = actor(session, make_member(session))
        service.book(session, other, _ask(room.id, "2027-03-09 14:00", "2027-03-09 15:00"), NOW)
        service.book(session, other, _ask(room.id, "2027-03-23 14:30", "2027-03-23 15:30"), NOW)
        before = _count(session, Booking)
        with pytest.raises(Conflict) as caught:
            service.book_series(
                session,
                actor(session, make_member(session)),
                _ask(room.id, "2027-03-02 14:00", "2027-03-02 15:00", rrule="FREQ=WEEKLY;COUNT=4"),
                NOW,
            )
        assert caught.value.detail == (
            "2 of 4 dates cannot be booked — 2027-03-09 14:00–15:00: Room is booked 2027-03-09 14:00–15:00; "
            "2027-03-23 14:00–15:00: Room is booked 2027-03-23 14:30–15:30"
        )
        assert _count(session, Booking) == before

    def test_skip_conflicts_books_the_rest(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-09 14:00", "2027-03-09 15:00"),
            NOW,
        )
        who = actor(session, make_member(session))
        result = service.book_series(
            session,
            who,
            _ask(
                room.id,
                "2027-03-02 14:00",
                "2027-03-02 15:00",
                rrule="FREQ=WEEKLY;COUNT=4",
                skip_conflicts=True,
            ),
            NOW,
        )
        assert [b.start_at for b in result.bookings] == [
            at("2027-03-02 14:00"),
            at("2027-03-16 14:00"),
            at("2027-03-23 14:00"),
        ]
        assert [(s.start, s.reason) for s in result.skipped] == [
            (at("2027-03-09 14:00"), "Room is booked 2027-03-09 14:00–15:00")
        ]
        assert {b.series_id for b in result.bookings} == {result.series.id}
        # Cancel one occurrence, then the whole series.
        service.cancel(session, who, result.bookings[1].id, NOW)
        cancelled = service.cancel_series(session, who, result.series.id, NOW)
        assert len(cancelled) == 2
        assert {b.status for b in service.list_series_bookings(session, who, result.series.id)} == {
            BookingStatus.cancelled
        }

    def test_series_quota_is_cumulative(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(
            session,
            make_member(session, plan=make_plan(session, quota(period=QuotaPeriod.month, max_hours=3))),
        )
        result = service.book_series(
            session,
            who,
            _ask(
                laser.id,
                "2027-03-02 14:00",
                "2027-03-02 15:00",
                rrule="FREQ=WEEKLY;COUNT=5",
                skip_conflicts=True,
            ),
            NOW,
        )
        assert len(result.bookings) == 3
        assert all("your plan allows 3 h of laser per month" in s.reason for s in result.skipped)


class TestWaitlist:
    def test_first_eligible_waiter_gets_the_slot(self, session: Session, site: Site) -> None:
        training = make_training(session)
        laser = make_resource(session, site, name="Laser 1", training=training)
        holder = make_member(session)
        grant(session, holder, training)
        booking = service.book(
            session, actor(session, holder), _ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        first, second, third = (make_member(session) for _ in range(3))
        for member in (first, second, third):
            grant(session, member, training)
        ask = WaitlistCreate(resource_id=laser.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00"))
        entries = [
            service.join_waitlist(session, actor(session, m), ask, NOW + timedelta(seconds=i))
            for i, m in enumerate((first, second, third))
        ]
        assert [service.waitlist_read(session, e).position for e in entries] == [1, 2, 3]
        # The first waiter lost the training in the meantime: the second is next.
        service.revoke_training(
            session, actor(session, make_member(session, role=Role.admin)), first.id, training.id
        )
        service.cancel(session, actor(session, holder), booking.id, NOW)
        assert [e.status for e in entries] == [
            WaitlistStatus.waiting,
            WaitlistStatus.booked,
            WaitlistStatus.waiting,
        ]
        promoted = session.get(Booking, entries[1].booking_id)
        assert promoted is not None
        assert promoted.member_id == second.id
        notes = session.exec(select(Notification.message).where(Notification.member_id == second.id)).all()
        assert notes == ["A slot freed up: you are booked on Laser 1 2027-03-02 10:00–11:00"]

    def test_free_slot_is_not_waitlisted(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        with pytest.raises(InvalidRequest, match="Room is free 2027-03-02 10:00–11:00: book it instead"):
            service.join_waitlist(
                session,
                actor(session, make_member(session)),
                WaitlistCreate(resource_id=room.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00")),
                NOW,
            )


class TestNoShow:
    def test_unchecked_booking_is_released_after_grace(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        booking = service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-01 10:00", "2027-03-01 12:00"),
            NOW,
        )
        assert service.release_no_shows(session, at("2027-03-01 10:10"), timedelta(minutes=15)) == []
        released = service.release_no_shows(session, at("2027-03-01 10:16"), timedelta(minutes=15))
        assert [b.id for b in released] == [booking.id]
        assert booking.status is BookingStatus.no_show
        # The slot is free again for the rest of the time.
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(room.id, "2027-03-01 10:30", "2027-03-01 12:00"),
            at("2027-03-01 10:16"),
        )


class TestAvailability:
    def test_free_spans_skip_bookings_with_buffers(self, session: Session) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "12:00"]]})
        cnc = make_resource(session, site, buffer_minutes=15, slot_minutes=15, min_minutes=15)
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(cnc.id, "2027-03-02 09:00", "2027-03-02 10:00"),
            NOW,
        )
        free = service.availability(session, cnc.id, at("2027-03-02 00:00"), at("2027-03-03 00:00"), NOW).free
        assert [(f.start, f.end) for f in free] == [
            (at("2027-03-02 08:00"), at("2027-03-02 08:45")),
            (at("2027-03-02 10:15"), at("2027-03-02 12:00")),
        ]

    def test_pool_reports_free_seats(self, session: Session) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "12:00"]]})
        desks = make_resource(session, site, kind=ResourceKind.desk_pool, capacity=4, quota_group=None)
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(desks.id, "2027-03-02 09:00", "2027-03-02 10:00", seats=4),
            NOW,
        )
        service.book(
            session,
            actor(session, make_member(session)),
            _ask(desks.id, "2027-03-02 10:00", "2027-03-02 11:00", seats=1),
            NOW,
        )
        free = service.availability(
            session, desks.id, at("2027-03-02 00:00"), at("2027-03-03 00:00"), NOW
        ).free
        assert [(f.start, f.end, f.seats) for f in free] == [
            (at("2027-03-02 08:00"), at("2027-03-02 09:00"), 4),
            (at("2027-03-02 10:00"), at("2027-03-02 11:00"), 3),
            (at("2027-03-02 11:00"), at("2027-03-02 12:00"), 4),
        ]

    def test_starts_from_now_on_the_slot_grid(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        free = service.availability(
            session, room.id, at("2027-03-01 00:00"), at("2027-03-02 00:00"), at("2027-03-01 09:07")
        ).free
        assert (free[0].start, free[-1].end) == (at("2027-03-01 09:30"), at("2027-03-01 21:00"))

    def test_too_wide_a_range(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        with pytest.raises(InvalidRequest, match="at most 62 days"):
            service.availability(session, room.id, at("2027-03-01 00:00"), at("2027-06-01 00:00"), NOW)


class TestIdempotency:
    def test_same_key_returns_the_first_result(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        who = actor(session, make_member(session))
        ask = _ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00")
        first = service.book_idempotent(session, who, ask, NOW, "key-1")
        again = service.book_idempotent(session, who, ask, NOW, "key-1")
        assert (first.replayed, again.replayed) == (False, True)
        assert again.body == first.body
        assert _count(session, Booking) == 1
        with pytest.raises(InvalidRequest, match="already used for a different booking request"):
            service.book_idempotent(
                session, who, _ask(room.id, "2027-03-02 12:00", "2027-03-02 13:00"), NOW, "key-1"
            )


class TestMembers:
    def test_sign_in_and_rate_limit(self, session: Session) -> None:
        from booking.errors import TooManyAttempts, Unauthenticated
        from tests.factories import PASSWORD

        member = make_member(session, email="lan@example.org")
        assert service.authenticate(session, "LAN@example.org ", PASSWORD, NOW).id == member.id
        for _ in range(5):
            with pytest.raises(Unauthenticated, match="the e-mail or the password is wrong"):
                service.authenticate(session, "lan@example.org", "wrong", NOW)
        with pytest.raises(
            TooManyAttempts, match=r"too many failed sign-ins for lan@example\.org; try again in 5 min"
        ):
            service.authenticate(session, "lan@example.org", PASSWORD, NOW)
        assert (
            service.authenticate(session, "lan@example.org", PASSWORD, NOW + timedelta(minutes=6)).id
            == member.id
        )
