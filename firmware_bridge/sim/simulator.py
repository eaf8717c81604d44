"""`fablab simulate`'s engine: a whole FabLab of machines speaking their native dialects over MQTT.

A `Fleet` lists the simulated devices (`sim.devices.DeviceSpec`); a `Simulator` plays them through one
MQTT connection: each device reports every `period_s` wall seconds, jobs and idle gaps come at random
(seeded) or from a script of `Step`s, devices obey their native commands, and `time_scale` runs the
simulated clock faster than the wall clock (a 12-minute job takes 12 s at `time_scale=60`).

The simulator shares one connection, so a device dropout is played by publishing the device's own
will (`tele/<t>/LWT Offline`, `<id>/online false`, `<b>/mqtt disconnected`) and going silent.

The fleet behind a gateway file is built in `sim.fleets`; `sim.demo.EdgeDemo` runs it with its gateway.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from firmware_bridge.client import BrokerUrl, Connected, MqttClient, Protocol, Received
from firmware_bridge.contract.messages import now_utc
from firmware_bridge.edge.adapters.base import NativePublish
from firmware_bridge.sim.devices import DeviceSpec, OctoPrintPrinter, Plug, SimDevice, make_device

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True, slots=True)
class Fleet:
    """The simulated devices of one FabLab."""

    devices: tuple[DeviceSpec, ...]

    def spec(self, machine: str) -> DeviceSpec:
        """The device of `machine`; `KeyError` if there is none."""
        for device in self.devices:
            if device.machine == machine:
                return device
        raise KeyError(machine)


# --- scenarios -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One scripted happening, `at_s` simulated seconds after the simulator starts."""

    at_s: float
    machine: str
    action: Literal["job", "offline", "online", "relay_on", "relay_off"]
    duration_s: float = 0.0
    job: str = "job.gcode"
    fail_at_pct: float | None = None


def laser_job(machine: str, at_s: float = 0.0, minutes: float = 12.0) -> list[Step]:
    """A laser job of `minutes` (12 by default) starting at `at_s`."""
    return [Step(at_s, machine, "job", minutes * 60, job=f"{machine}-cut.lbrn2")]


def failing_print(
    machine: str, at_s: float = 0.0, minutes: float = 90.0, fail_at_pct: float = 40.0
) -> list[Step]:
    """A print that fails at `fail_at_pct` % (40 by default)."""
    return [Step(at_s, machine, "job", minutes * 60, job="bracket_v3.gcode", fail_at_pct=fail_at_pct)]


def plug_offline(machine: str, at_s: float = 0.0, for_s: float | None = 300.0) -> list[Step]:
    """The device drops off the network at `at_s`, and comes back after `for_s` (unless None)."""
    steps = [Step(at_s, machine, "offline")]
    if for_s is not None:
        steps.append(Step(at_s + for_s, machine, "online"))
    return steps


SCENARIOS: dict[str, Callable[[str, float], list[Step]]] = {
    "laser-job": lambda machine, at_s: laser_job(machine, at_s),
    "print-fails": lambda machine, at_s: failing_print(machine, at_s),
    "plug-offline": lambda machine, at_s: plug_offline(machine, at_s),
}


def parse_scenario(spec: str) -> list[Step]:
    """`NAME=MACHINE[@SECONDS]` (e.g. `laser-job=laser-1@60`) as steps; `ValueError` if bad."""
    name, _, target = spec.partition("=")
    machine, _, at = target.partition("@")
    if name not in SCENARIOS or not machine:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"scenario {spec!r}: expected NAME=MACHINE[@SECONDS] with NAME in {known}")
    try:
        at_s = float(at) if at else 0.0
    except ValueError:
        raise ValueError(f"scenario {spec!r}: {at!r} is not a number of seconds") from None
    return SCENARIOS[name](machine, at_s)


# --- random activity -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Activity:
    """How often things happen in random mode, in simulated seconds."""

    mean_gap_s: float = 25 * 60
    job_min_s: float = 4 * 60
    job_max_s: float = 25 * 60
    print_min_s: float = 30 * 60
    print_max_s: float = 3 * 3600
    print_fail_chance: float = 0.08
    mean_between_dropouts_s: float = 8 * 3600
    dropout_min_s: float = 60
    dropout_max_s: float = 6 * 60


# --- the engine ----------------------------------------------------------------------------------


class Simulator:
    """Plays a fleet over MQTT from one thread; start it, stop it, read its `stats`."""

    def __init__(
        self,
        fleet: Fleet,
        broker: str | BrokerUrl,
        *,
        time_scale: float = 1.0,
        period_s: float = 2.0,
        scenario: Sequence[Step] = (),
        random_activity: bool = True,
        activity: Activity | None = None,
        seed: int | None = None,
        protocol: Protocol = "5",
        client_id: str | None = None,
        start_at: datetime | None = None,
    ) -> None:
        if time_scale <= 0 or period_s <= 0:
            raise ValueError("time_scale and period_s must be positive")
        self.fleet = fleet
        self.time_scale = time_scale
        self.period_s = period_s
        self.random_activity = random_activity
        self.activity = activity or Activity()
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self.devices: dict[str, SimDevice] = {
            spec.machine: make_device(spec, random.Random(self._rng.random())) for spec in fleet.devices
        }
        self._scenario = sorted(scenario, key=lambda step: step.at_s)
        for step in self._scenario:
            if step.machine not in self.devices:
                raise ValueError(f"scenario names {step.machine!r}, which is not in the fleet")
        self._commands: dict[str, SimDevice] = {
            topic: device for device in self.devices.values() for topic in device.command_topics()
        }
        self._queue: queue.Queue[Any] = queue.Queue()
        self.client = MqttClient(
            broker,
            client_id=client_id or f"fablab-sim-{self._rng.getrandbits(40):010x}",
            subscriptions=[(topic, 1) for topic in self._commands],
            protocol=protocol,
            clean_start=True,
            sink=self._queue.put,
        )
        self._start_wall = 0.0
        self._start_sim = start_at or now_utc()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._dropouts: dict[str, float] = {}

    def sim_now(self) -> datetime:
        """The simulated clock."""
        elapsed = (time.monotonic() - self._start_wall) * self.time_scale
        return self._start_sim + timedelta(seconds=elapsed)

    def start(self) -> None:
        """Connect and start playing; returns at once."""
        if self._thread is not None:
            return
        self._start_wall = time.monotonic()
        self.client.start()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Publish every device's will (they all go dark) and disconnect."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._queue.put(_STOP)
        thread.join(timeout)
        self._thread = None
        self.client.stop()

    def wait_connected(self, timeout: float) -> bool:
        """Block until the simulator is connected and listens for its devices' commands."""
        return self.client.wait_subscribed(timeout)

    # -- the loop --

    def _run(self) -> None:
        order = itertools.count()
        agenda: list[tuple[float, int, Any]] = []
        count = max(1, len(self.devices))
        for index, device in enumerate(self.devices.values()):
            # Spread the devices over one period so the broker sees a steady stream, not bursts.
            due = self._start_wall + self.period_s * index / count
            heapq.heappush(agenda, (due, next(order), device))
        for step in self._scenario:
            heapq.heappush(agenda, (self._start_wall + step.at_s / self.time_scale, next(order), step))
        while True:
            wait = max(0.0, agenda[0][0] - time.monotonic()) if agenda else 1.0
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if isinstance(item, Received):
                self._command(item)
            elif isinstance(item, Connected):
                self._births()
            # Checking `_stopping` here keeps stop() prompt even when the fleet is behind schedule.
            while agenda and agenda[0][0] <= time.monotonic() and not self._stopping.is_set():
                due, _, what = heapq.heappop(agenda)
                if isinstance(what, Step):
                    self._play(what)
                    continue
                self._step(what, due)
                late = time.monotonic() - due
                next_due = due + self.period_s
                if late > self.period_s:
                    self.stats["late_steps"] += 1
                    next_due = time.monotonic() + self.period_s
                heapq.heappush(agenda, (next_due, next(order), what))
        self._farewell()

    def _births(self) -> None:
        for device in self.devices.values():
            self._send(device.will(device.online))

    def _farewell(self) -> None:
        infos = []
        for device in self.devices.values():
            for message in device.will(False):
                infos.append(self.client.publish(message.topic, message.payload, 1, True))
        for info in infos:
            info.wait(2.0)

    def _step(self, device: SimDevice, due: float) -> None:
        now = self.sim_now()
        self.stats["steps"] += 1
        if self.random_activity:
            self._send(self._happen(device, now))
        self._send(device.step(now))

    def _happen(self, device: SimDevice, now: datetime) -> list[NativePublish]:
        """Random jobs and dropouts, with probabilities per simulated second of the period."""
        a = self.activity
        dt = self.period_s * self.time_scale
        back_at = self._dropouts.get(device.spec.machine)
        if back_at is not None:
            if time.monotonic() < back_at:
                return []
            del self._dropouts[device.spec.machine]
            return device.set_online(now, True)
        if self._rng.random() < dt / a.mean_between_dropouts_s:
            length = self._rng.uniform(a.dropout_min_s, a.dropout_max_s)
            self._dropouts[device.spec.machine] = time.monotonic() + length / self.time_scale
            return device.set_online(now, False)
        if device.busy or self._rng.random() >= dt / a.mean_gap_s:
            return []
        if isinstance(device, OctoPrintPrinter):
            length = self._rng.uniform(a.print_min_s, a.print_max_s)
            fails = self._rng.random() < a.print_fail_chance
            fail_at = self._rng.uniform(5, 95) if fails else None
            name = f"part_{self._rng.randrange(1000):03d}.gcode"
            return device.start_job(now, length, name, fail_at)
        length = self._rng.uniform(a.job_min_s, a.job_max_s)
        return device.start_job(now, length, f"job_{self._rng.randrange(1000):03d}")

    def _play(self, step: Step) -> None:
        device = self.devices[step.machine]
        now = self.sim_now()
        log.info("scenario: %s %s", step.machine, step.action)
        self.stats[f"scenario_{step.action}"] += 1
        if step.action == "job":
            self._send(device.start_job(now, step.duration_s, step.job, step.fail_at_pct))
        elif step.action in ("offline", "online"):
            self._send(device.set_online(now, step.action == "online"))
        elif isinstance(device, Plug):
            device.switch(step.action == "relay_on")
        self._send(device.step(now))

    def _command(self, message: Received) -> None:
        device = self._commands.get(message.topic)
        if device is None:
            return
        self.stats["commands"] += 1
        self._send(device.on_command(message.topic, message.payload, self.sim_now()))

    def _send(self, messages: list[NativePublish]) -> None:
        for message in messages:
            self.client.publish(message.topic, message.payload, message.qos, message.retain)
            self.stats["published"] += 1
