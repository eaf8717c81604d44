"""The gateway against the real broker: birth, heartbeat, wills, telemetry, commands and acks.

Every test has its own site, gateway and device names, so tests on the shared broker never meet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.client import MqttClient
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts, now_utc
from firmware_bridge.edge.config import GatewayConfig, MachineConfig
from firmware_bridge.edge.gateway import Gateway
from tests.brokers import Collector, publisher, send, unique, wait_until
from tests.clock import FakeClock
from tests.firmware_bridge.helpers import T0

pytestmark = pytest.mark.mqtt


@dataclass
class Lab:
    """A gateway with a Tasmota laser, a Shelly CNC and an OctoPrint printer, and its observers."""

    config: GatewayConfig
    gateway: Gateway
    canonical: Collector
    devices: Collector
    center: MqttClient
    tasmota: str
    shelly: str
    octoprint: str

    @property
    def site(self) -> str:
        return self.config.site

    @property
    def gw(self) -> str:
        return self.config.gateway

    def edge(self, machine: str, leaf: str) -> str:
        return f"fablab/v1/{self.site}/edge/{self.gw}/machine/{machine}/{leaf}"

    def command(self, machine: str, cmd: str, cmd_id: str, **fields: Any) -> None:
        body = {"cmd_id": cmd_id, "ts": format_ts(now_utc()), "cmd": cmd, **fields}
        send(self.center, topics.command(self.site, self.gw, machine), body)

    def acks(self, machine: str, count: int) -> list[str]:
        return [a["result"] for a in self.canonical.wait_on(self.edge(machine, "ack"), count)]

    def events(self, machine: str, count: int) -> list[dict[str, Any]]:
        return list(self.canonical.wait_on(self.edge(machine, "event"), count))


def make_config(broker_url: str, tmp_path: Path, **extra: Any) -> tuple[GatewayConfig, str, str, str]:
    tasmota, shelly = unique("tasmota"), unique("shellyplusplugs")
    octoprint = f"octoPrint/{unique('p')}"
    machines = [
        MachineConfig(machine="laser-1", adapter="tasmota", source=tasmota, busy_min_s=0, idle_min_s=0),
        MachineConfig(machine="cnc-1", adapter="shelly", source=shelly),
        MachineConfig(machine="printer-1", adapter="octoprint", source=octoprint),
    ]
    config = GatewayConfig(
        site=unique("site"),
        gateway=unique("gw"),
        broker=broker_url,
        store=tmp_path / "edge.sqlite3",
        machines=machines,
        reconnect_max_s=2,
        **extra,
    )
    return config, tasmota, shelly, octoprint


@pytest.fixture
def lab(broker_url: str, tmp_path: Path) -> Iterator[Lab]:
    config, tasmota, shelly, octoprint = make_config(broker_url, tmp_path, heartbeat_s=0.3)
    with (
        Collector(broker_url, [f"fablab/v1/{config.site}/#"]) as canonical,
        Collector(broker_url, [f"cmnd/{tasmota}/#", f"{shelly}/rpc"]) as devices,
    ):
        gateway = Gateway(config)
        gateway.start()
        center = publisher(broker_url)
        try:
            assert gateway.wait_ready(20)
            yield Lab(config, gateway, canonical, devices, center, tasmota, shelly, octoprint)
        finally:
            gateway.stop()
            # Leave no retained state behind on the shared broker.
            send(center, topics.edge_state(config.site, config.gateway), b"", retain=True)
            for machine in ("laser-1", "cnc-1", "printer-1"):
                send(center, topics.availability(config.site, config.gateway, machine), b"", retain=True)
            center.stop()


class TestPresence:
    def test_birth_lists_the_machines_and_heartbeats_follow(self, lab: Lab) -> None:
        state_topic = topics.edge_state(lab.site, lab.gw)
        (birth,) = lab.canonical.wait_on(state_topic)
        assert birth == {
            "state": "ready",
            "boot_id": lab.gateway.boot_id,
            "machines": ["cnc-1", "laser-1", "printer-1"],
        }
        beats = lab.canonical.wait_on(topics.heartbeat(lab.site, lab.gw), 2)
        assert {b["boot_id"] for b in beats} == {lab.gateway.boot_id}

    def test_a_clean_stop_says_lost(self, lab: Lab) -> None:
        lab.gateway.stop()
        states = lab.canonical.wait_on(topics.edge_state(lab.site, lab.gw), 2)
        assert states[-1] == {"state": "lost", "boot_id": lab.gateway.boot_id}

    def test_device_wills_are_mirrored(self, lab: Lab) -> None:
        send(lab.center, f"tele/{lab.tasmota}/LWT", b"Offline", retain=True)
        send(lab.center, f"{lab.shelly}/online", b"true", retain=True)
        send(lab.center, f"{lab.octoprint}/mqtt", b"disconnected", retain=True)
        assert lab.canonical.wait_on(lab.edge("laser-1", "availability"))[0]["online"] is False
        assert lab.canonical.wait_on(lab.edge("cnc-1", "availability"))[0]["online"] is True
        assert lab.canonical.wait_on(lab.edge("printer-1", "availability"))[0]["online"] is False
        for topic in (f"tele/{lab.tasmota}/LWT", f"{lab.shelly}/online", f"{lab.octoprint}/mqtt"):
            send(lab.center, topic, b"", retain=True)


class TestTranslation:
    def test_plug_readings_become_telemetry_and_sessions(self, lab: Lab) -> None:
        sensor = {"Time": "2026-03-02T14:15:00", "ENERGY": {"Power": 480, "Total": 1.5}}
        send(lab.center, f"tele/{lab.tasmota}/SENSOR", sensor, qos=0)
        (telemetry,) = lab.canonical.wait_on(lab.edge("laser-1", "telemetry"))
        assert telemetry["power_w"] == 480.0
        assert telemetry["energy_wh_total"] == 1500.0
        assert telemetry["boot_id"] == lab.gateway.boot_id
        started, busy = lab.events("laser-1", 2)
        assert started["type"] == "session.started"
        assert busy["data"] == {"session_id": started["data"]["session_id"], "activity": "busy"}

    def test_bad_device_input_is_counted_and_dropped(self, lab: Lab) -> None:
        send(lab.center, f"tele/{lab.tasmota}/SENSOR", b"{garbage")
        send(lab.center, f"tele/{lab.tasmota}/SENSOR", {"ENERGY": {"Power": 5}})
        (telemetry,) = lab.canonical.wait_on(lab.edge("laser-1", "telemetry"))
        assert telemetry["power_w"] == 5.0
        assert lab.gateway.stats["dropped_bad_device_payload"] == 1


class TestCommands:
    def test_lock_becomes_tasmota_power_off(self, lab: Lab) -> None:
        lab.command("laser-1", "lock", "c-lock-1", reason="manager", grace_s=0)
        assert lab.devices.wait_on(f"cmnd/{lab.tasmota}/POWER") == ["OFF"]
        assert lab.acks("laser-1", 1) == ["applied"]

    def test_lock_becomes_shelly_switch_set_off(self, lab: Lab) -> None:
        lab.command("cnc-1", "lock", "c-lock-2", reason="maintenance", grace_s=0)
        (rpc,) = lab.devices.wait_on(f"{lab.shelly}/rpc")
        assert rpc["method"] == "Switch.Set"
        assert rpc["params"] == {"id": 0, "on": False}
        assert lab.acks("cnc-1", 1) == ["applied"]

    def test_the_local_deadline_switches_off_with_the_center_gone(self, lab: Lab) -> None:
        lab.command(
            "laser-1",
            "unlock",
            "c-unlock-1",
            session_id="s-deadline",
            member="m-1",
            max_duration_s=1,
        )
        lab.center.stop()  # the center is gone: nothing more will come
        assert lab.devices.wait_on(f"cmnd/{lab.tasmota}/POWER", 2) == ["ON", "OFF"]
        started, stopped = lab.events("laser-1", 2)
        assert started["data"] == {"session_id": "s-deadline"}
        assert stopped["type"] == "session.stopped"
        assert stopped["data"]["stop_type"] == "deadline"
        lab.center.start()
        assert lab.center.wait_connected(20)

    def test_a_repeated_cmd_id_is_acked_duplicate_and_not_executed(
        self, lab: Lab, broker_url: str, tmp_path: Path
    ) -> None:
        unlock = {"session_id": "s-dup", "member": "m-1", "max_duration_s": 600}
        lab.command("laser-1", "unlock", "c-dup-1", **unlock)
        lab.command("laser-1", "unlock", "c-dup-1", **unlock)
        assert lab.acks("laser-1", 2) == ["applied", "duplicate"]
        lab.command("laser-1", "lock", "c-dup-2", reason="booking_ended", grace_s=0)
        assert lab.acks("laser-1", 3)[-1] == "applied"
        # The device heard one ON and one OFF: the repeat was not executed.
        assert lab.devices.wait_on(f"cmnd/{lab.tasmota}/POWER", 2) == ["ON", "OFF"]
        # The command log is on disk: a restarted gateway still knows c-dup-1.
        lab.gateway.stop()
        restarted = Gateway(lab.config)
        restarted.start()
        try:
            assert restarted.wait_ready(20)
            lab.command("laser-1", "unlock", "c-dup-1", **unlock)
            assert lab.acks("laser-1", 4)[-1] == "duplicate"
        finally:
            restarted.stop()
        assert lab.devices.on(f"cmnd/{lab.tasmota}/POWER") == ["ON", "OFF"]

    def test_an_invalid_command_is_rejected_by_its_id(self, lab: Lab) -> None:
        lab.command("laser-1", "lock", "c-bad-1", reason="because", grace_s=0)
        (ack,) = lab.canonical.wait_on(lab.edge("laser-1", "ack"))
        assert ack["cmd_id"] == "c-bad-1"
        assert ack["result"] == "rejected"
        assert "reason" in ack["detail"]
        assert lab.devices.on(f"cmnd/{lab.tasmota}/POWER") == []

    def test_every_command_kind_is_acked(self, lab: Lab) -> None:
        lab.command("cnc-1", "deny", "c-k-1", request_id="r-1", reason="no_training")
        lab.command("cnc-1", "warn", "c-k-2", session_id="s-1", message="5 minutes left", seconds_left=300)
        lab.command("printer-1", "unlock", "c-k-3", session_id="s-2", member="m-2", max_duration_s=60)
        lab.command("printer-1", "lock", "c-k-4", reason="closed", grace_s=30)
        assert lab.acks("cnc-1", 2) == ["applied", "applied"]
        assert lab.acks("printer-1", 2) == ["applied", "applied"]
        acks = lab.canonical.on(lab.edge("printer-1", "ack"))
        assert json.dumps(acks[0]).count("no relay") == 1


class TestClock:
    def test_a_clock_stepped_back_does_not_stall_the_deadline(self, broker_url: str, tmp_path: Path) -> None:
        clock = FakeClock(T0)
        config, tasmota, _, _ = make_config(broker_url, tmp_path)
        with Collector(broker_url, [f"cmnd/{tasmota}/#"]) as devices:
            gateway = Gateway(config, clock=clock, tick_s=0.05)
            gateway.start()
            center = publisher(broker_url)
            try:
                assert gateway.wait_ready(20)
                unlock = {
                    "cmd_id": "c-clock-1",
                    "ts": format_ts(clock()),
                    "cmd": "unlock",
                    "session_id": "s-clock",
                    "member": "m-1",
                    "max_duration_s": 600,
                }
                send(center, topics.command(config.site, config.gateway, "laser-1"), unlock)
                assert devices.wait_on(f"cmnd/{tasmota}/POWER") == ["ON"]
                ticks = gateway.stats["ticks"]
                clock.advance(timedelta(hours=-1))  # NTP steps the wall clock back an hour
                wait_until(lambda: gateway.stats["ticks"] > ticks, what="a tick after the step back")
                clock.advance(timedelta(hours=1, minutes=10))
                assert devices.wait_on(f"cmnd/{tasmota}/POWER", 2) == ["ON", "OFF"]
            finally:
                center.stop()
                gateway.stop()
