"""The machines' use cases on a real database: access decisions, sessions, faults, maintenance, alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session, col, func, select

from booking.bookings import service as booking
from booking.errors import Conflict
from booking.models import (
    Booking,
    BookingStatus,
    LedgerEntry,
    LedgerKind,
    Member,
    Notification,
    QuotaPeriod,
    Role,
    Site,
)
from booking.schemas import BookingCreate
from devices import service
from devices.models import Activity, Alert, AlertKind, DeviceEvent, Machine, MachineState, UsageSession
from devices.ports import RecordingLink
from devices.schemas import EventIn, MaintenancePlanCreate
from tests.conftest import NOW
from tests.factories import (
    actor,
    at,
    grant,
    make_machine,
    make_member,
    make_plan,
    make_site,
    make_training,
    quota,
)


def _state(machine: Machine) -> MachineState:
    return machine.state


def _online(session: Session, machine_id: str, link: RecordingLink) -> Machine:
    machine = service.get_machine_or_raise(session, machine_id)
    service.machine_availability(session, link, machine, True, NOW)
    return machine


def _book(session: Session, member: Member, resource_id: str, start: str, end: str) -> Booking:
    return booking.book(
        session,
        actor(session, member),
        BookingCreate(resource_id=resource_id, start=at(start), end=at(end)),
        NOW - timedelta(hours=1),
    )


def _tap(
    session: Session, link: RecordingLink, machine: Machine, card: str, now: datetime = NOW
) -> dict[str, object]:
    link.commands.clear()
    service.access_requested(session, link, machine, "req-1", card, now)
    assert len(link.commands) == 1
    command = link.commands[0]
    return {"cmd": command.cmd, **command.fields}


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(
        session, opening_hours={d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    )


@pytest.fixture
def link() -> RecordingLink:
    return RecordingLink()


class TestAccess:
    def test_unlock_until_booking_end_plus_grace(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, grace_s=120)
        member = make_member(session, card_uid="04A1B2C3")
        held = _book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = _online(session, laser.id, link)
        command = _tap(session, link, machine, "04a1b2c3")
        # 09:00 now; the booking ends at 10:00; plus 120 s of grace.
        assert command["cmd"] == "unlock"
        assert command["max_duration_s"] == 3600 + 120
        assert command["member"] == member.name
        assert session.get(Booking, held.id).status is BookingStatus.checked_in  # type: ignore[union-attr]
        assert _state(machine) is MachineState.reserved

    def test_runtime_quota_left_caps_the_unlock(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        plan = make_plan(session, quota("laser", QuotaPeriod.week, max_hours=10, max_runtime_hours=1))
        member = make_member(session, card_uid="04BB", plan=plan)
        _book(session, member, laser.id, "2027-03-01 09:00", "2027-03-01 11:00")
        from booking.ledger.service import charge_runtime

        charge_runtime(
            session,
            member_id=member.id,
            quota_group="laser",
            at=NOW - timedelta(hours=2),
            seconds=2400,
            now=NOW,
        )
        command = _tap(session, link, _online(session, laser.id, link), "04BB")
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
        machine = _online(session, laser.id, link)
        link.commands.clear()
        service.access_requested(session, link, machine, "r", "04CC", at("2027-03-01 19:45"))
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
        machine = _online(session, laser.id, link)
        now = NOW
        card = "04DD"
        if case == "unknown card":
            card = "FFFFFF"
        elif case == "no booking and the slot taken":
            other = make_member(session)
            grant(session, other, training)
            _book(session, other, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        elif case == "no training":
            session.delete(_grant_of(session, member.id, training.id))
            session.flush()
        elif case == "runtime used up":
            from booking.ledger.service import charge_runtime

            charge_runtime(
                session,
                member_id=member.id,
                quota_group="laser",
                at=NOW - timedelta(hours=1),
                seconds=3600,
                now=NOW,
            )
        elif case == "fault":
            service.fault_raised(session, link, machine, "E12", "lid open", NOW)
        elif case == "maintenance overdue":
            service.add_plan(
                session, None, laser.id, MaintenancePlanCreate(name="lens", every_runtime_h=1), NOW
            )
            machine.runtime_s = 3600
            service.check_maintenance(session, link, NOW)
        elif case == "outside opening hours":
            now = at("2027-03-01 21:00")
        link.commands.clear()
        service.access_requested(session, link, machine, "req-9", card, now)
        assert [(c.cmd, c.fields.get("reason")) for c in link.commands] == [("deny", reason)]

    def test_walk_in_books_the_slot_under_way(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        member = make_member(session, card_uid="04EE")
        command = _tap(session, link, _online(session, laser.id, link), "04EE", at("2027-03-01 09:10"))
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
        command = _tap(session, link, _online(session, laser.id, link), "04EF")
        assert (command["cmd"], command["reason"]) == ("deny", "no_booking")


def _grant_of(session: Session, member_id: str, training_id: str) -> object:
    from booking.models import MemberTraining

    return session.get(MemberTraining, (member_id, training_id))


def _event(event_type: str, seq: int, **data: object) -> EventIn:
    return EventIn(
        event_id=f"ev-{event_type}-{seq}-{id(data)}",
        boot_id="boot-1",
        seq=seq,
        ts=NOW,
        type=event_type,
        data=data,
    )


class TestSessions:
    def test_runtime_is_charged_once_to_the_member(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        member = make_member(session, card_uid="04F1")
        _book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = _online(session, laser.id, link)
        unlock = _tap(session, link, machine, "04F1")
        session_id = str(unlock["session_id"])
        started = _event("session.started", 1, session_id=session_id)
        stopped = _event(
            "session.stopped",
            2,
            session_id=session_id,
            stop_type="normal",
            duration_s=1500,
            busy_s=1200,
            energy_wh=80,
        )
        for event in (started, stopped, stopped, stopped):
            stored, _gap = service.record_event(session, machine.gateway_id, machine, event, NOW)
            if stored:
                service.handle_event(session, link, machine, event, NOW)
        runtime = session.exec(
            select(LedgerEntry).where(
                LedgerEntry.kind == LedgerKind.runtime, LedgerEntry.member_id == member.id
            )
        ).all()
        assert [r.seconds for r in runtime] == [1200]
        stored_events = session.exec(
            select(func.count()).select_from(DeviceEvent).where(DeviceEvent.machine_id == laser.id)
        ).one()
        assert stored_events == 2
        usage = session.exec(select(UsageSession).where(UsageSession.machine_id == laser.id)).one()
        assert (usage.member_id, usage.busy_s, usage.energy_wh, usage.stop_type) == (
            member.id,
            1200,
            80,
            "normal",
        )
        assert (machine.runtime_s, machine.jobs, machine.session_id) == (1200, 1, None)

    def test_card_less_session_is_charged_to_the_booking(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        member = make_member(session)
        held = _book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = _online(session, laser.id, link)
        usage = service.session_started(session, link, machine, "gw-session-7", None, NOW, NOW)
        assert (usage.member_id, usage.booking_id) == (member.id, held.id)
        assert session.get(Booking, held.id).status is BookingStatus.checked_in  # type: ignore[union-attr]
        assert _state(machine) is MachineState.in_use

    def test_unbooked_use_raises_an_alert(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, name="Laser 2")
        machine = _online(session, laser.id, link)
        service.session_started(session, link, machine, "gw-session-8", None, NOW, NOW)
        alert = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.unbooked_use)
        ).one()
        assert alert.message == "Laser 2 is in use with no booking and no card (session gw-session-8)"


class TestFault:
    def test_fault_blocks_bookings_and_notifies(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, name="Laser 1")
        member = make_member(session)
        _book(session, member, laser.id, "2027-03-02 09:00", "2027-03-02 10:00")
        machine = _online(session, laser.id, link)
        service.fault_raised(session, link, machine, "E12", "lid open", NOW)
        assert _state(machine) is MachineState.fault
        with pytest.raises(Conflict) as caught:
            _book(session, make_member(session), laser.id, "2027-03-02 11:00", "2027-03-02 12:00")
        assert caught.value.detail == (
            "Laser 1 is out of service since 2027-03-01 09:00 (fault E12: lid open); "
            "it takes no bookings until a manager clears it"
        )
        notes = session.exec(select(Notification.message).where(Notification.member_id == member.id)).all()
        assert notes == [
            "Laser 1 is out of service (fault E12: lid open); "
            "your booking 2027-03-02 09:00–10:00 may not be usable"
        ]
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        fault = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.fault)
        ).one()
        service.resolve_alert(session, link, manager, fault.id, "lid sensor replaced", NOW)
        assert _state(machine) is MachineState.free
        assert (
            _book(session, make_member(session), laser.id, "2027-03-02 11:00", "2027-03-02 12:00").status
            is BookingStatus.confirmed
        )


class TestMaintenance:
    def test_due_by_runtime_hours_then_done(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = _online(session, laser.id, link)
        plan = service.add_plan(
            session, None, laser.id, MaintenancePlanCreate(name="Clean lens", every_runtime_h=10), NOW
        )
        machine.runtime_s = int(9.2 * 3600)
        assert service.check_maintenance(session, link, NOW) == 1
        due = session.exec(select(Alert).where(Alert.machine_id == laser.id)).one()
        assert (due.kind, due.message) == (
            AlertKind.due,
            "Laser 1: maintenance 'Clean lens' is due soon (9.2 of 10 runtime hours)",
        )
        machine.runtime_s = 10 * 3600
        service.check_maintenance(session, link, NOW)
        assert _state(machine) is MachineState.blocked
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        service.mark_done(session, link, manager, plan.id or 0, "lens cleaned", NOW)
        assert _state(machine) is MachineState.free
        assert service.list_plans(session, laser.id, NOW)[0].status == "ok"
        assert (
            session.exec(
                select(func.count())
                .select_from(Alert)
                .where(Alert.machine_id == laser.id, col(Alert.resolved_at).is_(None))
            ).one()
            == 0
        )


class TestOffline:
    def test_silence_then_telemetry(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = _online(session, laser.id, link)
        assert service.check_offline(session, link, NOW + timedelta(seconds=60)) == []
        assert service.check_offline(session, link, NOW + timedelta(seconds=91)) == [laser.id]
        assert _state(machine) is MachineState.offline
        alert = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.offline)
        ).one()
        assert alert.message == "Laser 1 is offline: nothing heard for 90 s"
        service.telemetry(
            session, link, machine, NOW + timedelta(seconds=120), power_w=12.0, activity=Activity.idle
        )
        assert _state(machine) is MachineState.free
        assert alert.resolved_at is not None

    def test_gateway_lost_takes_its_machines_offline(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, gateway="gw-a")
        machine = _online(session, laser.id, link)
        service.gateway_state(session, link, "gw-a", site.id, "lost", "boot-1", NOW)
        assert _state(machine) is MachineState.offline


class TestEnforcement:
    def test_warn_before_the_end_then_lock(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, grace_s=300)
        member = make_member(session, card_uid="04F2")
        _book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = _online(session, laser.id, link)
        session_id = str(_tap(session, link, machine, "04F2")["session_id"])
        service.session_started(session, link, machine, session_id, None, NOW, NOW)
        link.commands.clear()
        assert service.enforce_sessions(session, link, at("2027-03-01 09:50")) == 0
        service.enforce_sessions(session, link, at("2027-03-01 09:56"))
        assert [(c.cmd, c.fields["seconds_left"]) for c in link.commands] == [("warn", 240)]
        service.enforce_sessions(session, link, at("2027-03-01 10:00"))
        assert [(c.cmd, c.fields.get("reason"), c.fields.get("grace_s")) for c in link.commands[1:]] == [
            ("lock", "booking_ended", 300)
        ]
        service.enforce_sessions(session, link, at("2027-03-01 10:01"))
        assert len(link.commands) == 2  # locked once

    def test_lock_at_runtime_quota(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site)
        plan = make_plan(session, quota("laser", QuotaPeriod.week, max_hours=10, max_runtime_hours=1))
        member = make_member(session, card_uid="04F3", plan=plan)
        _book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 11:00")
        machine = _online(session, laser.id, link)
        session_id = str(_tap(session, link, machine, "04F3")["session_id"])
        service.telemetry(session, link, machine, NOW, power_w=100.0, activity=Activity.busy)
        service.session_started(session, link, machine, session_id, None, NOW, NOW)
        link.commands.clear()
        service.enforce_sessions(session, link, NOW + timedelta(minutes=55))
        assert [c.cmd for c in link.commands] == ["warn"]
        service.enforce_sessions(session, link, NOW + timedelta(minutes=61))
        assert [(c.cmd, c.fields.get("reason")) for c in link.commands[1:]] == [("lock", "quota_exhausted")]
        assert session.exec(
            select(Alert).where(Alert.kind == AlertKind.quota, Alert.machine_id == laser.id)
        ).one()


class TestNoShow:
    def test_machine_use_counts_as_check_in(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site)
        used = _book(session, make_member(session), laser.id, "2027-03-01 09:00", "2027-03-01 10:00")
        printer = make_machine(session, site, name="Printer")
        unused = _book(session, make_member(session), printer.id, "2027-03-01 09:00", "2027-03-01 10:00")
        machine = _online(session, laser.id, link)
        service.session_started(
            session, link, machine, "s-1", None, NOW + timedelta(minutes=5), NOW + timedelta(minutes=5)
        )
        released = booking.release_no_shows(session, NOW + timedelta(minutes=16), timedelta(minutes=15))
        assert [b.id for b in released] == [unused.id]
        assert session.get(Booking, used.id).status is BookingStatus.checked_in  # type: ignore[union-attr]
