"""Booking use cases on a real database (SQLite and PostgreSQL), each test rolled back."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from booking.bookings import service as bookings
from booking.catalogue import service as catalogue
from booking.catalogue.cache import CATALOGUE
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted, QuotaExceeded
from booking.ledger import service as ledger
from booking.members import service as members
from booking.members.actors import SYSTEM, MemberInfo
from booking.models import (
    Booking,
    BookingStatus,
    LedgerEntry,
    MemberTraining,
    Notification,
    QuotaPeriod,
    ResourceKind,
    Role,
    Site,
)
from booking.schemas import ClosureCreate
from booking.sql import database_of
from tests.booking.helpers import ask, count_rows
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
from tests.words import en_day, en_slot


class TestBook:
    def test_books_a_free_slot_and_charges_the_ledger(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=4)))
        booking = bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:30"), NOW
        )
        assert booking.status is BookingStatus.confirmed
        assert booking.start_at == at("2027-03-02 10:00")
        assert len(booking.code) == 8
        ledger = session.exec(select(LedgerEntry).where(LedgerEntry.booking_id == booking.id)).one()
        assert ledger.seconds == 5400

    def test_refuses_overlap_naming_the_slot(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        first = make_member(session)
        bookings.book(
            session, actor(session, first), ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"), NOW
        )
        other = make_member(session)
        before = count_rows(session, Booking), count_rows(session, LedgerEntry)
        with pytest.raises(Conflict) as caught:
            bookings.book(
                session, actor(session, other), ask(laser.id, "2027-03-02 14:30", "2027-03-02 16:00"), NOW
            )
        assert caught.value.detail == f"Laser 1 is booked {en_slot('2027-03-02 14:00–15:00')}"
        assert (count_rows(session, Booking), count_rows(session, LedgerEntry)) == before

    def test_refuses_own_overlap_saying_so(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        member = make_member(session)
        bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"), NOW
        )
        with pytest.raises(
            Conflict, match=f"^you already booked Laser 1 {en_slot('2027-03-02 14:00–15:00')}$"
        ):
            bookings.book(
                session, actor(session, member), ask(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"), NOW
            )

    def test_rejects_overlap_with_buffer(self, session: Session, site: Site) -> None:
        cnc = make_resource(session, site, name="CNC", buffer_minutes=15, slot_minutes=15, min_minutes=15)
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(cnc.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            NOW,
        )
        with pytest.raises(Conflict) as caught:
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(cnc.id, "2027-03-02 15:00", "2027-03-02 16:00"),
                NOW,
            )
        assert (
            caught.value.detail
            == f"CNC is booked {en_slot('2027-03-02 14:00–15:00')}, and it needs 15 min between bookings"
        )
        # Exactly the buffer apart, on both sides, is fine.
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(cnc.id, "2027-03-02 15:15", "2027-03-02 16:00"),
            NOW,
        )
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(cnc.id, "2027-03-02 12:45", "2027-03-02 13:45"),
            NOW,
        )

    def test_back_to_back_without_buffer(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            NOW,
        )
        booking = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-02 15:00", "2027-03-02 16:00"),
            NOW,
        )
        assert booking.status is BookingStatus.confirmed

    def test_pool_seats_never_exceed_capacity(self, session: Session, site: Site) -> None:
        desks = make_resource(
            session, site, name="Desks", kind=ResourceKind.desk_pool, capacity=5, quota_group=None
        )
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(desks.id, "2027-03-02 09:00", "2027-03-02 12:00", seats=3),
            NOW,
        )
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(desks.id, "2027-03-02 11:00", "2027-03-02 13:00", seats=2),
            NOW,
        )
        with pytest.raises(Conflict) as caught:
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(desks.id, "2027-03-02 10:00", "2027-03-02 11:30"),
                NOW,
            )
        assert (
            caught.value.detail
            == f"Desks has 0 of 5 seats free at its busiest during {en_slot('2027-03-02 10:00–11:30')}; 1 were asked for"  # noqa: E501
        )
        ok = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(desks.id, "2027-03-02 12:00", "2027-03-02 13:00", seats=3),
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
            bookings.book(
                session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
            )
        grant(session, member, training, expires_at=NOW - timedelta(days=1))
        with pytest.raises(NotPermitted, match=f"yours expired on {en_day('2027-02-28')}"):
            bookings.book(
                session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
            )
        members.grant_training(session, SYSTEM, member.id, training.id, NOW)
        assert bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )

    def test_quota_hours_per_week(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        member = make_member(session, plan=make_plan(session, quota(max_hours=4)))
        who = actor(session, member)
        bookings.book(session, who, ask(laser.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW)
        bookings.book(session, who, ask(laser.id, "2027-03-03 08:00", "2027-03-03 09:30"), NOW)
        before = count_rows(session, Booking)
        with pytest.raises(QuotaExceeded) as caught:
            bookings.book(session, who, ask(laser.id, "2027-03-04 08:00", "2027-03-04 09:00"), NOW)
        assert caught.value.detail == (
            "your plan allows 4 h of laser per week; you have 3.5 h booked and asked for 1 h more"
        )
        assert count_rows(session, Booking) == before
        # The next ISO week (from Monday 8 March, local time) starts afresh.
        bookings.book(session, who, ask(laser.id, "2027-03-08 08:00", "2027-03-08 10:00"), NOW)

    def test_a_quota_group_an_admin_named_is_read_by_its_name(self, session: Session, site: Site) -> None:
        from booking.catalogue import service as catalogue
        from web.i18n import say

        catalogue.name_quota_group(session, SYSTEM, "bio-lab", "Phòng thí nghiệm sinh học", "biology lab")
        bench = make_resource(
            session, site, name="Tủ cấy vô trùng", kind=ResourceKind.room, quota_group="bio-lab"
        )
        member = make_member(session, plan=make_plan(session, quota("bio-lab", max_hours=1)))
        with pytest.raises(QuotaExceeded) as caught:
            bookings.book(
                session, actor(session, member), ask(bench.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW
            )
        assert caught.value.detail.startswith("your plan allows 1 h of biology lab per week")
        assert say(caught.value.message, "vi").startswith(
            "Gói của bạn cho phép 1 giờ Phòng thí nghiệm sinh học mỗi"
        )

    def test_quota_counts_and_future_bookings(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group="meeting-rooms")
        plan = make_plan(
            session,
            quota("meeting-rooms", QuotaPeriod.day, max_bookings=1),
            quota("meeting-rooms", QuotaPeriod.month, max_future_bookings=2),
        )
        who = actor(session, make_member(session, plan=plan))
        bookings.book(session, who, ask(room.id, "2027-03-02 08:00", "2027-03-02 09:00"), NOW)
        with pytest.raises(QuotaExceeded, match="allows 1 bookings of meeting-rooms per day; you have 1"):
            bookings.book(session, who, ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        bookings.book(session, who, ask(room.id, "2027-03-03 08:00", "2027-03-03 09:00"), NOW)
        with pytest.raises(
            QuotaExceeded, match="allows 2 upcoming bookings of meeting-rooms at once; you have 2"
        ):
            bookings.book(session, who, ask(room.id, "2027-03-04 08:00", "2027-03-04 09:00"), NOW)

    def test_cancel_refunds_the_quota(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(session, make_member(session, plan=make_plan(session, quota(max_hours=2))))
        booking = bookings.book(session, who, ask(laser.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW)
        bookings.cancel(session, who, booking.id, NOW)
        assert booking.status is BookingStatus.cancelled
        again = bookings.book(session, who, ask(laser.id, "2027-03-02 12:00", "2027-03-02 14:00"), NOW)
        assert again.status is BookingStatus.confirmed
        assert ledger.my_quotas(session, who.member, NOW, "Asia/Ho_Chi_Minh")[0].booked_hours == 2

    def test_an_overnight_booking_at_a_site_open_around_the_clock(self, session: Session) -> None:
        """Found at 23:00 local: 00:00–24:00 every day refused 23:00–03:00 as outside opening hours."""
        always = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        site = make_site(session, opening_hours=always, holiday_country="")
        printer = make_resource(session, site, name="Printer", quota_group=None, max_minutes=600)
        who = actor(session, make_member(session))
        booking = bookings.book(session, who, ask(printer.id, "2027-03-02 23:00", "2027-03-03 03:00"), NOW)
        assert booking.end_at - booking.start_at == timedelta(hours=4)

    def test_outside_opening_hours_and_closure(self, session: Session) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "17:00"]]})
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        manager = make_member(session, role=Role.manager, manages=(site,))
        who = actor(session, make_member(session))
        with pytest.raises(
            InvalidRequest,
            match=f"Test Center is open 08:00–17:00 on Tuesdays; {en_slot('2027-03-02 16:30–17:30')}",
        ):
            bookings.book(session, who, ask(room.id, "2027-03-02 16:30", "2027-03-02 17:30"), NOW)
        catalogue.add_closure(
            session,
            actor(session, manager),
            site.id,
            ClosureCreate(start=at("2027-03-02 12:00"), end=at("2027-03-02 17:00"), reason="maintenance day"),
        )
        with pytest.raises(
            InvalidRequest, match=rf"closed {en_slot('2027-03-02 12:00–17:00')} \(maintenance day\)"
        ):
            bookings.book(session, who, ask(room.id, "2027-03-02 13:00", "2027-03-02 14:00"), NOW)

    def test_refuses_tet(self, session: Session) -> None:
        site = make_site(session)
        room = make_resource(
            session, site, name="Room", kind=ResourceKind.room, quota_group=None, max_days_ahead=400
        )
        with pytest.raises(InvalidRequest, match=r"\(Lunar New Year\)"):
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(room.id, "2028-01-26 09:00", "2028-01-26 10:00"),
                NOW,
            )

    def test_unknown_resource_is_not_found(self, session: Session) -> None:
        with pytest.raises(NotFound, match="there is no resource 'nope'"):
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask("nope", "2027-03-02 09:00", "2027-03-02 10:00"),
                NOW,
            )

    def test_member_cannot_book_for_another(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        other = make_member(session)
        with pytest.raises(NotPermitted, match="only the site's managers and its kiosk"):
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(room.id, "2027-03-02 09:00", "2027-03-02 10:00", member=other.id),
                NOW,
            )


class TestLoadingAhead:
    """What a booking reads of the catalogue is loaded first, in a session that only reads, so that the
    write transaction (on SQLite, the one write lock of the database) waits for none of it."""

    def test_after_loading_the_booking_reads_nothing_of_the_catalogue(
        self, session: Session, site: Site
    ) -> None:
        room = make_resource(session, site, quota_group="rooms")
        member = make_member(session, plan=make_plan(session, quota("rooms", max_hours=40)))
        who = actor(session, member)
        data = ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00")
        database = database_of(session)
        CATALOGUE.invalidate()
        assert bookings.needs_loading(database, who, data)

        bookings.load_for_booking(session, who, data, NOW)
        assert not bookings.needs_loading(database, who, data)
        statements: list[str] = []
        listen = sa.event.listen
        listen(session.connection(), "before_cursor_execute", lambda *a: statements.append(a[2]))
        booking = bookings.book(session, who, data, NOW)

        assert booking.resource_id == room.id
        read = " ".join(statements).lower()
        assert "from resource" not in read
        assert "from site" not in read
        assert "from quotarule" not in read

    def test_loading_refuses_nothing_and_the_booking_still_refuses(
        self, session: Session, site: Site
    ) -> None:
        room = make_resource(session, site)
        member = make_member(session)
        member.active = False
        session.flush()
        who = actor(session, member)
        data = ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00")
        missing = ask("no-such-room", "2027-03-02 10:00", "2027-03-02 11:00")

        bookings.load_for_booking(session, who, data, NOW)
        bookings.load_for_booking(session, who, missing, NOW)

        assert not bookings.needs_loading(database_of(session), who, missing)
        with pytest.raises(NotPermitted, match="suspended"):
            bookings.book(session, who, data, NOW)
        with pytest.raises(NotFound):
            bookings.book(session, who, missing, NOW)


class TestDrafting:
    """A booking is drafted first (its rules, its row, its words), then written: on SQLite the write
    transaction holds the database's one write lock for the statements only."""

    def test_a_draft_reads_and_writes_nothing_once_the_catalogue_is_loaded(
        self, session: Session, site: Site
    ) -> None:
        room = make_resource(session, site, name="Phòng họp A", quota_group="rooms")
        member = make_member(session, plan=make_plan(session, quota("rooms", max_hours=40)))
        who = actor(session, member)
        data = ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00")
        database = database_of(session)
        CATALOGUE.invalidate()
        bookings.load_for_booking(session, who, data, NOW)
        assert not bookings.needs_loading(database, who, data)
        before = count_rows(session, Booking)
        statements: list[str] = []
        sa.event.listen(session.connection(), "before_cursor_execute", lambda *a: statements.append(a[2]))

        drafted = bookings.draft(session, who, data, NOW)

        assert statements == []
        booking = bookings.write(session, drafted)
        assert count_rows(session, Booking) == before + 1
        assert booking.id == drafted.booking.id
        read = " ".join(statements).lower()
        assert "from resource" not in read
        assert "from closure" not in read
        told = session.exec(select(Notification).where(Notification.booking_id == booking.id)).one()
        assert told.message == (
            f"Your booking of Phòng họp A {en_slot('2027-03-02 10:00–11:00')} is confirmed; "
            f"your check-in code is {booking.code}"
        )

    def test_a_draft_refuses_the_rules_that_read_no_booking(self, session: Session, site: Site) -> None:
        room = make_resource(session, site)
        who = actor(session, make_member(session))
        before = count_rows(session, Booking)
        with pytest.raises(InvalidRequest):
            bookings.draft(session, who, ask(room.id, "2027-02-28 10:00", "2027-02-28 11:00"), NOW)
        assert count_rows(session, Booking) == before

    def test_a_code_drawn_again_is_the_one_the_member_is_told(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Phòng họp B")
        who = actor(session, make_member(session))
        drafted = bookings.draft(session, who, ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        other = bookings.book(session, who, ask(room.id, "2027-03-03 10:00", "2027-03-03 11:00"), NOW)
        other.code = drafted.code  # the drafted code is taken meanwhile
        session.add(other)
        session.flush()

        booking = bookings.write(session, drafted)

        assert booking.code != drafted.code
        told = session.exec(select(Notification).where(Notification.booking_id == booking.id)).one()
        assert told.message.endswith(f"your check-in code is {booking.code}")

    def test_the_write_reads_the_members_training_again(self, session: Session, site: Site) -> None:
        training = make_training(session)
        laser = make_resource(session, site, name="Laser 1", training=training)
        member = make_member(session)
        grant(session, member, training)
        who = actor(session, member)
        data = ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00")
        bookings.load_for_booking(session, who, data, NOW)
        # A training is read from the database, whatever the snapshots hold: drafted in a thread.
        assert bookings.needs_loading(database_of(session), who, data)
        drafted = bookings.draft(session, who, data, NOW)
        session.execute(sa.delete(MemberTraining).where(col(MemberTraining.member_id) == member.id))

        with pytest.raises(NotPermitted, match="which you do not hold"):
            bookings.write(session, drafted)

    def test_what_a_draft_would_read_sends_it_to_a_thread(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, quota_group="rooms")
        member = make_member(session, plan=make_plan(session, quota("rooms", max_hours=40)))
        other = make_member(session)
        who = actor(session, member)
        data = ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00")
        database = database_of(session)
        bookings.load_for_booking(session, who, data, NOW)
        assert not bookings.needs_loading(database, who, data)
        # Another member's account is read from the database.
        assert bookings.needs_loading(
            database, who, ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00", member=other.id)
        )
        # A snapshot forgotten (a change to the catalogue) is loaded again.
        CATALOGUE.invalidate()
        assert bookings.needs_loading(database, who, data)


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
        first = bookings.book(session, who, ask(room.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW)
        assert first.status is BookingStatus.pending
        with pytest.raises(Conflict):  # a pending booking holds the slot
            bookings.book(
                session,
                actor(session, make_member(session)),
                ask(room.id, "2027-03-02 09:00", "2027-03-02 10:00"),
                NOW,
            )
        with pytest.raises(NotPermitted, match="only the site's managers approve"):
            bookings.approve(session, who, first.id, NOW)
        assert bookings.approve(session, manager, first.id, NOW).status is BookingStatus.confirmed
        second = bookings.book(session, who, ask(room.id, "2027-03-03 08:00", "2027-03-03 09:00"), NOW)
        assert (
            bookings.reject(session, manager, second.id, NOW, "class full").status is BookingStatus.rejected
        )
        assert ledger.my_quotas(session, MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0].booked_hours == 2
        messages = session.exec(select(Notification.message).where(Notification.member_id == member.id)).all()
        assert any("was declined. class full" in m for m in messages)
        with pytest.raises(InvalidRequest, match="is confirmed, not awaiting a decision"):
            bookings.reject(session, manager, first.id, NOW)

    def test_managers_own_bookings_need_no_approval(self, session: Session, site: Site) -> None:
        room = make_resource(
            session, site, kind=ResourceKind.stem_space, requires_approval=True, quota_group=None
        )
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        assert (
            bookings.book(session, manager, ask(room.id, "2027-03-02 08:00", "2027-03-02 10:00"), NOW).status
            is BookingStatus.confirmed
        )


class TestCheckIn:
    def test_window_and_kiosk(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        member = actor(session, make_member(session))
        kiosk = actor(session, make_member(session, role=Role.kiosk, kiosk_site=site))
        booking = bookings.book(session, member, ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"), NOW)
        with pytest.raises(
            InvalidRequest,
            match=f"check-in for {en_slot('2027-03-01 10:00–11:00')} opens at 09:45, 15 min before the start",
        ):
            bookings.check_in(session, member, booking.id, NOW)
        checked = bookings.check_in_by_code(session, kiosk, booking.code.lower(), NOW + timedelta(minutes=50))
        assert checked.status is BookingStatus.checked_in
        assert bookings.check_in(session, member, booking.id, NOW + timedelta(minutes=55)) is checked

    def test_other_sites_kiosk_cannot_see(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        booking = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"),
            NOW,
        )
        stranger = actor(session, make_member(session, role=Role.kiosk, kiosk_site=make_site(session)))
        with pytest.raises(NotFound, match=f"no booking has the code {booking.code}"):
            bookings.check_in_by_code(session, stranger, booking.code, NOW + timedelta(minutes=55))


class TestCancelAndRelease:
    def test_release_after_start_refunds_the_rest(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group="rooms")
        member = make_member(session, plan=make_plan(session, quota("rooms", max_hours=10)))
        who = actor(session, member)
        booking = bookings.book(session, who, ask(room.id, "2027-03-01 10:00", "2027-03-01 13:00"), NOW)
        released = bookings.cancel(session, who, booking.id, at("2027-03-01 11:10"))
        assert released.status is BookingStatus.released
        assert released.end_at == at("2027-03-01 11:30")
        assert (
            ledger.my_quotas(session, MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")[0].booked_hours == 1.5
        )
        # The released rest is free again.
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-01 11:30", "2027-03-01 12:00"),
            at("2027-03-01 11:10"),
        )

    def test_other_member_cannot_cancel(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        booking = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            NOW,
        )
        with pytest.raises(NotFound, match=f"there is no booking '{booking.id}'"):
            bookings.cancel(session, actor(session, make_member(session)), booking.id, NOW)
        assert session.get(Booking, booking.id).status is BookingStatus.confirmed  # type: ignore[union-attr]


class TestNoShow:
    def test_unchecked_booking_is_released_after_grace(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        booking = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-01 10:00", "2027-03-01 12:00"),
            NOW,
        )
        assert bookings.release_no_shows(session, at("2027-03-01 10:10"), timedelta(minutes=15)) == []
        released = bookings.release_no_shows(session, at("2027-03-01 10:16"), timedelta(minutes=15))
        assert [b.id for b in released] == [booking.id]
        assert booking.status is BookingStatus.no_show
        # The slot is free again for the rest of the time.
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-01 10:30", "2027-03-01 12:00"),
            at("2027-03-01 10:16"),
        )


class TestMachineUse:
    def test_a_machine_session_checks_in_a_confirmed_booking_only(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        room = make_resource(
            session, site, kind=ResourceKind.stem_space, requires_approval=True, quota_group=None
        )
        who = actor(session, make_member(session))
        confirmed = bookings.book(session, who, ask(laser.id, "2027-03-01 10:00", "2027-03-01 11:00"), NOW)
        pending = bookings.book(session, who, ask(room.id, "2027-03-01 10:00", "2027-03-01 11:00"), NOW)
        used = bookings.mark_used(session, confirmed.id, at("2027-03-01 10:40"))
        assert used is not None
        assert (used.status, used.checked_in_at) == (BookingStatus.checked_in, at("2027-03-01 10:40"))
        assert bookings.mark_used(session, pending.id, at("2027-03-01 10:40")) is pending
        assert pending.status is BookingStatus.pending
        assert bookings.mark_used(session, "no-such-booking", NOW) is None
