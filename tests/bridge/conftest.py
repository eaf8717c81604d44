"""A lab on the real Mosquitto at 127.0.0.1:1883: a fresh database, the center's bridge, a fake gateway."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.bookings import service as booking
from booking.schemas import BookingCreate
from firmware_bridge.center.bridge import CenterBridge
from firmware_bridge.client import MqttClient
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts
from tests.brokers import Collector, publisher, send, unique, wait_until
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import actor, at, make_machine, make_member, make_site


@dataclass
class Lab:
    engine: Engine
    broker: str
    site: str
    gateway: str
    machine: str
    member_id: str
    member_name: str
    card: str
    clock: FakeClock
    bridge: CenterBridge
    edge: MqttClient
    watch: Collector
    boot: str = field(default_factory=lambda: unique("boot"))
    _seq: Any = field(default_factory=lambda: itertools.count(1))

    def topic(self, leaf: str, machine: str | None = None, gateway: str | None = None) -> str:
        gw, machine = gateway or self.gateway, machine or self.machine
        return {
            "event": topics.event,
            "telemetry": topics.telemetry,
            "availability": topics.availability,
            "ack": topics.ack,
        }[leaf](self.site, gw, machine)

    def event(
        self, event_type: str, data: dict[str, Any], *, event_id: str | None = None, seq: int | None = None
    ) -> dict[str, Any]:
        """Publish one event as a gateway would; returns its payload."""
        payload = {
            "event_id": event_id or unique("ev"),
            "boot_id": self.boot,
            "seq": seq if seq is not None else next(self._seq),
            "ts": format_ts(self.clock()),
            "type": event_type,
            "data": data,
        }
        send(self.edge, self.topic("event"), payload)
        return payload

    def command_topic(self) -> str:
        return topics.command(self.site, self.gateway, self.machine)

    def wait_command(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """The first command to the machine that matches."""
        found: list[dict[str, Any]] = []

        def seen(_: object) -> bool:
            found[:] = [c for c in self.watch.on(self.command_topic()) if predicate(c)]
            return bool(found)

        self.watch.wait_for(seen, timeout, "a matching command")
        return found[0]

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(sa.text(sql), params).scalar()


def build_lab(engine: Engine, broker: str, clock: FakeClock) -> tuple[str, str, str, str, str, str]:
    """A site, a laser on a gateway, and a member with a card and a booking under way."""
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session, id=unique("site"))
        gateway = unique("gw")
        laser = make_machine(session, site, gateway=gateway, grace_s=120)
        card = unique("C").upper().replace("-", "")[:12]
        member = make_member(session, card_uid=card)
        booking.book(
            session,
            actor(session, member),
            BookingCreate(resource_id=laser.id, start=at("2027-03-01 08:30"), end=at("2027-03-01 10:00")),
            NOW - timedelta(hours=2),
        )
        session.commit()
        return site.id, gateway, laser.id, member.id, member.name, card


@pytest.fixture
def lab(fresh_engine: Engine, broker_url: str) -> Iterator[Lab]:
    clock = FakeClock(NOW)
    site, gateway, machine, member_id, member_name, card = build_lab(fresh_engine, broker_url, clock)
    bridge = CenterBridge(fresh_engine, broker_url, client_id=unique("center"), sites=[site], clock=clock)
    bridge.start()
    assert bridge.wait_connected(20)
    edge = publisher(broker_url)
    with Collector(
        broker_url, [topics.commands_filter(site, gateway), topics.machine_status_filter(site)]
    ) as watch:
        lab = Lab(
            fresh_engine,
            broker_url,
            site,
            gateway,
            machine,
            member_id,
            member_name,
            card,
            clock,
            bridge,
            edge,
            watch,
        )
        # The gateway is born: its machine goes online.
        send(
            edge,
            topics.edge_state(site, gateway),
            {"state": "ready", "boot_id": lab.boot, "machines": [machine]},
            retain=False,
        )
        wait_until(
            lambda: lab.scalar("SELECT online FROM machine WHERE id = :m", m=machine) in (True, 1),
            what="the machine online",
        )
        try:
            yield lab
        finally:
            edge.stop()
            bridge.stop()


def status_payloads(lab: Lab) -> list[dict[str, Any]]:
    return [
        json.loads(m.payload)
        for m in lab.watch.messages
        if m.topic == topics.machine_status(lab.site, lab.machine)
    ]
