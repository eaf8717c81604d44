"""Golden tests per dialect: real device payloads in, the exact canonical messages out.

Each test feeds a machine runtime (adapter + usage tracker + stamper, with a fixed boot id and
deterministic ids) the payloads a real device publishes, at given instants, and compares every
publication, topic and JSON body, with what the contract says must come out.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from firmware_bridge.contract import messages as m
from firmware_bridge.edge.adapters import BadPayload
from tests.firmware_bridge.helpers import T0, at, decoded, runtime

EDGE = "fablab/v1/biic/edge/gw-1/machine"


def ts(seconds: float) -> str:
    return m.format_ts(at(seconds))


def unix(seconds: float) -> float:
    return at(seconds).timestamp()


def payload(value: Any) -> bytes:
    return json.dumps(value).encode()


class TestTasmota:
    SENSOR: ClassVar[dict[str, Any]] = {
        "Time": "2026-03-02T14:15:02",
        "ENERGY": {
            "TotalStartTime": "2025-06-01T10:00:00",
            "Total": 12.345,
            "Yesterday": 1.204,
            "Today": 0.512,
            "Period": 3,
            "Power": 540,
            "ApparentPower": 561,
            "ReactivePower": 152,
            "Factor": 0.96,
            "Voltage": 229,
            "Current": 2.448,
        },
    }

    def test_lwt_becomes_availability(self) -> None:
        laser = runtime("tasmota", "tasmota_laser1")
        out = laser.handle_native("tele/tasmota_laser1/LWT", b"Online", at(0))
        assert decoded(out) == [(f"{EDGE}/laser-1/availability", {"online": True, "ts": ts(0)})]

    def test_sensor_becomes_telemetry_in_watts_and_watt_hours(self) -> None:
        laser = runtime("tasmota", "tasmota_laser1")
        out = laser.handle_native("tele/tasmota_laser1/SENSOR", payload(self.SENSOR), at(2))
        assert decoded(out) == [
            (
                f"{EDGE}/laser-1/telemetry",
                {
                    "ts": ts(2),
                    "boot_id": "boot-1",
                    "seq": 1,
                    "power_w": 540.0,
                    "energy_wh_total": 12345.0,
                    "activity": "idle",
                    "relay_on": True,
                    "device_ts": "2026-03-02T14:15:02",
                },
            )
        ]

    def test_a_job_from_power_on_to_relay_off(self) -> None:
        laser = runtime("tasmota", "tasmota_laser1")
        state = {"Time": "2026-03-02T14:15:01", "Uptime": "0T01:00:00", "POWER": "ON"}
        first = laser.handle_native("tele/tasmota_laser1/STATE", payload(state), at(1))
        assert decoded(first) == [
            (
                f"{EDGE}/laser-1/telemetry",
                {
                    "ts": ts(1),
                    "boot_id": "boot-1",
                    "seq": 1,
                    "activity": "idle",
                    "relay_on": True,
                    "device_ts": "2026-03-02T14:15:01",
                },
            )
        ]
        laser.handle_native("tele/tasmota_laser1/SENSOR", payload(self.SENSOR), at(2))
        later = {**self.SENSOR, "ENERGY": {**self.SENSOR["ENERGY"], "Power": 560, "Total": 12.346}}
        busy = laser.handle_native("tele/tasmota_laser1/SENSOR", payload(later), at(7))
        assert decoded(busy)[:2] == [
            (
                f"{EDGE}/laser-1/event",
                {
                    "event_id": "ev-1",
                    "boot_id": "boot-1",
                    "seq": 1,
                    "ts": ts(2),  # dated at the onset of the busy run, not its confirmation
                    "type": "session.started",
                    "data": {"session_id": "s-1"},
                },
            ),
            (
                f"{EDGE}/laser-1/event",
                {
                    "event_id": "ev-2",
                    "boot_id": "boot-1",
                    "seq": 2,
                    "ts": ts(2),
                    "type": "session.activity",
                    "data": {"session_id": "s-1", "activity": "busy"},
                },
            ),
        ]
        assert decoded(busy)[2][1]["activity"] == "busy"
        off = laser.handle_native("stat/tasmota_laser1/POWER", b"OFF", at(10))
        assert decoded(off) == [
            (
                f"{EDGE}/laser-1/event",
                {
                    "event_id": "ev-3",
                    "boot_id": "boot-1",
                    "seq": 3,
                    "ts": ts(10),
                    "type": "session.stopped",
                    "data": {
                        "session_id": "s-1",
                        "stop_type": "normal",
                        "duration_s": 8.0,
                        "busy_s": 8.0,
                        "energy_wh": 1.0,  # the plug's own counter: 12.345 -> 12.346 kWh
                    },
                },
            ),
            (
                f"{EDGE}/laser-1/telemetry",
                {"ts": ts(10), "boot_id": "boot-1", "seq": 4, "activity": "off", "relay_on": False},
            ),
        ]

    def test_result_and_other_topics(self) -> None:
        laser = runtime("tasmota", "tasmota_laser1")
        result = laser.handle_native("stat/tasmota_laser1/RESULT", b'{"POWER":"OFF"}', at(0))
        assert decoded(result)[0][1]["relay_on"] is False
        assert laser.handle_native("stat/tasmota_laser1/RESULT", b'{"Dimmer":40}', at(0)) == []
        assert laser.handle_native("tele/tasmota_laser1/INFO1", b'{"Module":"Sonoff"}', at(0)) == []
        sensor_without_energy = b'{"Time":"2026-03-02T14:15:00","DS18B20":{"Temperature":24.1}}'
        assert laser.handle_native("tele/tasmota_laser1/SENSOR", sensor_without_energy, at(0)) == []

    def test_commands_in_tasmota_words(self) -> None:
        laser = runtime("tasmota", "tasmota_laser1")
        assert [(p.topic, p.payload) for p in laser.adapter.set_relay(False)] == [
            ("cmnd/tasmota_laser1/POWER", b"OFF")
        ]
        assert [(p.topic, p.payload) for p in laser.adapter.set_relay(True)] == [
            ("cmnd/tasmota_laser1/POWER", b"ON")
        ]


class TestShelly:
    def test_status_and_notifications(self) -> None:
        cnc = runtime("shelly", "shellyplusplugs-a8032ab1c2d4", machine="cnc-1")
        online = cnc.handle_native("shellyplusplugs-a8032ab1c2d4/online", b"true", at(0))
        assert decoded(online) == [(f"{EDGE}/cnc-1/availability", {"online": True, "ts": ts(0)})]
        status = {
            "id": 0,
            "source": "init",
            "output": True,
            "apower": 0.0,
            "voltage": 229.4,
            "freq": 50.0,
            "current": 0.0,
            "aenergy": {"total": 5210.123, "by_minute": [0.0, 0.0, 0.0], "minute_ts": 1772435700},
            "temperature": {"tC": 38.2, "tF": 100.8},
        }
        out = cnc.handle_native("shellyplusplugs-a8032ab1c2d4/status/switch:0", payload(status), at(1))
        assert decoded(out) == [
            (
                f"{EDGE}/cnc-1/telemetry",
                {
                    "ts": ts(1),
                    "boot_id": "boot-1",
                    "seq": 1,
                    "power_w": 0.0,
                    "energy_wh_total": 5210.123,
                    "activity": "idle",
                    "relay_on": True,
                },
            )
        ]
        notify = {
            "src": "shellyplusplugs-a8032ab1c2d4",
            "dst": "shellyplusplugs-a8032ab1c2d4/events",
            "method": "NotifyStatus",
            "params": {"ts": unix(1.52), "switch:0": {"id": 0, "apower": 950.4}},
        }
        out = cnc.handle_native("shellyplusplugs-a8032ab1c2d4/events/rpc", payload(notify), at(2))
        assert decoded(out) == [
            (
                f"{EDGE}/cnc-1/telemetry",
                {
                    "ts": ts(2),
                    "boot_id": "boot-1",
                    "seq": 2,
                    "power_w": 950.4,
                    "activity": "idle",
                    "relay_on": True,
                    "device_ts": "2026-03-02T07:15:01.520Z",
                },
            )
        ]

    def test_notifications_about_other_components_say_nothing(self) -> None:
        cnc = runtime("shelly", "shellyplusplugs-a8032ab1c2d4", machine="cnc-1")
        other = {"method": "NotifyStatus", "params": {"ts": unix(0), "sys": {"uptime": 12}}}
        topic = "shellyplusplugs-a8032ab1c2d4/events/rpc"
        assert cnc.handle_native(topic, payload(other), at(0)) == []
        event = {"method": "NotifyEvent", "params": {"events": [{"event": "btn_down"}]}}
        assert cnc.handle_native(topic, payload(event), at(0)) == []

    def test_switch_set_is_json_rpc(self) -> None:
        cnc = runtime("shelly", "shellyplusplugs-a8032ab1c2d4", machine="cnc-1")
        first, second = cnc.adapter.set_relay(False)[0], cnc.adapter.set_relay(True)[0]
        assert first.topic == "shellyplusplugs-a8032ab1c2d4/rpc"
        assert json.loads(first.payload) == {
            "id": 1,
            "src": "fablab-gw-1",
            "method": "Switch.Set",
            "params": {"id": 0, "on": False},
        }
        assert json.loads(second.payload)["id"] == 2
        assert json.loads(second.payload)["params"] == {"id": 0, "on": True}


class TestOctoPrint:
    BASE = "octoPrint/prusa-1"

    def event(self, event: str, seconds: float, **fields: Any) -> tuple[str, bytes]:
        body = {"_event": event, "_timestamp": int(unix(seconds)), **fields}
        return f"{self.BASE}/event/{event}", payload(body)

    def test_a_print_that_fails(self) -> None:
        printer = runtime("octoprint", self.BASE, machine="printer-1")
        assert decoded(printer.handle_native(f"{self.BASE}/mqtt", b"connected", at(0))) == [
            (f"{EDGE}/printer-1/availability", {"online": True, "ts": ts(0)})
        ]
        job = {"name": "bracket_v3.gcode", "path": "bracket_v3.gcode", "origin": "local"}
        started = printer.handle_native(*self.event("PrintStarted", 0, **job, size=1843220), at(1))
        assert decoded(started) == [
            (
                f"{EDGE}/printer-1/event",
                {
                    "event_id": "ev-1",
                    "boot_id": "boot-1",
                    "seq": 1,
                    "ts": ts(1),
                    "type": "session.started",
                    "data": {"session_id": "s-1"},
                },
            ),
            (
                f"{EDGE}/printer-1/event",
                {
                    "event_id": "ev-2",
                    "boot_id": "boot-1",
                    "seq": 2,
                    "ts": ts(1),
                    "type": "session.activity",
                    "data": {"session_id": "s-1", "activity": "busy"},
                },
            ),
            (
                f"{EDGE}/printer-1/event",
                {
                    "event_id": "ev-3",
                    "boot_id": "boot-1",
                    "seq": 3,
                    "ts": ts(1),
                    "device_ts": ts(0),  # the printer's clock, kept, not trusted
                    "type": "job.started",
                    "data": {"job": "bracket_v3.gcode"},
                },
            ),
        ]
        progress = {"location": "local", "path": "bracket_v3.gcode", "progress": 40}
        progress["_timestamp"] = int(unix(600))
        out = printer.handle_native(f"{self.BASE}/progress/printing", payload(progress), at(601))
        assert decoded(out) == [
            (
                f"{EDGE}/printer-1/telemetry",
                {
                    "ts": ts(601),
                    "boot_id": "boot-1",
                    "seq": 1,
                    "activity": "busy",
                    "progress_pct": 40.0,
                    "device_ts": ts(600),
                },
            )
        ]
        tool = {"_timestamp": int(unix(602)), "actual": 209.8, "target": 210.0}
        out = printer.handle_native(f"{self.BASE}/temperature/tool0", payload(tool), at(602))
        assert decoded(out)[0][1]["temp_c"] == 209.8
        bed = {"_timestamp": int(unix(602)), "actual": 59.9, "target": 60.0}
        out = printer.handle_native(f"{self.BASE}/temperature/bed", payload(bed), at(602))
        assert decoded(out)[0][1]["bed_temp_c"] == 59.9
        error = printer.handle_native(
            *self.event("Error", 603, error="Thermal Runaway, system stopped!"), at(604)
        )
        assert decoded(error)[0][1]["type"] == "fault.raised"
        assert decoded(error)[0][1]["data"] == {
            "code": "printer_error",
            "message": "Thermal Runaway, system stopped!",
        }
        failed = printer.handle_native(
            *self.event("PrintFailed", 603, **job, time=602.75, reason="error"), at(604)
        )
        assert [body for _, body in decoded(failed)] == [
            {
                "event_id": "ev-5",
                "boot_id": "boot-1",
                "seq": 5,
                "ts": ts(604),
                "device_ts": ts(603),
                "type": "job.failed",
                "data": {"job": "bracket_v3.gcode", "duration_s": 602.75, "reason": "error"},
            },
            {
                "event_id": "ev-6",
                "boot_id": "boot-1",
                "seq": 6,
                "ts": ts(604),
                "type": "session.stopped",
                "data": {
                    "session_id": "s-1",
                    "stop_type": "normal",
                    "duration_s": 603.0,
                    "busy_s": 603.0,
                    "energy_wh": 0.0,
                },
            },
        ]
        back = printer.handle_native(*self.event("Connected", 700, port="/dev/ttyACM0"), at(700))
        assert decoded(back)[0][1]["type"] == "fault.cleared"

    def test_a_print_that_is_done(self) -> None:
        printer = runtime("octoprint", self.BASE, machine="printer-1")
        job = {"name": "gear.gcode", "path": "gear.gcode", "origin": "local"}
        printer.handle_native(*self.event("PrintStarted", 0, **job), at(0))
        done = printer.handle_native(*self.event("PrintDone", 3600, **job, time=3600.0), at(3600))
        assert [body["type"] for _, body in decoded(done)] == ["job.finished", "session.stopped"]
        assert decoded(done)[0][1]["data"] == {"job": "gear.gcode", "duration_s": 3600.0}
        assert decoded(done)[1][1]["data"]["duration_s"] == 3600.0

    def test_other_events_say_nothing(self) -> None:
        printer = runtime("octoprint", self.BASE, machine="printer-1")
        assert printer.handle_native(*self.event("ZChange", 0, new=0.4, old=0.2), at(0)) == []
        assert printer.handle_native(*self.event("Connected", 0, port="/dev/ttyACM0"), at(0)) == []


class TestNative:
    PREFIX = "fablab-native/door-7"

    def test_events_get_the_gateway_envelope_and_clock(self) -> None:
        reader = runtime("native", self.PREFIX, machine="laser-2")
        body = {
            "type": "access.requested",
            "data": {"request_id": "r-1", "card_uid": "04A1B2C3"},
            "ts": "2026-03-02T07:14:59.000Z",
        }
        out = reader.handle_native(f"{self.PREFIX}/event", payload(body), at(0))
        assert decoded(out) == [
            (
                f"{EDGE}/laser-2/event",
                {
                    "event_id": "ev-1",
                    "boot_id": "boot-1",
                    "seq": 1,
                    "ts": ts(0),
                    "device_ts": "2026-03-02T07:14:59.000Z",
                    "type": "access.requested",
                    "data": {"request_id": "r-1", "card_uid": "04A1B2C3"},
                },
            )
        ]

    def test_a_controller_envelope_is_kept_for_dedup(self) -> None:
        reader = runtime("native", self.PREFIX, machine="laser-2")
        body = {
            "type": "session.started",
            "data": {"session_id": "s-77", "card_uid": "04A1B2C3"},
            "event_id": "01JNQX5D6W8Y0Z3S7V2R4T1K9M",
            "boot_id": "ctl-boot-3",
            "seq": 42,
        }
        out = reader.handle_native(f"{self.PREFIX}/event", payload(body), at(0))
        event = decoded(out)[0][1]
        assert (event["event_id"], event["boot_id"], event["seq"]) == (
            "01JNQX5D6W8Y0Z3S7V2R4T1K9M",
            "ctl-boot-3",
            42,
        )
        assert event["ts"] == ts(0)

    def test_telemetry_availability_acks_and_commands(self) -> None:
        reader = runtime("native", self.PREFIX, machine="laser-2")
        tele = {"ts": "2026-03-02T07:14:59.500Z", "power_w": 120, "relay_on": True}
        tele |= {"activity": "busy", "rssi": -61}
        out = reader.handle_native(f"{self.PREFIX}/telemetry", payload(tele), at(0))
        assert decoded(out) == [
            (
                f"{EDGE}/laser-2/telemetry",
                {
                    "ts": ts(0),
                    "boot_id": "boot-1",
                    "seq": 1,
                    "power_w": 120.0,
                    "activity": "busy",
                    "relay_on": True,
                    "device_ts": "2026-03-02T07:14:59.500Z",
                },
            )
        ]
        out = reader.handle_native(f"{self.PREFIX}/availability", b'{"online": false}', at(1))
        assert decoded(out) == [(f"{EDGE}/laser-2/availability", {"online": False, "ts": ts(1)})]
        ack = {"cmd_id": "c-9", "result": "applied"}
        out = reader.handle_native(f"{self.PREFIX}/ack", payload(ack), at(2))
        assert decoded(out) == [(f"{EDGE}/laser-2/ack", {"cmd_id": "c-9", "result": "applied", "ts": ts(2)})]
        lock = m.Lock(cmd="lock", cmd_id="c-10", ts=T0, reason="manager", grace_s=0)
        forwarded = reader.handle_command(lock, at(3))
        assert [(p.topic, json.loads(p.payload)) for p in forwarded] == [
            (
                f"{self.PREFIX}/cmd",
                {
                    "cmd_id": "c-10",
                    "ts": ts(0),
                    "cmd": "lock",
                    "reason": "manager",
                    "grace_s": 0.0,
                },
            )
        ]


class TestBadInput:
    @pytest.mark.parametrize(
        ("adapter", "source", "topic", "body"),
        [
            ("tasmota", "t1", "tele/t1/SENSOR", b"{not json"),
            ("tasmota", "t1", "tele/t1/SENSOR", b'{"ENERGY": {"Power": "lots"}}'),
            ("tasmota", "t1", "tele/t1/LWT", b"Maybe"),
            ("tasmota", "t1", "stat/t1/POWER", b"BLINK"),
            ("tasmota", "t1", "tele/t1/STATE", b"[1, 2]"),
            ("shelly", "sh1", "sh1/status/switch:0", b'{"output": "on"}'),
            ("shelly", "sh1", "sh1/status/switch:0", b'{"apower": NaN}'),
            ("shelly", "sh1", "sh1/online", b"1"),
            ("octoprint", "op", "op/event/PrintStarted", b'{"_timestamp": 1}'),
            ("octoprint", "op", "op/progress/printing", b'{"progress": 140}'),
            ("octoprint", "op", "op/mqtt", b"\xff\xfe"),
            ("native", "nat", "nat/event", b'{"type": "session.started", "data": {}}'),
            ("native", "nat", "nat/event", b'{"type": "party.started", "data": {}}'),
            ("native", "nat", "nat/telemetry", b'{"power_w": -5}'),
        ],
    )
    def test_is_refused_as_bad_payload(self, adapter: str, source: str, topic: str, body: bytes) -> None:
        machine = runtime(adapter, source)
        with pytest.raises(BadPayload):
            machine.handle_native(topic, body, at(0))
