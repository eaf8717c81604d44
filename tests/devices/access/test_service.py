"""Access at the machine on a real database: who is unlocked, for how long, and every reason to deny."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from booking.bookings import service as booking
from booking.ledger.repository import insert_entry as insert_ledger_entry
from booking.models import Booking, BookingStatus, LedgerKind, MemberTraining, QuotaPeriod, Site
from booking.schemas import BookingCreate
from devices.access import service as access
from devices.alerts import service as alerts
from devices.maintenance import service as maintenance
from devices.models import MachineState
from devices.schemas import MaintenancePlanCreate
from tests.conftest import NOW
from tests.devices.helpers import book, online, state, tap
from tests.factories import actor, at, grant, make_machine, make_member, make_plan, make_training, quota
from tests.links import RecordingLink


class TestAccess:
    def test_unlock_until_booking_end_plus_grace(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, grace_s=120)
        member = make_member(session, card_uid="04A1B2C3")
        held = book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = online(session, laser.id, link)
        command = tap(session, link, machine, "04a1b2c3")
        # 09:00 now; the booking ends at 10:00; plus 120 s of grace.
        assert command["cmd"] == "unlock"
        assert command["max_duration_s"] == 3600 + 120
        assert command["member"] == member.name
        assert session.get(Booking, held.id).status is BookingStatus.checked_in  # type: ignore[union-attr]
        assert state(machine) is MachineState.reserved

    def test_runtime_quota_left_caps_the_unlock(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        plan = make_plan(session, quota("laser", QuotaPeriod.week, max_hours=10, max_runtime_hours=1))
        member = make_member(session, card_uid="04BB", plan=plan)
        book(session, member, laser.id, "2027-03-01 09:00", "2027-03-01 11:00")
        insert_ledger_entry(
            session,
            member_id=member.id,
            quota_group="laser",
            kind=LedgerKind.runtime,
            at=NOW - timedelta(hours=2),
            seconds=2400,
            now=NOW,
        )
        command = tap(session, link, online(session, laser.id, link), "04BB")
        assert command["max_duration_s"] == 1200

    def test_closing_time_caps_the_unlock(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site)
        member = make_member(session, card_uid="04CC")
        late = at("2027-03-01 19:30")
        booking.book(
            session,
            actor(session, member),
            BookingCreate(resource_id=laser.id, start=late, end=at("2027-03-01 20:00")),
            NOW,
        )
        machine = online(session, laser.id, link)
        link.commands.clear()
        access.access_requested(session, link, machine, "r", "04CC", at("2027-03-01 19:45"))
        assert link.commands[0].fields["max_duration_s"] == 15 * 60

    @pytest.mark.parametrize(
        ("case", "reason"),
        [
            ("unknown card", "unknown_card"),
            ("no booking and the slot taken", "no_booking"),
            ("no training", "no_training"),
            ("runtime used up", "quota_exhausted"),
            ("fault", "fault"),
            ("maintenance overdue", "maintenance"),
            ("outside opening hours", "closed"),
        ],
    )
    def test_deny_reasons(
        self, session: Session, site: Site, link: RecordingLink, case: str, reason: str
    ) -> None:
        training = make_training(session)
        laser = make_machine(session, site, training=training)
        plan = make_plan(session, quota("laser", QuotaPeriod.week, max_hours=10, max_runtime_hours=1))
        member = make_member(session, card_uid="04DD", plan=plan)
        grant(session, member, training)
        machine = online(session, laser.id, link)
        now = NOW
        card = "04DD"
        if case == "unknown card":
            card = "FFFFFF"
        elif case == "no booking and the slot taken":
            other = make_member(session)
            grant(session, other, training)
            book(session, other, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        elif case == "no training":
            session.delete(session.get(MemberTraining, (member.id, training.id)))
            session.flush()
        elif case == "runtime used up":
            insert_ledger_entry(
                session,
                member_id=member.id,
                quota_group="laser",
                kind=LedgerKind.runtime,
                at=NOW - timedelta(hours=1),
                seconds=3600,
                now=NOW,
            )
        elif case == "fault":
            alerts.fault_raised(session, link, machine, "E12", "lid open", NOW)
        elif case == "maintenance overdue":
            maintenance.add_plan(
                session, None, laser.id, MaintenancePlanCreate(name="lens", every_runtime_h=1), NOW
            )
            machine.runtime_s = 3600
            maintenance.check_maintenance(session, link, NOW)
        elif case == "outside opening hours":
            now = at("2027-03-01 21:00")
        link.commands.clear()
        access.access_requested(session, link, machine, "req-9", card, now)
        assert [(c.cmd, c.fields.get("reason")) for c in link.commands] == [("deny", reason)]

    def test_walk_in_books_the_slot_under_way(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        member = make_member(session, card_uid="04EE")
        command = tap(session, link, online(session, laser.id, link), "04EE", at("2027-03-01 09:10"))
        assert command["cmd"] == "unlock"
        walk_in = session.exec(select(Booking).where(Booking.member_id == member.id)).one()
        assert (walk_in.start_at, walk_in.end_at, walk_in.note) == (
            at("2027-03-01 09:00"),
            at("2027-03-01 09:30"),
            "walk-in",
        )
        assert walk_in.status is BookingStatus.checked_in

    def test_no_walk_in_where_the_machine_takes_none(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, allow_walk_in=False)
        make_member(session, card_uid="04EF")
        command = tap(session, link, online(session, laser.id, link), "04EF")
        assert (command["cmd"], command["reason"]) == ("deny", "no_booking")
        assert session.exec(select(Booking).where(Booking.resource_id == laser.id)).first() is None
