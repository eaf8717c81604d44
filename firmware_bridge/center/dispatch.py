"""From an MQTT message to the machines' domain: parse, validate, hand over, commit; drop bad input.

Messages are handled in batches, one database transaction per batch and one savepoint per message, so
a message the domain refuses undoes only itself, and a busy broker costs one commit per batch rather
than one per message. What the domain decided is published after the commit; QoS 1 messages are
acknowledged to the broker only then, so a crash before the commit gets them delivered again (and
the event ids make the second delivery change nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, assert_never

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col, select

from booking.errors import DomainError
from devices import events
from devices.alerts import service as alerts
from devices.models import Activity, Gateway, Machine
from devices.registry import service as registry
from devices.registry.repository import lock_machine
from devices.sessions import service as sessions
from firmware_bridge.center.commands import OutboxLink
from firmware_bridge.center.metrics import (
    DECISION_LATENCY,
    EVENTS_DUPLICATE,
    MESSAGES_DROPPED,
    MESSAGES_RECEIVED,
    SEQ_GAPS,
)
from firmware_bridge.client import MqttClient, Received
from firmware_bridge.contract import messages, topics
from firmware_bridge.contract.topics import TopicKind

log = logging.getLogger(__name__)

# Telemetry that changes nothing shown is written to the database at most this often per machine:
# often enough for the offline check (90 s by default) and the dashboard's power figures.
TELEMETRY_WRITE_EVERY_S = 5.0
_MODELS: dict[TopicKind, type[messages.Message]] = {
    TopicKind.edge_state: messages.EdgeState,
    TopicKind.heartbeat: messages.Heartbeat,
    TopicKind.availability: messages.Availability,
    TopicKind.telemetry: messages.Telemetry,
    TopicKind.ack: messages.Ack,
}


_machine: sa.Table = Machine.__table__  # type: ignore[attr-defined]
_WRITE_LIVE = (
    sa.update(_machine)
    .where(_machine.c.id == sa.bindparam("b_id"))
    .values(last_seen_at=sa.bindparam("b_seen"), power_w=sa.bindparam("b_power"))
)
# The counters' children, looked up once rather than per message.
_RECEIVED = {kind: MESSAGES_RECEIVED.labels(kind=kind.value) for kind in TopicKind}


class DropReporter:
    """Counts every dropped message and logs the first of a burst per reason, then a summary."""

    def __init__(self, every_s: float = 30.0) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def drop(self, reason: str, topic: str, detail: str) -> None:
        MESSAGES_DROPPED.labels(reason=reason).inc()
        now = time.monotonic()
        if now - self._last.get(reason, -1e9) >= self.every_s:
            skipped = self._since.pop(reason, 0)
            more = f" ({skipped} more of this kind since the last report)" if skipped else ""
            log.warning("dropped a message on %s (%s): %s%s", topic, reason, detail[:300], more)
            self._last[reason] = now
        else:
            self._since[reason] = self._since.get(reason, 0) + 1


@dataclass(frozen=True, slots=True)
class Route:
    site: str
    gateway: str


class Registry:
    """Which gateway speaks for which machine, from the database, refreshed now and then.

    A name it does not know makes it read the database again (a machine just added is heard at once),
    but at most `miss_reloads_per_s` times a second: a gateway flooding names nobody registered is
    answered from memory, not with a read of every machine per message.
    """

    def __init__(self, engine: Engine, refresh_s: float = 10.0, miss_reloads_per_s: float = 4.0) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        self._machines: dict[str, Route] = {}
        self._gateways: dict[str, str] = {}
        self._loaded_at = -1e9
        self._lock = threading.Lock()
        self._miss_budget = RateLimit(miss_reloads_per_s, max(1.0, miss_reloads_per_s))
        self.loads = 0

    def _load(self) -> None:
        with Session(self._engine) as session:
            machines = {m.id: Route(m.site_id, m.gateway_id) for m in session.exec(select(Machine)).all()}
            gateways = {g.id: g.site_id for g in session.exec(select(Gateway)).all()}
        with self._lock:
            self._machines, self._gateways, self._loaded_at = machines, gateways, time.monotonic()
            self.loads += 1

    def _fresh(self, known: bool) -> bool:
        """Reload if the snapshot is old, or for an unknown name while the miss budget lasts."""
        now = time.monotonic()
        if now - self._loaded_at > self._refresh_s or (not known and self._miss_budget.take(now)):
            self._load()
            return True
        return False

    def machine(self, machine_id: str) -> Route | None:
        route = self._machines.get(machine_id)
        if self._fresh(route is not None):
            route = self._machines.get(machine_id)
        return route

    def gateway_site(self, gateway_id: str) -> str | None:
        site = self._gateways.get(gateway_id)
        if self._fresh(site is not None):
            site = self._gateways.get(gateway_id)
        return site


class RateLimit:
    """A token bucket: `rate` a second on average, `burst` at once; not thread-safe (one worker)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = time.monotonic()

    def take(self, now: float) -> bool:
        """Spend a token if there is one."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class _Parsed:
    item: Received
    topic: topics.Topic
    message: Any
    arrived: float


@dataclass(slots=True)
class _Live:
    written_at: float = -1e9
    activity: str | None = None
    power_w: float | None = None
    # A reading not written yet, and when it came.
    dirty: bool = False
    seen_at: datetime | None = None


@dataclass(slots=True)
class BatchResult:
    handled: int = 0
    dropped: int = 0
    decisions: list[float] = field(default_factory=list)


class Dispatcher:
    """Turns batches of received messages into domain calls, one transaction per batch."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = messages.now_utc,
        registry: Registry | None = None,
        urgent_engine: Engine | None = None,
    ) -> None:
        self.engine = engine
        # The transaction that answers card taps (on SQLite it goes first for the write slot).
        self.urgent_engine = urgent_engine or engine
        self.clock = clock
        self.registry = registry or Registry(engine)
        self.drops = DropReporter()
        self._live: dict[str, _Live] = {}
        self._gap_logged: dict[str, float] = {}
        self._flushed_at = time.monotonic()

    def parse(self, item: Received, arrived: float, now: datetime) -> _Parsed | None:
        """Validate one message; count, log and drop it (returning None) if it is bad or spoofed."""
        try:
            topic = topics.parse(item.topic)
        except topics.TopicError as exc:
            self.drops.drop("bad_topic", item.topic, str(exc))
            return None
        _RECEIVED[topic.kind].inc()
        if len(item.payload) > messages.MAX_PAYLOAD_BYTES:
            self.drops.drop("too_large", item.topic, f"{len(item.payload)} bytes")
            return None
        if topic.kind in (TopicKind.center_state, TopicKind.machine_status, TopicKind.command):
            return None  # the center's own topics, echoed back by a wide subscription
        assert topic.site is not None
        assert topic.gateway is not None
        if topic.machine is not None:
            route = self.registry.machine(topic.machine)
            if route is None:
                self.drops.drop("unknown_machine", item.topic, f"machine {topic.machine} is not registered")
                return None
            if route != Route(topic.site, topic.gateway):
                self.drops.drop(
                    "spoofed",
                    item.topic,
                    f"{topic.gateway} at {topic.site} does not speak for {topic.machine}",
                )
                return None
        elif self.registry.gateway_site(topic.gateway) != topic.site:
            self.drops.drop(
                "unknown_gateway", item.topic, f"gateway {topic.gateway} is not registered at {topic.site}"
            )
            return None
        try:
            if topic.kind is TopicKind.event:
                message: Any = messages.parse_event(item.payload)
            else:
                message = _decode(_MODELS[topic.kind], item.payload)
        except messages.MessageError as exc:
            self.drops.drop(exc.reason, item.topic, exc.detail)
            return None
        ts = getattr(message, "ts", None)
        if (
            isinstance(ts, datetime)
            and topic.kind is not TopicKind.ack
            and not events.sane_event_time(ts, now)
        ):
            self.drops.drop("bad_ts", item.topic, f"time stamp {ts.isoformat()} is not believable")
            return None
        return _Parsed(item, topic, message, arrived)

    def handle(self, batch: Sequence[tuple[Received, float]], client: MqttClient | None) -> BatchResult:
        """Handle a batch in one transaction and publish what it decided; raises only if the database
        is unreachable (the caller retries the same batch, nothing having been acknowledged)."""
        now = self.clock()
        result = BatchResult()
        parsed = []
        for item, arrived in batch:
            one = self.parse(item, arrived, now)
            if one is None:
                result.dropped += 1
            else:
                parsed.append(one)
        # Card taps go first, in a transaction of their own: a member at the machine should not wait
        # for a batch of telemetry. Everything that came before the last tap keeps its order and goes
        # with it, except telemetry of machines nobody tapped, which waits for the second transaction.
        # (A retry after a database failure finds the first transaction's events stored already.)
        taps = [p for p in parsed if _is_tap(p)]
        first: list[_Parsed] = []
        rest: list[_Parsed] = []
        if taps:
            tapped = {p.topic.machine for p in taps}
            last = max(i for i, p in enumerate(parsed) if _is_tap(p))
            for i, one in enumerate(parsed):
                deferrable = one.topic.kind is TopicKind.telemetry and one.topic.machine not in tapped
                (rest if i > last or deferrable else first).append(one)
        else:
            rest = parsed
        if first:
            self._handle_group(first, client, now, result, self.urgent_engine)
        rest = self._latest_readings(rest, result)
        if rest:
            self._handle_group(rest, client, now, result, self.engine)
        done = time.perf_counter()
        for one in taps:
            DECISION_LATENCY.observe(done - one.arrived)
            result.decisions.append(done - one.arrived)
        return result

    def _latest_readings(self, group: list[_Parsed], result: BatchResult) -> list[_Parsed]:
        """The group with only the last reading of each machine: an earlier one is superseded.

        Readings are samples and the gateway debounces activity before it sends them; a gateway that
        flips busy/idle faster than a batch (a flood) costs one pass through the domain per machine
        and batch, not one per message.
        """
        last: dict[str, int] = {}
        for i, one in enumerate(group):
            if one.topic.kind is TopicKind.telemetry:
                last[str(one.topic.machine)] = i
        kept = [
            one
            for i, one in enumerate(group)
            if one.topic.kind is not TopicKind.telemetry or last[str(one.topic.machine)] == i
        ]
        result.handled += len(group) - len(kept)
        return kept

    def _handle_group(
        self,
        group: Sequence[_Parsed],
        client: MqttClient | None,
        now: datetime,
        result: BatchResult,
        engine: Engine,
    ) -> None:
        link = OutboxLink()
        with Session(engine, expire_on_commit=False) as session:
            for one in group:
                # Most telemetry changes nothing that is stored: it needs no savepoint, no database.
                if one.topic.kind is TopicKind.telemetry and self._telemetry_in_memory(one, now):
                    result.handled += 1
                    continue
                own = OutboxLink()
                try:
                    with session.begin_nested():
                        self._apply(session, own, one, now)
                except (OperationalError, DBAPIError) as exc:
                    if getattr(exc, "connection_invalidated", False) or isinstance(exc, OperationalError):
                        raise
                    self.drops.drop("error", one.item.topic, str(exc))
                    result.dropped += 1
                    continue
                except DomainError as exc:
                    self.drops.drop("refused", one.item.topic, exc.detail)
                    result.dropped += 1
                    continue
                except Exception as exc:  # a bug must not stop the bridge: count, log, go on
                    log.exception("error handling a message on %s", one.item.topic)
                    self.drops.drop("error", one.item.topic, repr(exc))
                    result.dropped += 1
                    continue
                link.commands.extend(own.commands)
                link.statuses.update(own.statuses)
                result.handled += 1
            session.commit()
        link.flush(client)

    def _apply(self, session: Session, link: OutboxLink, one: _Parsed, now: datetime) -> None:
        topic, message = one.topic, one.message
        if topic.kind is TopicKind.edge_state:
            assert topic.gateway is not None
            assert topic.site is not None
            alerts.gateway_state(
                session, link, topic.gateway, topic.site, message.state, message.boot_id, now
            )
            return
        if topic.kind is TopicKind.heartbeat:
            assert topic.gateway is not None
            registry.gateway_heartbeat(session, topic.gateway, message.boot_id, now)
            return
        assert topic.machine is not None
        assert topic.gateway is not None
        if topic.kind is TopicKind.telemetry:
            self._telemetry(session, link, topic.machine, message, now)
            return
        if topic.kind is TopicKind.ack:
            registry.acknowledge_command(session, message.cmd_id, message.result, now)
            return
        machine = lock_machine(session, topic.machine)
        if machine is None:
            return
        if topic.kind is TopicKind.availability:
            alerts.machine_availability(session, link, machine, message.online, now)
            self._live.pop(machine.id, None)
            return
        event = machine_event(message)
        stored, gap = sessions.record_event(session, topic.gateway, machine, event, now)
        if not stored:
            EVENTS_DUPLICATE.inc()
            sessions.handle_repeated_event(session, link, machine, event)
            return
        if gap:
            SEQ_GAPS.inc(gap)
            log.warning(
                "%s skipped %d event(s) before seq %d (boot %s)",
                machine.id,
                gap,
                message.seq,
                message.boot_id,
            )
        sessions.handle_event(session, link, machine, event, now)

    def _telemetry_in_memory(self, one: _Parsed, now: datetime) -> bool:
        """Keep the reading in memory; True if that is all it needs now (no change of activity).

        What it proves (the machine is alive, its power) is written for many machines at once by
        `flush_live`; a change of activity goes through the domain at once, as it may change the state.
        """
        message: messages.Telemetry = one.message
        live = self._live.setdefault(str(one.topic.machine), _Live())
        if message.power_w is not None:
            live.power_w = message.power_w
        live.seen_at, live.dirty = now, True
        first = live.written_at < 0
        return not first and (message.activity is None or message.activity == live.activity)

    def flush_live(self, client: MqttClient | None, *, force: bool = False) -> int:
        """Write the latest readings (last seen, power) of the machines heard from, in one statement;
        a machine the database holds offline goes through the domain to come back online."""
        if not force and time.monotonic() - self._flushed_at < TELEMETRY_WRITE_EVERY_S:
            return 0
        self._flushed_at = time.monotonic()
        dirty = {machine: live for machine, live in self._live.items() if live.dirty}
        if not dirty:
            return 0
        now = self.clock()
        link = OutboxLink()
        with Session(self.engine, expire_on_commit=False) as session:
            offline = set(
                session.exec(
                    select(Machine.id).where(col(Machine.id).in_(list(dirty)), col(Machine.online).is_(False))
                ).all()
            )
            rows = [
                {"b_id": machine, "b_seen": live.seen_at, "b_power": live.power_w}
                for machine, live in dirty.items()
                if machine not in offline
            ]
            if rows:
                session.connection().execute(_WRITE_LIVE, rows)
            for machine_id in offline:
                machine = lock_machine(session, machine_id)
                if machine is not None:
                    sessions.telemetry(
                        session, link, machine, now, power_w=dirty[machine_id].power_w, activity=None
                    )
            session.commit()
        link.flush(client)
        for live in dirty.values():
            live.dirty = False
        return len(dirty)

    def _telemetry(
        self, session: Session, link: OutboxLink, machine_id: str, message: messages.Telemetry, now: datetime
    ) -> None:
        live = self._live.setdefault(machine_id, _Live())
        activity = message.activity
        live.power_w = message.power_w if message.power_w is not None else live.power_w
        machine = lock_machine(session, machine_id)
        if machine is None:
            return
        sessions.telemetry(
            session,
            link,
            machine,
            now,
            power_w=live.power_w,
            activity=Activity(activity) if activity is not None else None,
            energy_wh_total=message.energy_wh_total,
        )
        live.activity = activity if activity is not None else live.activity
        live.written_at = time.monotonic()
        live.dirty = False


def machine_event(message: messages.Event) -> events.MachineEvent:
    """The domain's typed event for an event the contract has validated."""
    envelope = events.Envelope(message.event_id, message.boot_id, message.seq, message.ts)
    match message:
        case messages.AccessRequestedEvent(data=data):
            return events.AccessRequested(envelope, request_id=data.request_id, card_uid=data.card_uid)
        case messages.SessionStartedEvent(data=data):
            return events.SessionStarted(envelope, session_id=data.session_id, card_uid=data.card_uid)
        case messages.SessionActivityEvent(data=data):
            return events.SessionActivity(
                envelope, session_id=data.session_id, activity=Activity(data.activity)
            )
        case messages.SessionStoppedEvent(data=data):
            return events.SessionStopped(
                envelope,
                session_id=data.session_id,
                stop_type=data.stop_type,
                duration_s=data.duration_s,
                busy_s=data.busy_s,
                energy_wh=data.energy_wh,
            )
        case messages.JobStartedEvent(data=data):
            return events.JobStarted(envelope, job=data.job, duration_s=data.duration_s, reason=data.reason)
        case messages.JobFinishedEvent(data=data):
            return events.JobFinished(envelope, job=data.job, duration_s=data.duration_s, reason=data.reason)
        case messages.JobFailedEvent(data=data):
            return events.JobFailed(envelope, job=data.job, duration_s=data.duration_s, reason=data.reason)
        case messages.FaultRaisedEvent(data=data):
            return events.FaultRaised(envelope, code=data.code, message=data.message)
        case messages.FaultClearedEvent(data=data):
            return events.FaultCleared(envelope, code=data.code, message=data.message)
    assert_never(message)


def _is_tap(one: _Parsed) -> bool:
    return one.topic.kind is TopicKind.event and one.message.type == "access.requested"


def _decode(model: type[messages.Message], payload: bytes) -> Any:
    """Read a payload as the model (its validator is built once, at class creation)."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise messages.MessageError("malformed_json", f"not JSON: {errors[0]['msg']}") from None
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else "payload"
        raise messages.MessageError("invalid", f"{where}: {errors[0]['msg'] if errors else exc}") from None
