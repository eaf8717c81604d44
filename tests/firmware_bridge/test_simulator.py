"""The simulator: devices that behave like the real ones, and a whole lab through a gateway."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts, now_utc
from firmware_bridge.edge.adapters.base import NativePublish
from firmware_bridge.sim.demo import EdgeDemo
from firmware_bridge.sim.devices import DeviceSpec, OctoPrintPrinter, ShellyPlug, TasmotaPlug
from firmware_bridge.sim.fleets import demo_fleet
from firmware_bridge.sim.simulator import failing_print, laser_job, parse_scenario, plug_offline
from tests.brokers import Collector, publisher, send, unique
from tests.firmware_bridge.helpers import at


def bodies(messages: list[NativePublish]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for message in messages:
        try:
            out[message.topic] = json.loads(message.payload)
        except ValueError:
            out[message.topic] = message.payload.decode()
    return out


class TestPlugs:
    def test_a_tasmota_plug_switched_off_reads_zero_watts(self) -> None:
        plug = TasmotaPlug(DeviceSpec("laser-1", "laser", "tasmota", "t1"), random.Random(1))
        plug.step(at(0))
        plug.start_job(at(0), 600, "cut")
        working = bodies(plug.step(at(10)))["tele/t1/SENSOR"]["ENERGY"]["Power"]
        answer = bodies(plug.on_command("cmnd/t1/POWER", b"OFF", at(11)))
        assert answer == {"stat/t1/RESULT": {"POWER": "OFF"}, "stat/t1/POWER": "OFF"}
        report = bodies(plug.step(at(12)))
        assert working > 60
        assert report["tele/t1/SENSOR"]["ENERGY"]["Power"] == 0
        assert report["tele/t1/STATE"]["POWER"] == "OFF"
        assert not plug.busy  # the job was cut short

    def test_a_laser_job_draws_busy_power_and_idles_after(self) -> None:
        plug = TasmotaPlug(DeviceSpec("laser-1", "laser", "tasmota", "t1"), random.Random(2))
        plug.start_job(at(0), 120, "cut")
        during = []
        for t in range(1, 120, 7):
            plug.step(at(t))
            during.append(plug.power_w)
        plug.step(at(121))
        assert min(during) > 60  # pauses included: above busy_on_w
        assert plug.power_w < 25
        assert plug.jobs_done == 1

    def test_a_shelly_plug_answers_switch_set(self) -> None:
        plug = ShellyPlug(DeviceSpec("cnc-1", "cnc", "shelly", "sh1"), random.Random(3))
        request = {"id": 7, "src": "fablab-gw-1", "method": "Switch.Set", "params": {"id": 0, "on": False}}
        answer = bodies(plug.on_command("sh1/rpc", json.dumps(request).encode(), at(0)))
        assert answer["fablab-gw-1/rpc"] == {
            "id": 7,
            "src": "sh1",
            "dst": "fablab-gw-1",
            "result": {"was_on": True},
        }
        assert answer["sh1/status/switch:0"]["output"] is False
        assert answer["sh1/status/switch:0"]["apower"] == 0

    def test_an_offline_plug_is_silent_and_deaf(self) -> None:
        plug = TasmotaPlug(DeviceSpec("laser-1", "laser", "tasmota", "t1"), random.Random(4))
        assert bodies(plug.set_online(at(0), False)) == {"tele/t1/LWT": "Offline"}
        assert plug.step(at(1)) == []
        assert plug.on_command("cmnd/t1/POWER", b"ON", at(2)) == []


class TestPrinter:
    def test_a_print_fails_at_40_percent(self) -> None:
        spec = DeviceSpec("printer-1", "printer", "octoprint", "octoPrint/p1")
        printer = OctoPrintPrinter(spec, random.Random(5))
        started = bodies(printer.start_job(at(0), 1000, "bracket.gcode", fail_at_pct=40))
        assert started["octoPrint/p1/event/PrintStarted"]["name"] == "bracket.gcode"
        progress = bodies(printer.step(at(390)))
        assert progress["octoPrint/p1/progress/printing"]["progress"] == 39
        failed = bodies(printer.step(at(401)))
        assert failed["octoPrint/p1/event/PrintFailed"]["reason"] == "error"
        assert "Thermal" in failed["octoPrint/p1/event/Error"]["error"]
        assert not printer.busy
        back = bodies(printer.step(at(470)))
        assert "octoPrint/p1/event/Connected" in back


class TestScenarios:
    def test_builders_and_specs(self) -> None:
        assert laser_job("laser-1")[0].duration_s == 12 * 60
        assert failing_print("printer-1")[0].fail_at_pct == 40
        assert [s.action for s in plug_offline("cnc-1", 10, 60)] == ["offline", "online"]
        assert parse_scenario("laser-job=laser-1@90")[0].at_s == 90
        with pytest.raises(ValueError, match="not a number"):
            parse_scenario("laser-job=laser-1@soon")

    def test_demo_fleet_matches_its_gateway(self) -> None:
        config, fleet = demo_fleet(
            "biic",
            "gw-demo",
            "mqtt://127.0.0.1:1884",
            [("laser-1", "laser"), ("cnc-1", "cnc"), ("printer-1", "3d_printer")],
            time_scale=10,
        )
        assert [(m.machine, m.adapter, m.source) for m in config.machines] == [
            (d.machine, d.dialect, d.source) for d in fleet.devices
        ]
        assert [d.dialect for d in fleet.devices] == ["tasmota", "shelly", "octoprint"]
        assert config.machines[0].busy_min_s == 0.5  # 5 s of simulated time at x10

    def test_demo_fleet_takes_the_registered_adapter(self) -> None:
        config, fleet = demo_fleet(
            "biic",
            "gw-demo",
            "mqtt://127.0.0.1:1884",
            [("laser-3", "laser")],
            adapters={"laser-3": "shelly"},
        )
        assert (config.machines[0].adapter, fleet.devices[0].dialect) == ("shelly", "shelly")
        with pytest.raises(ValueError, match="no 'native' devices"):
            demo_fleet("biic", "gw", "mqtt://h", [("x", "laser")], adapters={"x": "native"})


@pytest.fixture
def demo(broker_url: str, tmp_path: Path) -> Iterator[EdgeDemo]:
    site = unique("sim")
    scenario = [
        *laser_job("laser-1", at_s=30),
        *failing_print("printer-1", at_s=30, minutes=20),
        *plug_offline("cnc-1", at_s=60, for_s=None),
    ]
    demo = EdgeDemo(
        site,
        unique("gw"),
        broker_url,
        [("laser-1", "laser"), ("cnc-1", "cnc"), ("printer-1", "printer"), ("laser-2", "laser")],
        state_dir=tmp_path,
        time_scale=120,
        period_s=0.25,
        random_activity=False,
        seed=7,
        scenario=scenario,
    )
    yield demo
    demo.stop()
    # Leave no retained wills or states behind on the shared broker.
    site, gw = demo.config.site, demo.config.gateway
    retained = [topics.edge_state(site, gw)]
    for spec in demo.fleet.devices:
        retained.append(topics.availability(site, gw, spec.machine))
        retained += [m.topic for m in demo.simulator.devices[spec.machine].will(False)]
    cleaner = publisher(broker_url)
    for topic in retained:
        send(cleaner, topic, b"", retain=True)
    cleaner.stop()


@pytest.mark.mqtt
@pytest.mark.slow
class TestWholeLab:
    def test_scripted_scenarios_come_out_canonical(self, demo: EdgeDemo, broker_url: str) -> None:
        site, gw = demo.config.site, demo.config.gateway

        def edge(machine: str, leaf: str) -> str:
            return f"fablab/v1/{site}/edge/{gw}/machine/{machine}/{leaf}"

        with Collector(broker_url, [f"fablab/v1/{site}/#"]) as lab:
            demo.start()
            assert demo.wait_ready(20)
            laser = lab.wait_on(edge("laser-1", "event"), 4, timeout=60)
            assert [e["type"] for e in laser] == [
                "session.started",
                "session.activity",
                "session.activity",
                "session.stopped",
            ]
            assert [e["data"].get("activity") for e in laser[1:3]] == ["busy", "idle"]
            assert laser[3]["data"]["stop_type"] == "idle"
            assert laser[3]["data"]["energy_wh"] > 0
            printer = lab.wait_on(edge("printer-1", "event"), 6, timeout=60)
            assert [e["type"] for e in printer[:6]] == [
                "session.started",
                "session.activity",
                "job.started",
                "fault.raised",
                "job.failed",
                "session.stopped",
            ]
            assert printer[4]["data"]["reason"] == "error"
            offline = lab.wait_for(
                lambda _: (
                    {"online": False}
                    in [{"online": a["online"]} for a in lab.on(edge("cnc-1", "availability"))]
                ),
                what="cnc-1 offline",
            )
            assert offline

    def test_a_lock_switches_the_simulated_plug_off(self, demo: EdgeDemo, broker_url: str) -> None:
        site, gw = demo.config.site, demo.config.gateway
        telemetry = f"fablab/v1/{site}/edge/{gw}/machine/laser-2/telemetry"
        with Collector(broker_url, [telemetry]) as lab:
            demo.start()
            assert demo.wait_ready(20)
            lab.wait_on(telemetry, 1)
            center = publisher(broker_url)
            try:
                lock = {
                    "cmd_id": unique("c"),
                    "ts": format_ts(now_utc()),
                    "cmd": "lock",
                    "reason": "manager",
                    "grace_s": 0,
                }
                send(center, topics.command(site, gw, "laser-2"), lock)
            finally:
                center.stop()
            lab.wait_for(
                lambda _: any(
                    t.get("relay_on") is False and t.get("power_w") == 0 for t in lab.on(telemetry)
                ),
                what="laser-2 reading 0 W with its relay off",
            )
