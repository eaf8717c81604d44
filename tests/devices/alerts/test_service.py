"""Alerts on a real database: faults and offline machines open and close them; managers resolve them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from booking.errors import Conflict, NotFound
from booking.messages import Message
from booking.models import BookingStatus, Notification, Role, Site
from devices.alerts import service as alerts
from devices.models import Activity, Alert, AlertKind, MachineState
from devices.sessions import service as sessions
from tests.conftest import NOW
from tests.devices.helpers import book, online, state
from tests.factories import actor, make_machine, make_member, make_site
from tests.links import RecordingLink
from tests.words import en_day, en_slot
from web.i18n import say


class TestFault:
    def test_fault_blocks_bookings_and_notifies(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, name="Laser 1")
        member = make_member(session)
        book(session, member, laser.id, "2027-03-02 09:00", "2027-03-02 10:00")
        machine = online(session, laser.id, link)
        alerts.fault_raised(session, link, machine, "E12", "lid open", NOW)
        assert state(machine) is MachineState.fault
        with pytest.raises(Conflict) as caught:
            book(session, make_member(session), laser.id, "2027-03-02 11:00", "2027-03-02 12:00")
        assert caught.value.detail == (
            f"Laser 1 is out of service since 09:00 {en_day('2027-03-01')} (fault E12: lid open); "
            "it takes no bookings until a manager clears it"
        )
        notes = session.exec(
            select(Notification.message).where(
                Notification.member_id == member.id, Notification.kind != "confirmed"
            )
        ).all()
        assert notes == [
            "Laser 1 is out of service (fault E12: lid open); "
            f"your booking {en_slot('2027-03-02 09:00–10:00')} may not be usable"
        ]
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        fault = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.fault)
        ).one()
        alerts.resolve_alert(session, link, manager, fault.id, "lid sensor replaced", NOW)
        assert state(machine) is MachineState.free
        assert (
            book(session, make_member(session), laser.id, "2027-03-02 11:00", "2027-03-02 12:00").status
            is BookingStatus.confirmed
        )

    def test_another_sites_manager_cannot_resolve_it(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = online(session, laser.id, link)
        alerts.fault_raised(session, link, machine, "E12", "lid open", NOW)
        fault = session.exec(select(Alert).where(Alert.machine_id == laser.id)).one()
        stranger = actor(session, make_member(session, role=Role.manager, manages=(make_site(session),)))
        with pytest.raises(NotFound) as caught:
            alerts.resolve_alert(session, link, stranger, fault.id, "not mine", NOW)
        assert caught.value.detail == f"there is no alert '{fault.id}'"
        assert (fault.resolved_at, fault.acknowledged_at, fault.note) == (None, None, "")
        assert (state(machine), machine.fault_code) == (MachineState.fault, "E12")


class TestOffline:
    def test_silence_then_telemetry(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = online(session, laser.id, link)
        assert alerts.check_offline(session, link, NOW + timedelta(seconds=60)) == []
        assert alerts.check_offline(session, link, NOW + timedelta(seconds=91)) == [laser.id]
        assert state(machine) is MachineState.offline
        alert = session.exec(
            select(Alert).where(Alert.machine_id == laser.id, Alert.kind == AlertKind.offline)
        ).one()
        assert alert.message == "Laser 1 is offline: nothing heard for 90 s"
        # Kept as a message: a Vietnamese reader reads it in Vietnamese.
        assert alert.data is not None
        assert (
            say(Message.from_json(alert.data), "vi")
            == "Laser 1 mất kết nối: không nhận được tín hiệu trong 90 giây"
        )
        sessions.telemetry(
            session, link, machine, NOW + timedelta(seconds=120), power_w=12.0, activity=Activity.idle
        )
        assert state(machine) is MachineState.free
        assert alert.resolved_at is not None

    def test_gateway_lost_takes_its_machines_offline(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, gateway="gw-a")
        machine = online(session, laser.id, link)
        alerts.gateway_state(session, link, "gw-a", site.id, "lost", "boot-1", NOW)
        assert state(machine) is MachineState.offline


class TestManagersAreTold:
    def test_a_fault_reaches_the_sites_managers_in_the_app_and_by_email(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        from booking.models import Delivery

        laser = make_machine(session, site, name="Laser 1")
        manager = make_member(session, role=Role.manager, manages=(site,))
        elsewhere = make_member(session, role=Role.manager, manages=(make_site(session),))
        machine = online(session, laser.id, link)
        alerts.fault_raised(session, link, machine, "E12", "lid open", NOW)
        told = session.exec(select(Notification).where(Notification.member_id == manager.id)).all()
        assert [n.kind for n in told] == ["alert_fault"]
        assert "E12" in told[0].message
        assert told[0].data is not None
        assert (
            say(Message.from_json(told[0].data), "vi") == "Cảnh báo tại FabLab: Laser 1 báo lỗi E12: lid open"
        )
        assert session.exec(select(Notification).where(Notification.member_id == elsewhere.id)).all() == []
        mails = session.exec(select(Delivery).where(Delivery.member_id == manager.id)).all()
        assert [(d.kind, d.link) for d in mails] == [("alert_fault", "/manage/alerts")]
