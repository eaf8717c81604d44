"""The dispatcher on a real database, without a broker: every event type of the contract reaches the
machines' domain as its typed event, is acted on, and is stored once with the contract's data."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from booking.models import Booking, BookingStatus, LedgerEntry, LedgerKind
from devices.models import (
    Activity,
    Alert,
    AlertKind,
    DeviceEvent,
    Machine,
    MachineCommand,
    MachineState,
    UsageSession,
)
from firmware_bridge.center.dispatch import Dispatcher
from firmware_bridge.client import Received
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts
from tests.bridge.conftest import build_lab
from tests.brokers import unique
from tests.clock import FakeClock
from tests.conftest import NOW


@dataclass
class Lab:
    """A laser online on its gateway, a member with a card and a booking under way, the dispatcher."""

    engine: Engine
    dispatcher: Dispatcher
    site: str
    gateway: str
    machine: str
    member_id: str
    card: str
    boot: str = field(default_factory=lambda: unique("boot"))
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def deliver(self, topic: str, payload: dict[str, Any]) -> None:
        """Hand one message to the dispatcher, as the bridge's worker does, and check it was handled."""
        item = Received(topic, json.dumps(payload).encode(), qos=1, retain=False, mid=0)
        result = self.dispatcher.handle([(item, time.perf_counter())], None)
        assert (result.handled, result.dropped) == (1, 0)

    def event(self, event_type: str, **data: Any) -> str:
        """Deliver an event of the machine as its gateway would send it; its id."""
        event_id = unique("ev")
        self.deliver(
            topics.event(self.site, self.gateway, self.machine),
            {
                "event_id": event_id,
                "boot_id": self.boot,
                "seq": next(self._seq),
                "ts": format_ts(NOW),
                "type": event_type,
                "data": data,
            },
        )
        return event_id

    def stored(self, event_id: str) -> tuple[str, dict[str, Any]]:
        """The stored event's type and data."""
        with Session(self.engine) as session:
            row = session.get(DeviceEvent, event_id)
            assert row is not None
            return row.type, row.data

    def laser(self) -> Machine:
        with Session(self.engine) as session:
            machine = session.get(Machine, self.machine)
            assert machine is not None
            return machine

    def usage(self) -> UsageSession:
        with Session(self.engine) as session:
            return session.exec(select(UsageSession).where(UsageSession.machine_id == self.machine)).one()


@pytest.fixture
def lab(fresh_engine: Engine) -> Lab:
    clock = FakeClock(NOW)
    site, gateway, machine, member_id, _name, card = build_lab(fresh_engine, "", clock)
    lab = Lab(fresh_engine, Dispatcher(fresh_engine, clock=clock), site, gateway, machine, member_id, card)
    lab.deliver(topics.availability(site, gateway, machine), {"online": True, "ts": format_ts(NOW)})
    return lab


class TestEachEventType:
    def test_access_requested_unlocks_for_the_booked_member(self, lab: Lab) -> None:
        event_id = lab.event("access.requested", request_id="tap-1", card_uid=lab.card)
        with Session(lab.engine) as session:
            command = session.exec(
                select(MachineCommand).where(MachineCommand.machine_id == lab.machine)
            ).one()
            held = session.exec(select(Booking).where(Booking.member_id == lab.member_id)).one()
        assert (command.cmd, command.payload["request_id"], command.payload["max_duration_s"]) == (
            "unlock",
            "tap-1",
            3720,
        )
        assert held.status is BookingStatus.checked_in
        assert lab.stored(event_id) == ("access.requested", {"request_id": "tap-1", "card_uid": lab.card})

    def test_session_started_charges_the_cards_member(self, lab: Lab) -> None:
        event_id = lab.event("session.started", session_id="s-1", card_uid=lab.card)
        usage = lab.usage()
        assert (usage.external_id, usage.member_id, usage.card_uid) == ("s-1", lab.member_id, lab.card)
        assert lab.laser().state is MachineState.in_use
        assert lab.stored(event_id) == ("session.started", {"session_id": "s-1", "card_uid": lab.card})

    def test_session_activity_turns_the_machine_busy(self, lab: Lab) -> None:
        lab.event("session.started", session_id="s-2")
        event_id = lab.event("session.activity", session_id="s-2", activity="busy")
        assert lab.laser().activity is Activity.busy
        assert lab.usage().busy_since == NOW
        assert lab.stored(event_id) == ("session.activity", {"session_id": "s-2", "activity": "busy"})

    def test_session_stopped_charges_the_runtime(self, lab: Lab) -> None:
        lab.event("session.started", session_id="s-3", card_uid=lab.card)
        event_id = lab.event(
            "session.stopped",
            session_id="s-3",
            stop_type="normal",
            duration_s=900,
            busy_s=600,
            energy_wh=45.5,
        )
        usage = lab.usage()
        assert (usage.ended_at, usage.stop_type, usage.busy_s, usage.energy_wh) == (NOW, "normal", 600, 45.5)
        with Session(lab.engine) as session:
            charged = session.exec(select(LedgerEntry).where(LedgerEntry.kind == LedgerKind.runtime)).one()
        assert (charged.member_id, charged.seconds, charged.reference) == (lab.member_id, 600, usage.id)
        assert lab.laser().runtime_s == 600
        assert lab.stored(event_id) == (
            "session.stopped",
            {
                "session_id": "s-3",
                "stop_type": "normal",
                "duration_s": 900.0,
                "busy_s": 600.0,
                "energy_wh": 45.5,
            },
        )

    def test_job_started_counts_no_job_yet(self, lab: Lab) -> None:
        event_id = lab.event("job.started", job="sign.svg")
        assert lab.laser().jobs == 0
        assert lab.stored(event_id) == (
            "job.started",
            {"job": "sign.svg", "duration_s": None, "reason": None},
        )

    def test_job_finished_counts_a_job(self, lab: Lab) -> None:
        event_id = lab.event("job.finished", job="sign.svg", duration_s=1200)
        assert lab.laser().jobs == 1
        assert lab.stored(event_id) == (
            "job.finished",
            {"job": "sign.svg", "duration_s": 1200.0, "reason": None},
        )

    def test_job_failed_counts_a_job(self, lab: Lab) -> None:
        event_id = lab.event("job.failed", job="sign.svg", reason="lid opened")
        assert lab.laser().jobs == 1
        assert lab.stored(event_id) == (
            "job.failed",
            {"job": "sign.svg", "duration_s": None, "reason": "lid opened"},
        )

    def test_fault_raised_takes_the_machine_out_of_service(self, lab: Lab) -> None:
        event_id = lab.event("fault.raised", code="E12", message="lid open")
        laser = lab.laser()
        assert (laser.state, laser.fault_code, laser.fault_message) == (MachineState.fault, "E12", "lid open")
        with Session(lab.engine) as session:
            alert = session.exec(select(Alert).where(Alert.kind == AlertKind.fault)).one()
        assert alert.resolved_at is None
        assert lab.stored(event_id) == ("fault.raised", {"code": "E12", "message": "lid open"})

    def test_fault_cleared_returns_it_to_service(self, lab: Lab) -> None:
        lab.event("fault.raised", code="E12", message="lid open")
        event_id = lab.event("fault.cleared", code="E12", message="lid closed")
        laser = lab.laser()
        assert (laser.fault_code, laser.state) == (None, MachineState.reserved)  # its booking is under way
        with Session(lab.engine) as session:
            alert = session.exec(select(Alert).where(Alert.kind == AlertKind.fault)).one()
        assert (alert.resolved_by, alert.note) == ("machine", "cleared by the machine: lid closed")
        assert lab.stored(event_id) == ("fault.cleared", {"code": "E12", "message": "lid closed"})
