"""Never lose an event: the broker SIGKILLed during a job, the gateway restarted, the broker back.

The test owns its Mosquitto (a free port, persistence saved at every change). The gateway runs on a
clock the test moves, so the events made during the outage (a deadline, an idle stop) happen exactly
when the test says, whatever the machine's load.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts
from firmware_bridge.edge.config import GatewayConfig, MachineConfig
from firmware_bridge.edge.gateway import Gateway
from tests.brokers import Collector, Mosquitto, publisher, send, unique, wait_until
from tests.clock import FakeClock
from tests.firmware_bridge.helpers import T0

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def events_of(collector: Collector) -> list[dict[str, Any]]:
    return [json.loads(m.payload) | {"_topic": m.topic} for m in collector.messages]


class TestStoreAndForward:
    def test_every_event_arrives_once_and_in_order(self, own_broker: Mosquitto, tmp_path: Path) -> None:
        clock = FakeClock(T0)
        site, gw = unique("site"), unique("gw")
        plug1, plug2 = unique("tasmota"), unique("tasmota")
        thresholds = {"busy_min_s": 0, "idle_min_s": 0, "idle_stop_s": 300}
        config = GatewayConfig(
            site=site,
            gateway=gw,
            broker=own_broker.url,
            store=tmp_path / "edge.sqlite3",
            reconnect_max_s=1,
            machines=[
                MachineConfig(machine="laser-1", adapter="tasmota", source=plug1, **thresholds),
                MachineConfig(machine="laser-2", adapter="tasmota", source=plug2, **thresholds),
            ],
        )
        event_filter = f"fablab/v1/{site}/edge/{gw}/machine/+/event"
        # The center's consumer: a persistent session that outlives the broker's death.
        center_id = unique("center")
        with Collector(own_broker.url, [event_filter], client_id=center_id, persistent=True) as c:
            first = Gateway(config, clock=clock, tick_s=0.05)
            first.start()
            assert first.wait_ready(20)
            device = publisher(own_broker.url)
            # laser-1: granted by the center for 600 s, and cutting.
            unlock = {
                "cmd_id": "c-1",
                "ts": format_ts(clock()),
                "cmd": "unlock",
                "session_id": "s-granted",
                "member": "m-1",
                "max_duration_s": 600,
            }
            send(device, topics.command(site, gw, "laser-1"), unlock)
            send(device, f"tele/{plug1}/SENSOR", {"ENERGY": {"Power": 520, "Total": 10.0}})
            # laser-2: a job detected from power, then idle.
            send(device, f"tele/{plug2}/SENSOR", {"ENERGY": {"Power": 610, "Total": 20.0}})
            c.wait_for(lambda ms: len(ms) >= 4, what="both sessions started and busy")
            clock.advance(timedelta(minutes=1))
            send(device, f"tele/{plug2}/SENSOR", {"ENERGY": {"Power": 15, "Total": 20.01}})
            c.wait_for(lambda ms: len(ms) >= 5, what="the five events before the outage")
            wait_until(lambda: first.outbox_size() == 0, what="every PUBACK before the outage")
            # Checkpoint through the center's own connection: the broker reads its PUBACKs for the
            # five events before the checkpoint, so the saved state owes it nothing. (Had the
            # broker saved an unacknowledged delivery, it would redeliver it: at least once, which
            # the center absorbs by `event_id`; this test wants to see exactly once.)
            own_broker.checkpoint(c.client)
            device.stop()

            own_broker.kill()
            # During the outage: laser-1's deadline passes, laser-2 idles out. The gateway
            # cannot send either event; both wait on disk.
            clock.advance(timedelta(minutes=10))
            wait_until(lambda: first.outbox_size() == 2, what="two events kept in the outbox")
            first.stop()

            second = Gateway(config, clock=clock, tick_s=0.05)
            second.start()
            assert second.outbox_size() == 2
            assert second.boot_id != first.boot_id
            own_broker.start()
            assert second.wait_ready(30)
            device = publisher(own_broker.url)
            clock.advance(timedelta(seconds=10))
            send(device, f"tele/{plug2}/SENSOR", {"ENERGY": {"Power": 700, "Total": 20.02}})
            wait_until(lambda: second.stats["events"] == 2, what="a new session after the outage")
            total = first.stats["events"] + second.stats["events"]
            c.wait_for(
                lambda ms: len({json.loads(m.payload)["event_id"] for m in ms}) >= total,
                timeout=30,
                what=f"{total} distinct events",
            )
            wait_until(lambda: second.outbox_size() == 0, what="the outbox to drain")
            device.stop()
            second.stop()

        received = events_of(c)
        assert len(received) == total == 9
        assert len({e["event_id"] for e in received}) == total, "an event arrived twice"
        by_machine: dict[str, list[dict[str, Any]]] = {}
        for event in received:
            machine = topics.parse(event["_topic"]).machine
            assert machine is not None
            by_machine.setdefault(machine, []).append(event)
        for events in by_machine.values():
            keys = [(e["boot_id"] != first.boot_id, e["seq"]) for e in events]
            assert keys == sorted(keys), "events arrived out of order"
        assert [(e["type"], e["data"].get("stop_type")) for e in by_machine["laser-1"]] == [
            ("session.started", None),
            ("session.activity", None),
            ("session.stopped", "deadline"),
        ]
        assert [(e["type"], e["boot_id"] == second.boot_id) for e in by_machine["laser-2"]] == [
            ("session.started", False),
            ("session.activity", False),
            ("session.activity", False),
            ("session.stopped", False),
            ("session.started", True),
            ("session.activity", True),
        ]
        stopped = by_machine["laser-2"][3]["data"]
        assert stopped["stop_type"] == "idle"
        assert stopped["duration_s"] == 360.0  # busy 60 s, then idle until idle_stop_s (300 s)
