"""The gateway's per-machine logic, pure: native messages, commands and time in; publications out.

`Stamper` turns neutral observations into canonical payloads on canonical topics: it stamps the
gateway's clock as `ts` (device clocks are not trusted; theirs is kept as `device_ts`), the `boot_id`,
a `seq` per machine (one counter for events, which therefore have no gaps, one for telemetry), and a
fresh `event_id`.

`ManagedMachine` runs the contract for a device that does not know it (a plug, a printer): sessions
from power or jobs (`adapters.usage`), grants with their local deadline, delayed locks, warnings and
acks. `SelfManagedMachine` relays a controller that runs the contract itself.

Nothing here touches the network, the disk or the clock, so the gateway's behaviour is tested by
feeding messages and instants and comparing the publications with the exact expected ones.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from firmware_bridge.contract import messages as m
from firmware_bridge.contract import topics
from firmware_bridge.edge.adapters.base import (
    Adapter,
    CanonicalAck,
    CanonicalEvent,
    Envelope,
    FaultUpdate,
    JobUpdate,
    NativePublish,
    Observation,
    Online,
    Reading,
)
from firmware_bridge.edge.adapters.usage import (
    ActivityChanged,
    Started,
    Stopped,
    Thresholds,
    UsageEvent,
    UsageTracker,
)

log = logging.getLogger(__name__)

REASON_TEXT: dict[str, str] = {
    "unknown_card": "Card not recognised",
    "no_booking": "No booking for this machine now",
    "no_training": "Training required for this machine",
    "quota_exhausted": "Machine time quota used up",
    "maintenance": "Machine under maintenance",
    "fault": "Machine has a fault",
    "closed": "The lab is closed",
    "booking_ended": "Your booking has ended",
    "manager": "Stopped by a manager",
}


@dataclass(frozen=True, slots=True)
class Publication:
    """One message for the broker; `durable` ones go through the on-disk outbox."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = False
    durable: bool = False


@dataclass(frozen=True, slots=True)
class Grant:
    """An `unlock` in force: its session, and when the gateway switches the machine off."""

    session_id: str
    started_at: datetime
    deadline: datetime


class Stamper:
    """Canonical payloads of one gateway boot: topics, `ts`, `boot_id`, `seq`, `event_id`."""

    def __init__(self, site: str, gateway: str, boot_id: str, new_event_id: Callable[[], str]) -> None:
        self.site = site
        self.gateway = gateway
        self.boot_id = boot_id
        self._new_event_id = new_event_id
        self._event_seq: defaultdict[str, int] = defaultdict(int)
        self._telemetry_seq: defaultdict[str, int] = defaultdict(int)

    def birth(self, machines: list[str]) -> Publication:
        """`edge/{gw}/state` ready, with the machines (retained)."""
        state = m.EdgeState(state="ready", boot_id=self.boot_id, machines=machines)
        return Publication(topics.edge_state(self.site, self.gateway), m.encode(state), 1, True)

    def will(self) -> Publication:
        """`edge/{gw}/state` lost (retained): the will, also published on a clean stop."""
        state = m.EdgeState(state="lost", boot_id=self.boot_id)
        return Publication(topics.edge_state(self.site, self.gateway), m.encode(state), 1, True)

    def heartbeat(self, now: datetime) -> Publication:
        """`edge/{gw}/heartbeat` (QoS 0)."""
        beat = m.Heartbeat(ts=now, boot_id=self.boot_id)
        return Publication(topics.heartbeat(self.site, self.gateway), m.encode(beat), 0)

    def availability(self, machine: str, online: bool, now: datetime) -> Publication:
        """`…/availability` (retained)."""
        body = m.Availability(online=online, ts=now)
        topic = topics.availability(self.site, self.gateway, machine)
        return Publication(topic, m.encode(body), 1, True)

    def telemetry(
        self,
        machine: str,
        reading: Reading,
        now: datetime,
        *,
        activity: m.Activity | None,
        relay_on: bool | None,
    ) -> Publication:
        """`…/telemetry` (QoS 0) with the fields the reading has."""
        self._telemetry_seq[machine] += 1
        body = m.Telemetry(
            ts=now,
            boot_id=self.boot_id,
            seq=self._telemetry_seq[machine],
            power_w=reading.power_w,
            energy_wh_total=reading.energy_wh_total,
            activity=activity,
            relay_on=relay_on,
            temp_c=reading.temp_c,
            progress_pct=reading.progress_pct,
            bed_temp_c=reading.bed_temp_c,
            device_ts=reading.device_ts,
        )
        topic = topics.telemetry(self.site, self.gateway, machine)
        return Publication(topic, m.encode(body), 0)

    def event(
        self,
        machine: str,
        event_type: str,
        data: m.Message | dict[str, Any],
        at: datetime,
        *,
        device_ts: str | None = None,
        envelope: Envelope | None = None,
    ) -> Publication:
        """`…/event` (QoS 1, durable) with a fresh envelope, or the device's own one."""
        if envelope is None:
            self._event_seq[machine] += 1
            envelope = Envelope(self._new_event_id(), self.boot_id, self._event_seq[machine])
        event = m.build_event(
            event_type,
            data,
            event_id=envelope.event_id,
            boot_id=envelope.boot_id,
            seq=envelope.seq,
            ts=at,
            device_ts=device_ts,
        )
        topic = topics.event(self.site, self.gateway, machine)
        return Publication(topic, m.encode(event), 1, durable=True)

    def ack(
        self,
        machine: str,
        cmd_id: str,
        result: m.AckResult,
        now: datetime,
        detail: str | None = None,
    ) -> Publication:
        """`…/ack` (QoS 1)."""
        body = m.Ack(cmd_id=cmd_id, result=result, ts=now, detail=detail)
        return Publication(topics.ack(self.site, self.gateway, machine), m.encode(body), 1)


def native(publish: NativePublish) -> Publication:
    """A device-dialect message as a publication (never durable: a stale command is worse)."""
    return Publication(publish.topic, publish.payload, publish.qos, publish.retain)


class MachineRuntime:
    """What the gateway needs of every machine, whoever runs its contract."""

    def __init__(self, machine: str, adapter: Adapter, stamper: Stamper) -> None:
        self.machine = machine
        self.adapter = adapter
        self.stamper = stamper
        self.online: bool | None = None
        self.grant: Grant | None = None

    def handle_native(self, topic: str, payload: bytes, now: datetime) -> list[Publication]:
        """Translate one native message; `BadPayload` propagates for the caller to count."""
        out: list[Publication] = []
        for observation in self.adapter.translate(topic, payload):
            out += self.observe(observation, now)
        return out

    def observe(self, observation: Observation, now: datetime) -> list[Publication]:
        """Act on one observation."""
        raise NotImplementedError

    def handle_command(self, command: m.Command, now: datetime) -> list[Publication]:
        """Execute a (non-duplicate) command; the publications include its ack unless relayed."""
        raise NotImplementedError

    def tick(self, now: datetime) -> list[Publication]:
        """Let time pass: deadlines, delayed locks, idle stops."""
        return []

    def restore(self, grant: Grant) -> None:
        """Take back a grant saved before a restart."""

    def _availability(self, online: bool, now: datetime) -> list[Publication]:
        self.online = online
        return [self.stamper.availability(self.machine, online, now)]


class ManagedMachine(MachineRuntime):
    """A plug or a printer: the gateway runs sessions, deadlines, locks and acks for it."""

    def __init__(
        self,
        machine: str,
        adapter: Adapter,
        stamper: Stamper,
        thresholds: Thresholds,
        new_session_id: Callable[[], str],
        *,
        command_ttl_s: float = 60.0,
    ) -> None:
        super().__init__(machine, adapter, stamper)
        self.tracker = UsageTracker(thresholds, new_session_id)
        self.lock_at: datetime | None = None
        self.command_ttl_s = command_ttl_s

    def observe(self, observation: Observation, now: datetime) -> list[Publication]:
        """Readings feed the tracker and become telemetry; wills, jobs and faults become events."""
        match observation:
            case Reading():
                return self._reading(observation, now)
            case Online(online=online):
                out = self._availability(online, now)
                if not online:
                    out += self._usage(self.tracker.stop(now, "offline"))
                return out
            case JobUpdate():
                return self._job(observation, now)
            case FaultUpdate(raised=raised, code=code, message=text, device_ts=device_ts):
                data = m.FaultData(code=code, message=text)
                kind = "fault.raised" if raised else "fault.cleared"
                return [self.stamper.event(self.machine, kind, data, now, device_ts=device_ts)]
        log.debug("%s: %s ignored by a managed machine", self.machine, type(observation).__name__)
        return []

    def handle_command(self, command: m.Command, now: datetime) -> list[Publication]:
        """Unlock, deny, warn or lock the machine, and ack."""
        match command:
            case m.Unlock():
                return self._unlock(command, now)
            case m.Lock():
                return self._lock(command, now)
            case m.Deny():
                if self._too_old(command, now):
                    return [self._ack(command, "expired", now)]
                out = self._show(REASON_TEXT[command.reason])
                if not self.tracker.granted:
                    out += [native(p) for p in self.adapter.set_relay(False)]
                return [*out, self._ack(command, "applied", now)]
            case m.Warn():
                if self._too_old(command, now):
                    return [self._ack(command, "expired", now)]
                log.warning(
                    "%s: warning for session %s: %s (%.0f s left)",
                    self.machine,
                    command.session_id,
                    command.message,
                    command.seconds_left,
                )
                return [*self._show(command.message), self._ack(command, "applied", now)]
        raise AssertionError(f"unknown command {command!r}")  # pragma: no cover

    def tick(self, now: datetime) -> list[Publication]:
        """Switch off at a grant's deadline or a lock's end; stop sessions idle too long."""
        out: list[Publication] = []
        if self.grant is not None and now >= self.grant.deadline:
            log.info("%s: deadline of session %s reached, switching off", self.machine, self.grant.session_id)
            out += self._switch_off(now, "deadline")
        if self.lock_at is not None and now >= self.lock_at:
            out += self._switch_off(now, "lock")
        return out + self._usage(self.tracker.tick(now))

    def restore(self, grant: Grant) -> None:
        """Take back a grant saved before a restart; its deadline still holds."""
        self.grant = grant
        self.tracker.adopt(grant.session_id, grant.started_at)

    # -- commands --

    def _unlock(self, command: m.Unlock, now: datetime) -> list[Publication]:
        waited = max(0.0, (now - command.ts).total_seconds())
        remaining = command.max_duration_s - waited
        if remaining <= 0:
            return [self._ack(command, "expired", now, "the allowed time ran out in transit")]
        if self.online is False:
            return [self._ack(command, "rejected", now, "the machine is offline")]
        self.lock_at = None
        out = [native(p) for p in self.adapter.set_relay(True)]
        out += self._usage(self.tracker.grant(now, command.session_id))
        self.grant = Grant(command.session_id, now, now + timedelta(seconds=remaining))
        detail = None if self.adapter.switchable else "no relay: the session is tracked only"
        return [*out, self._ack(command, "applied", now, detail)]

    def _lock(self, command: m.Lock, now: datetime) -> list[Publication]:
        # A lock never expires: switching off late is still safer than not at all. But a lock
        # aimed at an earlier session must not cut the member who holds the machine now.
        current = self.grant.session_id if self.grant else None
        if command.session_id and current and command.session_id != current:
            why = f"session {command.session_id} is over; {current} holds the machine"
            return [self._ack(command, "rejected", now, why)]
        out = self._show(REASON_TEXT[command.reason])
        if command.grace_s <= 0:
            out += self._switch_off(now, "lock")
        else:
            self.lock_at = now + timedelta(seconds=command.grace_s)
        detail = None if self.adapter.switchable else "no relay: the session is tracked only"
        return [*out, self._ack(command, "applied", now, detail)]

    def _switch_off(self, now: datetime, stop_type: m.StopType) -> list[Publication]:
        self.grant = None
        self.lock_at = None
        out = [native(p) for p in self.adapter.set_relay(False)]
        return out + self._usage(self.tracker.stop(now, stop_type))

    def _too_old(self, command: m.CommandBase, now: datetime) -> bool:
        return (now - command.ts).total_seconds() > self.command_ttl_s

    def _show(self, text: str) -> list[Publication]:
        return [native(p) for p in self.adapter.show(text)]

    def _ack(
        self, command: m.CommandBase, result: m.AckResult, now: datetime, detail: str | None = None
    ) -> Publication:
        return self.stamper.ack(self.machine, command.cmd_id, result, now, detail)

    # -- observations --

    def _reading(self, reading: Reading, now: datetime) -> list[Publication]:
        out: list[Publication] = []
        if self.adapter.metered:
            out += self._usage(
                self.tracker.observe(
                    now,
                    power_w=reading.power_w,
                    energy_wh_total=reading.energy_wh_total,
                    relay_on=reading.relay_on,
                )
            )
        relay = reading.relay_on if reading.relay_on is not None else self.tracker.relay_on
        activity = reading.activity or self.tracker.activity
        out.append(self.stamper.telemetry(self.machine, reading, now, activity=activity, relay_on=relay))
        return out

    def _job(self, update: JobUpdate, now: datetime) -> list[Publication]:
        # Events are numbered as they are stamped, so stamp them in the order they happen.
        before = self._usage(self.tracker.job_started(now)) if update.phase == "started" else []
        data = m.JobData(job=update.job, duration_s=update.duration_s, reason=update.reason)
        job_event = self.stamper.event(
            self.machine, f"job.{update.phase}", data, now, device_ts=update.device_ts
        )
        after = self._usage(self.tracker.job_ended(now)) if update.phase != "started" else []
        return [*before, job_event, *after]

    def _usage(self, events: list[UsageEvent]) -> list[Publication]:
        out = []
        for event in events:
            match event:
                case Started(session_id=sid, at=at, card_uid=card):
                    data: m.Message = m.SessionStarted(session_id=sid, card_uid=card)
                    out.append(self.stamper.event(self.machine, "session.started", data, at))
                case ActivityChanged(session_id=sid, activity=activity, at=at):
                    data = m.SessionActivity(session_id=sid, activity=activity)
                    out.append(self.stamper.event(self.machine, "session.activity", data, at))
                case Stopped() as stopped:
                    if self.grant is not None and self.grant.session_id == stopped.session_id:
                        self.grant = None  # the relay went off or the machine dropped out
                    data = m.SessionStopped(
                        session_id=stopped.session_id,
                        stop_type=stopped.stop_type,
                        duration_s=stopped.duration_s,
                        busy_s=stopped.busy_s,
                        energy_wh=stopped.energy_wh,
                    )
                    out.append(self.stamper.event(self.machine, "session.stopped", data, stopped.at))
        return out


class SelfManagedMachine(MachineRuntime):
    """A controller that runs the contract itself: validate, restamp and relay both ways."""

    def observe(self, observation: Observation, now: datetime) -> list[Publication]:
        """Relay telemetry, availability, events and acks with the gateway's clock."""
        match observation:
            case Reading():
                return [
                    self.stamper.telemetry(
                        self.machine,
                        observation,
                        now,
                        activity=observation.activity,
                        relay_on=observation.relay_on,
                    )
                ]
            case Online(online=online):
                return self._availability(online, now)
            case CanonicalEvent(event_type=kind, data=data, envelope=envelope, device_ts=dts):
                return [self.stamper.event(self.machine, kind, data, now, device_ts=dts, envelope=envelope)]
            case CanonicalAck(cmd_id=cmd_id, result=result, detail=detail):
                return [self.stamper.ack(self.machine, cmd_id, result, now, detail)]
        log.debug("%s: %s ignored by a self-managed machine", self.machine, type(observation))
        return []

    def handle_command(self, command: m.Command, now: datetime) -> list[Publication]:
        """Pass the command on; the controller executes and acks it."""
        return [native(p) for p in self.adapter.forward(command)]


def make_runtime(
    machine: str,
    adapter: Adapter,
    stamper: Stamper,
    thresholds: Thresholds,
    new_session_id: Callable[[], str],
    *,
    command_ttl_s: float = 60.0,
) -> MachineRuntime:
    """The runtime an adapter needs: self-managed controllers are relayed, others managed."""
    if adapter.self_managed:
        return SelfManagedMachine(machine, adapter, stamper)
    return ManagedMachine(machine, adapter, stamper, thresholds, new_session_id, command_ttl_s=command_ttl_s)
