"""Simulated devices for `fablab simulate`: plugs and printers speaking their real native dialects.

Each device is a small physical model advanced in simulated time, pure apart from its seeded random
generator: `step(now)` returns the native messages a real device would publish at that instant, and
`on_command` answers native commands the way the real firmware does (a plug switched off reads 0 W).

- `TasmotaPlug`: `tele/<t>/SENSOR` (ENERGY.Power W, ENERGY.Total kWh), `tele/<t>/STATE`,
  `tele/<t>/LWT`; obeys `cmnd/<t>/POWER ON|OFF|TOGGLE` and answers on `stat/<t>/RESULT` and `POWER`.
- `ShellyPlug`: `<id>/status/switch:0` (apower W, aenergy.total Wh, output), `<id>/online`; obeys
  JSON-RPC `Switch.Set` / `Switch.Toggle` on `<id>/rpc` and answers on `<src>/rpc`.
- `OctoPrintPrinter`: `<b>/event/PrintStarted|PrintDone|PrintFailed|Error|Connected`,
  `<b>/progress/printing`, `<b>/temperature/tool0|bed`, `<b>/mqtt`; takes no commands.
"""

from __future__ import annotations

import json
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from firmware_bridge.edge.adapters.base import NativePublish

Kind = Literal["laser", "cnc", "printer"]
Dialect = Literal["tasmota", "shelly", "octoprint"]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated machine: its id, what it is, which dialect it speaks and its native source."""

    machine: str
    kind: Kind
    dialect: Dialect
    source: str


@dataclass(frozen=True, slots=True)
class PowerProfile:
    """How a plug-powered machine draws power, in W and seconds."""

    idle_w: float
    busy_w: float
    noise_w: float
    # Regular pauses in a job: laser travel moves, CNC tool changes.
    pause_w: float
    pause_every_s: float
    pause_len_s: float


PROFILES: dict[str, PowerProfile] = {
    # A 60 W CO2 laser: controller and fans idle; tube, chiller and exhaust while cutting.
    "laser": PowerProfile(18.0, 540.0, 45.0, 110.0, 40.0, 4.0),
    # A desktop CNC router: spindle at load, with tool changes that drop between the thresholds.
    "cnc": PowerProfile(11.0, 950.0, 120.0, 38.0, 300.0, 25.0),
}


@dataclass(slots=True)
class Job:
    """A job in progress: a cut or a print, and whether and when it fails."""

    name: str
    started: datetime
    duration_s: float
    fail_at_pct: float | None = None


class SimDevice(ABC):
    """A simulated device: an online flag, a job, and its dialect's messages."""

    def __init__(self, spec: DeviceSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.online = True
        self.job: Job | None = None
        self.jobs_done = 0

    @property
    def busy(self) -> bool:
        """True while a job runs."""
        return self.job is not None

    @abstractmethod
    def will(self, online: bool) -> list[NativePublish]:
        """The retained birth or will message of the device."""

    @abstractmethod
    def step(self, now: datetime) -> list[NativePublish]:
        """Advance to `now` and report like the real device does on its period."""

    def command_topics(self) -> Sequence[str]:
        """Topics the device obeys."""
        return ()

    def on_command(self, topic: str, payload: bytes, now: datetime) -> list[NativePublish]:
        """Answer a native command; malformed ones are ignored, as firmware does."""
        return []

    def start_job(
        self, now: datetime, duration_s: float, name: str, fail_at_pct: float | None = None
    ) -> list[NativePublish]:
        """Begin a job now, if the device can."""
        if not self.online or self.job is not None:
            return []
        self.job = Job(name, now, duration_s, fail_at_pct)
        return []

    def set_online(self, now: datetime, online: bool) -> list[NativePublish]:
        """Drop out (the broker publishes the will) or come back (birth)."""
        if online == self.online:
            return []
        self.online = online
        if not online:
            self.job = None
        return self.will(online)


class Plug(SimDevice):
    """A metered smart plug in front of a laser or a CNC."""

    def __init__(self, spec: DeviceSpec, rng: random.Random, *, relay_on: bool = True) -> None:
        super().__init__(spec, rng)
        self.profile = PROFILES[spec.kind if spec.kind in PROFILES else "laser"]
        self.relay_on = relay_on
        self.energy_wh = round(rng.uniform(2_000, 90_000), 1)
        self.power_w = 0.0
        self._last: datetime | None = None

    def power_at(self, now: datetime) -> float:
        """What the machine draws now: 0 off, idle, or a noisy job curve with pauses."""
        if not self.relay_on or not self.online:
            return 0.0
        p = self.profile
        if self.job is None:
            return max(0.0, p.idle_w + self.rng.gauss(0, 1.5))
        elapsed = (now - self.job.started).total_seconds()
        if elapsed % p.pause_every_s < p.pause_len_s:
            return max(0.0, p.pause_w + self.rng.gauss(0, p.noise_w / 10))
        # A slow swell over the job (a tube warming up, a spindle loading) plus noise.
        swell = 1.0 + 0.06 * math.sin(elapsed / 90.0)
        return max(0.0, p.busy_w * swell + self.rng.gauss(0, p.noise_w))

    def step(self, now: datetime) -> list[NativePublish]:
        """Integrate energy, end a finished job, and report power and relay."""
        if self._last is not None and now > self._last:
            self.energy_wh += self.power_w * (now - self._last).total_seconds() / 3600
        self._last = now
        if self.job is not None and (now - self.job.started).total_seconds() >= self.job.duration_s:
            self.job = None
            self.jobs_done += 1
        self.power_w = self.power_at(now)
        return self.report(now) if self.online else []

    def switch(self, on: bool) -> None:
        """The relay clicks: an interrupted job is lost."""
        self.relay_on = on
        if not on:
            self.job = None
            self.power_w = 0.0

    def start_job(
        self, now: datetime, duration_s: float, name: str, fail_at_pct: float | None = None
    ) -> list[NativePublish]:
        """A plug machine only works with its relay on."""
        if not self.relay_on:
            return []
        return super().start_job(now, duration_s, name, fail_at_pct)

    @abstractmethod
    def report(self, now: datetime) -> list[NativePublish]:
        """The periodic telemetry in the plug's dialect."""


class TasmotaPlug(Plug):
    """A Tasmota plug (default FullTopic `%prefix%/%topic%/`)."""

    def will(self, online: bool) -> list[NativePublish]:
        """`tele/<t>/LWT Online|Offline`, retained."""
        payload = b"Online" if online else b"Offline"
        return [NativePublish(f"tele/{self.spec.source}/LWT", payload, qos=1, retain=True)]

    def report(self, now: datetime) -> list[NativePublish]:
        """`tele/<t>/STATE` and `tele/<t>/SENSOR`, as on every TelePeriod."""
        t = self.spec.source
        clock = now.strftime("%Y-%m-%dT%H:%M:%S")  # Tasmota's local time: no zone
        state = {"Time": clock, "POWER": "ON" if self.relay_on else "OFF"}
        voltage = 229.0 + self.rng.uniform(-2, 2)
        sensor = {
            "Time": clock,
            "ENERGY": {
                "Total": round(self.energy_wh / 1000, 3),
                "Power": round(self.power_w),
                "Voltage": round(voltage),
                "Current": round(self.power_w / voltage, 3),
            },
        }
        return [
            NativePublish(f"tele/{t}/STATE", _json(state), qos=0),
            NativePublish(f"tele/{t}/SENSOR", _json(sensor), qos=0),
        ]

    def command_topics(self) -> Sequence[str]:
        """`cmnd/<t>/POWER`."""
        return (f"cmnd/{self.spec.source}/POWER",)

    def on_command(self, topic: str, payload: bytes, now: datetime) -> list[NativePublish]:
        """ON, OFF, TOGGLE (or 1, 0, 2); an empty payload only asks for the state."""
        if not self.online:
            return []
        word = payload.decode(errors="replace").strip().upper()
        if word in ("ON", "1"):
            self.switch(True)
        elif word in ("OFF", "0"):
            self.switch(False)
        elif word in ("TOGGLE", "2"):
            self.switch(not self.relay_on)
        elif word:
            return []
        self.power_w = self.power_at(now)
        state = "ON" if self.relay_on else "OFF"
        t = self.spec.source
        return [
            NativePublish(f"stat/{t}/RESULT", _json({"POWER": state}), qos=1),
            NativePublish(f"stat/{t}/POWER", state.encode(), qos=1),
        ]


class ShellyPlug(Plug):
    """A Shelly Plus plug (Gen2 MQTT with generic status updates on)."""

    def will(self, online: bool) -> list[NativePublish]:
        """`<id>/online true|false`, retained."""
        payload = b"true" if online else b"false"
        return [NativePublish(f"{self.spec.source}/online", payload, qos=1, retain=True)]

    def report(self, now: datetime) -> list[NativePublish]:
        """`<id>/status/switch:0`."""
        minute = int(now.timestamp()) // 60 * 60
        status = {
            "id": 0,
            "source": "timer",
            "output": self.relay_on,
            "apower": round(self.power_w, 1),
            "voltage": round(230.0 + self.rng.uniform(-2, 2), 1),
            "current": round(self.power_w / 230.0, 3),
            "aenergy": {"total": round(self.energy_wh, 3), "minute_ts": minute},
            "temperature": {"tC": round(35 + self.power_w / 100, 1)},
        }
        return [NativePublish(f"{self.spec.source}/status/switch:0", _json(status), qos=0)]

    def command_topics(self) -> Sequence[str]:
        """`<id>/rpc`."""
        return (f"{self.spec.source}/rpc",)

    def on_command(self, topic: str, payload: bytes, now: datetime) -> list[NativePublish]:
        """`Switch.Set` and `Switch.Toggle` on channel 0; the answer goes to `<src>/rpc`."""
        if not self.online:
            return []
        try:
            request = json.loads(payload)
            method, params, src = request["method"], request.get("params", {}), request["src"]
        except (ValueError, KeyError, TypeError):
            return []
        was_on = self.relay_on
        if method == "Switch.Set" and isinstance(params.get("on"), bool):
            self.switch(params["on"])
        elif method == "Switch.Toggle":
            self.switch(not self.relay_on)
        else:
            return []
        self.power_w = self.power_at(now)
        answer = {"id": request.get("id"), "src": self.spec.source, "dst": src, "result": {"was_on": was_on}}
        return [NativePublish(f"{src}/rpc", _json(answer), qos=1), *self.report(now)]


class OctoPrintPrinter(SimDevice):
    """A 3D printer behind OctoPrint's MQTT plugin."""

    AMBIENT_C = 24.0

    def __init__(self, spec: DeviceSpec, rng: random.Random) -> None:
        super().__init__(spec, rng)
        self.tool_c = self.AMBIENT_C
        self.bed_c = self.AMBIENT_C
        self._last: datetime | None = None
        self._reconnect_at: datetime | None = None

    def will(self, online: bool) -> list[NativePublish]:
        """`<b>/mqtt connected|disconnected`, retained."""
        payload = b"connected" if online else b"disconnected"
        return [NativePublish(f"{self.spec.source}/mqtt", payload, qos=1, retain=True)]

    def start_job(
        self, now: datetime, duration_s: float, name: str, fail_at_pct: float | None = None
    ) -> list[NativePublish]:
        """PrintStarted."""
        if not self.online or self.job is not None:
            return []
        self.job = Job(name, now, duration_s, fail_at_pct)
        body = {"name": name, "path": name, "origin": "local", "size": 1_800_000}
        return [self._event("PrintStarted", body, now)]

    def step(self, now: datetime) -> list[NativePublish]:
        """Heat or cool, progress the print, finish or fail it, report temperatures."""
        dt = (now - self._last).total_seconds() if self._last is not None else 0.0
        self._last = now
        out: list[NativePublish] = []
        if not self.online:
            return out
        if self._reconnect_at is not None and now >= self._reconnect_at:
            self._reconnect_at = None
            out.append(self._event("Connected", {"port": "/dev/ttyACM0", "baudrate": 115200}, now))
        printing = self.job is not None
        self.tool_c = _approach(self.tool_c, 210.0 if printing else self.AMBIENT_C, dt, 45.0)
        self.bed_c = _approach(self.bed_c, 60.0 if printing else self.AMBIENT_C, dt, 120.0)
        if self.job is not None:
            out += self._progress(self.job, now)
        base = self.spec.source
        stamp = int(now.timestamp())
        tool = {
            "_timestamp": stamp,
            "actual": round(self.tool_c + self.rng.gauss(0, 0.3), 2),
            "target": 210.0 if self.job else 0.0,
        }
        bed = {
            "_timestamp": stamp,
            "actual": round(self.bed_c + self.rng.gauss(0, 0.2), 2),
            "target": 60.0 if self.job else 0.0,
        }
        out.append(NativePublish(f"{base}/temperature/tool0", _json(tool), qos=0))
        out.append(NativePublish(f"{base}/temperature/bed", _json(bed), qos=0))
        return out

    def _progress(self, job: Job, now: datetime) -> list[NativePublish]:
        elapsed = (now - job.started).total_seconds()
        pct = min(100.0, 100.0 * elapsed / job.duration_s) if job.duration_s > 0 else 100.0
        body = {"name": job.name, "path": job.name, "origin": "local", "time": round(elapsed, 2)}
        if job.fail_at_pct is not None and pct >= job.fail_at_pct:
            self.job = None
            # A thermal runaway or a lost connection: OctoPrint raises Error, then fails the print.
            self._reconnect_at = now + timedelta(seconds=60)
            return [
                self._event("Error", {"error": "Thermal Runaway, system stopped! Heater_ID: 0"}, now),
                self._event("PrintFailed", {**body, "reason": "error"}, now),
            ]
        if pct >= 100.0:
            self.job = None
            self.jobs_done += 1
            return [self._event("PrintDone", {**body, "time": round(job.duration_s, 2)}, now)]
        progress = {
            "location": "local",
            "path": job.name,
            "progress": int(pct),
            "_timestamp": int(now.timestamp()),
        }
        return [NativePublish(f"{self.spec.source}/progress/printing", _json(progress), qos=0)]

    def _event(self, name: str, body: dict[str, Any], now: datetime) -> NativePublish:
        payload = {**body, "_event": name, "_timestamp": int(now.timestamp())}
        return NativePublish(f"{self.spec.source}/event/{name}", _json(payload), qos=1)


def make_device(spec: DeviceSpec, rng: random.Random) -> SimDevice:
    """The simulated device for a spec."""
    if spec.dialect == "tasmota":
        return TasmotaPlug(spec, rng)
    if spec.dialect == "shelly":
        return ShellyPlug(spec, rng)
    return OctoPrintPrinter(spec, rng)


def _approach(value: float, target: float, dt: float, tau_s: float) -> float:
    """First-order heating or cooling toward `target` with time constant `tau_s`."""
    return target + (value - target) * math.exp(-dt / tau_s) if dt > 0 else value


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
