"""Usage sessions on a real database: events stored once and acted on by type, runtime charged once,
sessions charged to the right member, machine use as a check-in."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, func, select

from booking.bookings import service as booking
from booking.models import Booking, BookingStatus, LedgerEntry, LedgerKind, Site
from devices import events
from devices.models import Activity, Alert, AlertKind, DeviceEvent, MachineState, UsageSession
from devices.registry import service as registry
from devices.sessions import service as sessions
from tests.conftest import NOW
from tests.devices.helpers import book, envelope, online, state, tap
from tests.factories import make_machine, make_member
from tests.links import RecordingLink


class TestSessions:
    def test_runtime_is_charged_once_to_the_member(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        member = make_member(session, card_uid="04F1")
        book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = online(session, laser.id, link)
        session_id = str(tap(session, link, machine, "04F1")["session_id"])
        started = events.SessionStarted(envelope(), session_id=session_id, card_uid=None)
        stopped = events.SessionStopped(
            envelope(), session_id=session_id, stop_type="normal", duration_s=1500, busy_s=1200, energy_wh=80
        )
        for event in (started, stopped, stopped, stopped):
            stored, _gap = sessions.record_event(session, machine.gateway_id, machine, event, NOW)
            if stored:
                sessions.handle_event(session, link, machine, event, NOW)
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
        held = book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = online(session, laser.id, link)
        usage = sessions.session_started(session, link, machine, "gw-session-7", None, NOW, NOW)
        assert (usage.member_id, usage.booking_id) == (member.id, held.id)
        assert session.get(Booking, held.id).status is BookingStatus.checked_in  # type: ignore[union-attr]
        assert state(machine) is MachineState.in_use

    def test_unbooked_use_raises_an_alert(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, name="Laser 2")
        machine = online(session, laser.id, link)
        sessions.session_started(session, link, machine, "gw-session-8", None, NOW, NOW)
        alert = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.unbooked_use)
        ).one()
        assert alert.message == "Laser 2 is in use with no booking and no card"


class TestSequence:
    def test_skipped_seqs_are_counted_once_and_a_late_one_moves_nothing_back(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        machine = online(session, laser.id, link)

        def record(event_id: str, boot_id: str, seq: int) -> tuple[bool, int]:
            fault = events.FaultCleared(
                events.Envelope(event_id=f"{laser.id}-{event_id}", boot_id=boot_id, seq=seq, ts=NOW),
                code="E1",
                message="",
            )
            return sessions.record_event(session, machine.gateway_id, machine, fault, NOW)

        assert record("a", "boot-a", 1) == (True, 0)
        assert record("b", "boot-a", 2) == (True, 0)
        assert record("c", "boot-a", 5) == (True, 2)  # 3 and 4 were skipped
        assert record("d", "boot-a", 3) == (True, 0)  # arrives late: the cursor stays at 5
        assert record("e", "boot-a", 6) == (True, 0)
        assert record("e", "boot-a", 6) == (False, 0)  # the same event again: stored once
        assert record("f", "boot-b", 1) == (True, 0)  # a new boot counts from its own start


class TestEvents:
    """Each type of event, stored with the contract's data and acted on by the domain."""

    def _handle(
        self, session: Session, link: RecordingLink, machine_id: str, event: events.MachineEvent
    ) -> None:
        machine = registry.get_machine_or_raise(session, machine_id)
        stored, gap = sessions.record_event(session, machine.gateway_id, machine, event, NOW)
        assert (stored, gap) == (True, 0)
        sessions.handle_event(session, link, machine, event, NOW)

    def _stored(self, session: Session, event: events.MachineEvent) -> tuple[str, dict[str, object]]:
        row = session.get(DeviceEvent, event.envelope.event_id)
        assert row is not None
        return row.type, row.data

    def test_access_requested_answers_the_card(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        online(session, laser.id, link)
        event = events.AccessRequested(envelope(), request_id="tap-1", card_uid="FFFF0000")
        self._handle(session, link, laser.id, event)
        assert [(c.cmd, c.fields["request_id"], c.fields["reason"]) for c in link.commands] == [
            ("deny", "tap-1", "unknown_card")
        ]
        assert self._stored(session, event) == (
            "access.requested",
            {"request_id": "tap-1", "card_uid": "FFFF0000"},
        )

    def test_session_started_opens_a_session_for_the_card(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        member = make_member(session, card_uid="04AB")
        online(session, laser.id, link)
        event = events.SessionStarted(envelope(), session_id="s-1", card_uid="04AB")
        self._handle(session, link, laser.id, event)
        usage = session.exec(select(UsageSession).where(UsageSession.machine_id == laser.id)).one()
        assert (usage.external_id, usage.member_id, usage.card_uid) == ("s-1", member.id, "04AB")
        assert self._stored(session, event) == ("session.started", {"session_id": "s-1", "card_uid": "04AB"})

    def test_session_activity_counts_busy_time(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        machine = online(session, laser.id, link)
        sessions.session_started(session, link, machine, "s-2", None, NOW, NOW)
        event = events.SessionActivity(envelope(), session_id="s-2", activity=Activity.busy)
        self._handle(session, link, laser.id, event)
        usage = session.exec(select(UsageSession).where(UsageSession.machine_id == laser.id)).one()
        assert (machine.activity, usage.busy_since) == (Activity.busy, NOW)
        assert self._stored(session, event) == ("session.activity", {"session_id": "s-2", "activity": "busy"})

    def test_session_stopped_ends_the_session(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        machine = online(session, laser.id, link)
        sessions.session_started(session, link, machine, "s-3", None, NOW, NOW)
        event = events.SessionStopped(
            envelope(), session_id="s-3", stop_type="idle", duration_s=600.0, busy_s=420.0, energy_wh=12.5
        )
        self._handle(session, link, laser.id, event)
        usage = session.exec(select(UsageSession).where(UsageSession.machine_id == laser.id)).one()
        assert (usage.ended_at, usage.stop_type, usage.busy_s, usage.energy_wh) == (NOW, "idle", 420.0, 12.5)
        assert (machine.session_id, machine.runtime_s) == (None, 420)
        assert self._stored(session, event) == (
            "session.stopped",
            {
                "session_id": "s-3",
                "stop_type": "idle",
                "duration_s": 600.0,
                "busy_s": 420.0,
                "energy_wh": 12.5,
            },
        )

    def test_a_started_job_counts_nothing(self, session: Session, site: Site, link: RecordingLink) -> None:
        printer = make_machine(session, site, name="Printer", adapter="octoprint")
        machine = online(session, printer.id, link)
        event = events.JobStarted(envelope(), job="box.gcode", duration_s=None, reason=None)
        self._handle(session, link, printer.id, event)
        assert machine.jobs == 0
        assert self._stored(session, event) == (
            "job.started",
            {"job": "box.gcode", "duration_s": None, "reason": None},
        )

    def test_finished_and_failed_jobs_count(self, session: Session, site: Site, link: RecordingLink) -> None:
        printer = make_machine(session, site, name="Printer", adapter="octoprint")
        machine = online(session, printer.id, link)
        finished = events.JobFinished(envelope(), job="box.gcode", duration_s=3600.0, reason=None)
        failed = events.JobFailed(envelope(), job="lid.gcode", duration_s=60.0, reason="filament out")
        self._handle(session, link, printer.id, finished)
        self._handle(session, link, printer.id, failed)
        assert machine.jobs == 2
        assert self._stored(session, failed) == (
            "job.failed",
            {"job": "lid.gcode", "duration_s": 60.0, "reason": "filament out"},
        )

    def test_fault_raised_then_cleared_by_the_machine(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = online(session, laser.id, link)
        raised = events.FaultRaised(envelope(), code="E12", message="lid open")
        self._handle(session, link, laser.id, raised)
        assert (state(machine), machine.fault_code, machine.fault_message) == (
            MachineState.fault,
            "E12",
            "lid open",
        )
        cleared = events.FaultCleared(envelope(), code="E12", message="lid closed")
        self._handle(session, link, laser.id, cleared)
        assert (state(machine), machine.fault_code) == (MachineState.free, None)
        alert = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.fault)
        ).one()
        assert (alert.resolved_by, alert.note) == ("machine", "cleared by the machine: lid closed")
        assert self._stored(session, cleared) == ("fault.cleared", {"code": "E12", "message": "lid closed"})

    def test_a_redelivery_is_stored_and_acted_on_once(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, name="Printer", adapter="octoprint")
        machine = online(session, laser.id, link)
        event = events.JobFinished(envelope(), job="box.gcode", duration_s=None, reason=None)
        self._handle(session, link, laser.id, event)
        assert sessions.record_event(session, machine.gateway_id, machine, event, NOW) == (False, 0)
        assert machine.jobs == 1


class TestNoShow:
    def test_machine_use_counts_as_check_in(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site)
        used = book(session, make_member(session), laser.id, "2027-03-01 09:00", "2027-03-01 10:00")
        printer = make_machine(session, site, name="Printer")
        unused = book(session, make_member(session), printer.id, "2027-03-01 09:00", "2027-03-01 10:00")
        machine = online(session, laser.id, link)
        sessions.session_started(
            session, link, machine, "s-1", None, NOW + timedelta(minutes=5), NOW + timedelta(minutes=5)
        )
        released = booking.release_no_shows(session, NOW + timedelta(minutes=16), timedelta(minutes=15))
        assert [b.id for b in released] == [unused.id]
        assert session.get(Booking, used.id).status is BookingStatus.checked_in  # type: ignore[union-attr]
