"""The edge gateway (`fablab gateway --config FILE`): device dialects in, the canonical contract out.

One process, three threads: paho's network thread (its callbacks only enqueue), one worker thread that
does everything else in order (translation, commands, timers, the outbox), and the caller's.

- Birth `ready` on `edge/{gw}/state` at every connect, will `lost`; a heartbeat every `heartbeat_s`;
  each device's own will mirrored on its `availability`.
- Events go through the on-disk outbox (`outbox.EdgeStore`): written before they are published, sent
  in order with at most `WINDOW` unacknowledged, deleted on PUBACK. A broker outage or a restart loses
  none; a redelivery after a crash is harmless (the center dedups by `event_id`).
- Device messages and commands arrive with manual acknowledgement: the broker considers them delivered
  only after the worker handled them (and stored the events they made).
- Commands: a `cmd_id` seen before is answered `duplicate` and not executed; every command is acked.
  An `unlock` arms a local deadline that switches the machine off even if the center is gone; the
  deadline is saved, so a restarted gateway keeps it.

In-process use (tests, `fablab demo`)::

    gateway = Gateway(config)           # a GatewayConfig; store path from config.store_path()
    gateway.start()
    gateway.wait_ready(timeout=10)
    ...
    gateway.stop()
"""

from __future__ import annotations

import json
import logging
import queue
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ulid import ULID

from firmware_bridge.client import (
    Connected,
    ConnectFailed,
    Disconnected,
    MqttClient,
    MqttEvent,
    Published,
    PublishInfo,
    Received,
    Subscribed,
    Will,
)
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import (
    MessageError,
    format_ts,
    now_utc,
    parse_command,
)
from firmware_bridge.edge.adapters import BadPayload, make_adapter
from firmware_bridge.edge.config import ConfigError, GatewayConfig, load_config
from firmware_bridge.edge.machine import Grant, MachineRuntime, Publication, Stamper, make_runtime
from firmware_bridge.edge.outbox import EdgeStore, StoredGrant

log = logging.getLogger(__name__)

# At most this many events are handed to paho and not yet acknowledged; the rest wait on disk, so a
# long outage costs disk, not memory.
WINDOW = 100
# Command ids are remembered this long: far longer than any broker keeps a message for us.
COMMAND_MEMORY = timedelta(days=7)
_STOP = object()


def new_ulid() -> str:
    """A fresh ULID (26 characters, sortable by time): an `event_id`."""
    return str(ULID())


def new_slug_id() -> str:
    """A fresh lowercase ULID, which is also a slug: a `boot_id` or a detected `session_id`."""
    return str(ULID()).lower()


class Gateway:
    """One gateway: its machines, its MQTT client, its store and its worker thread."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        store_path: Path | None = None,
        clock: Callable[[], datetime] = now_utc,
        new_event_id: Callable[[], str] = new_ulid,
        new_session_id: Callable[[], str] = new_slug_id,
        boot_id: str | None = None,
        tick_s: float = 0.5,
    ) -> None:
        self.config = config
        self.boot_id = boot_id or new_slug_id()
        self.stats: Counter[str] = Counter()
        self.ready = threading.Event()
        self._clock = clock
        self._tick_s = tick_s
        self._store_path = store_path or config.store_path()
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._stamper = Stamper(config.site, config.gateway, self.boot_id, new_event_id)
        self._machines: dict[str, MachineRuntime] = {}
        self._routes: dict[str, MachineRuntime] = {}
        for entry in config.machines:
            adapter = make_adapter(entry.adapter, entry.source, gateway=config.gateway)
            runtime = make_runtime(
                entry.machine,
                adapter,
                self._stamper,
                entry.thresholds(),
                new_session_id,
                command_ttl_s=config.command_ttl_s,
            )
            self._machines[entry.machine] = runtime
            for topic_filter in adapter.subscriptions():
                self._routes[topic_filter] = runtime
        subscriptions = [(f, 1) for f in self._routes]
        subscriptions.append((topics.commands_filter(config.site, config.gateway), 1))
        will = self._stamper.will()
        self.client = MqttClient(
            config.broker,
            # The gateway id is also its MQTT username, and the broker binds client ids to usernames
            # (deploy/mosquitto: use_username_as_clientid): one id for one gateway, whichever listener.
            client_id=config.gateway,
            subscriptions=subscriptions,
            will=Will(will.topic, will.payload, qos=1, retain=True),
            protocol=config.protocol,
            reconnect_max_s=config.reconnect_max_s,
            manual_ack=True,
            sink=self._inbox.put,
        )
        self._store: EdgeStore | None = None
        self._worker: threading.Thread | None = None
        self._in_flight: dict[int, int] = {}  # paho mid -> outbox row id
        self._last_handed = 0
        self._saved_grants: dict[str, Grant | None] = {}
        self._next_tick = clock()
        self._next_heartbeat = clock()
        self._next_prune = clock()

    # -- lifecycle --

    def start(self) -> None:
        """Open the store, take back saved grants, and start the worker and the MQTT client."""
        if self._worker is not None:
            return
        self._store = EdgeStore(self._store_path)
        for saved in self._store.grants():
            runtime = self._machines.get(saved.machine)
            if runtime is None:
                self._store.clear_grant(saved.machine)
                continue
            grant = Grant(saved.session_id, saved.started_at, saved.deadline)
            runtime.restore(grant)
            self._saved_grants[saved.machine] = grant
            log.info(
                "%s: took back grant %s until %s", saved.machine, saved.session_id, format_ts(saved.deadline)
            )
        waiting = self._store.outbox_size()
        if waiting:
            log.info("%d events wait in the outbox from before", waiting)
        self._worker = threading.Thread(target=self._run, name=f"gateway-{self.config.gateway}", daemon=True)
        self._worker.start()
        self.client.start()
        log.info(
            "gateway %s/%s boot %s: %d machines, broker %s",
            self.config.site,
            self.config.gateway,
            self.boot_id,
            len(self._machines),
            self.client.broker.redacted(),
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Publish `lost`, then stop the worker and the client; events not yet sent stay on disk.

        A stopped gateway is not started again: make a new `Gateway` (as a restarted process would).
        """
        worker = self._worker
        if worker is None:
            return
        self._inbox.put(_STOP)
        worker.join(timeout)
        self._worker = None
        self.client.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
        self.ready.clear()

    def wait_ready(self, timeout: float) -> bool:
        """Block until connected, born and subscribed, at most `timeout` seconds."""
        return self.ready.wait(timeout)

    def outbox_size(self) -> int:
        """Events waiting for the broker (a rough figure: read outside the worker)."""
        store = self._store
        return store.outbox_size() if store is not None else 0

    # -- the worker --

    def _run(self) -> None:
        while True:
            # Capped, so a wall clock stepped backwards (NTP) cannot hold the timers up.
            wait = min(self._tick_s, max(0.0, (self._next_tick - self._clock()).total_seconds()))
            try:
                item = self._inbox.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            try:
                if item is not None:
                    self._handle(item)
                if self._tick_due():
                    self._tick()
            except Exception:
                # One bad message or a bug in one machine must not stop the whole gateway.
                self.stats["errors"] += 1
                log.exception("gateway worker failed on %r", type(item).__name__)
        self._farewell()

    def _handle(self, item: MqttEvent) -> None:
        match item:
            case Received():
                try:
                    self._received(item)
                finally:
                    self.client.ack(item)
            case Published(mid=mid, ok=ok, reason=reason):
                self._published(mid, ok, reason)
            case Connected(session_present=present):
                log.info("connected to %s (session present: %s)", self.client.broker.redacted(), present)
                self._born()
            case Subscribed():
                # Ready only once the broker listens for us: a command sent after `wait_ready`
                # cannot fall between connect and subscription.
                self.ready.set()
            case Disconnected(reason=reason):
                self.ready.clear()
                log.warning("disconnected from the broker: %s", reason)
            case ConnectFailed(reason=reason):
                self.stats["connect_failed"] += 1
                log.debug("connection attempt failed: %s", reason)

    def _born(self) -> None:
        now = self._clock()
        self._publish(self._stamper.birth(sorted(self._machines)))
        for runtime in self._machines.values():
            if runtime.online is not None:
                self._publish(self._stamper.availability(runtime.machine, runtime.online, now))
        self._pump()

    def _received(self, message: Received) -> None:
        now = self._clock()
        runtime = self._routes.get(message.topic)
        if runtime is None:
            runtime = self._routes.get(message.topic.rpartition("/")[0] + "/+")
        if runtime is not None:
            self.stats["native_received"] += 1
            try:
                publications = runtime.handle_native(message.topic, message.payload, now)
            except BadPayload as exc:
                self._drop("bad_device_payload", f"{message.topic}: {exc}")
                return
            self._dispatch(publications)
            self._sync_grant(runtime)
            return
        try:
            parsed = topics.parse(message.topic)
        except topics.TopicError:
            self._drop("unknown_topic", message.topic)
            return
        if parsed.kind is topics.TopicKind.command:
            self._command(parsed, message.payload, now)
        else:
            self._drop("unknown_topic", message.topic)

    def _command(self, topic: topics.Topic, payload: bytes, now: datetime) -> None:
        assert self._store is not None
        runtime = self._machines.get(topic.machine or "")
        if runtime is None:
            self._drop("unknown_machine", f"command for {topic.machine!r}, not ours")
            return
        try:
            command = parse_command(payload)
        except MessageError as exc:
            cmd_id = _salvage_cmd_id(payload)
            self._drop(f"bad_command_{exc.reason}", f"{runtime.machine}: {exc.detail}")
            if cmd_id is not None:
                self._publish(self._stamper.ack(runtime.machine, cmd_id, "rejected", now, exc.detail[:1024]))
            return
        self.stats["commands"] += 1
        if self._store.seen_command(command.cmd_id):
            log.info("%s: %s %s is a duplicate; not executed", runtime.machine, command.cmd, command.cmd_id)
            self._publish(self._stamper.ack(runtime.machine, command.cmd_id, "duplicate", now))
            return
        log.info("%s: %s %s", runtime.machine, command.cmd, command.cmd_id)
        # Executed before it is remembered: a crash in between re-executes an idempotent command on
        # redelivery, which is better than answering `duplicate` to one never executed.
        self._dispatch(runtime.handle_command(command, now))
        self._store.remember_command(command.cmd_id, runtime.machine, now)
        self._sync_grant(runtime)

    def _tick_due(self) -> bool:
        now = self._clock()
        return now >= self._next_tick or self._next_tick - now > timedelta(seconds=self._tick_s)

    def _tick(self) -> None:
        now = self._clock()
        self._next_tick = now + timedelta(seconds=self._tick_s)
        self.stats["ticks"] += 1
        for runtime in self._machines.values():
            self._dispatch(runtime.tick(now))
            self._sync_grant(runtime)
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + timedelta(seconds=self.config.heartbeat_s)
            if self.client.connected.is_set():
                self._publish(self._stamper.heartbeat(now))
        if now >= self._next_prune and self._store is not None:
            self._next_prune = now + timedelta(hours=1)
            self._store.forget_commands_before(now - COMMAND_MEMORY)

    def _farewell(self) -> None:
        if self.client.connected.is_set():
            info = self._publish(self._stamper.will())
            if info is not None:
                info.wait(2.0)

    # -- publishing --

    def _dispatch(self, publications: list[Publication]) -> None:
        assert self._store is not None
        queued_events = False
        for publication in publications:
            if publication.durable:
                self._store.enqueue(
                    publication.topic,
                    publication.payload,
                    qos=publication.qos,
                    retain=publication.retain,
                    created=self._clock(),
                )
                self.stats["events"] += 1
                queued_events = True
            else:
                self._publish(publication)
        if queued_events:
            self._pump()

    def _publish(self, publication: Publication) -> PublishInfo | None:
        if publication.qos == 0 and not self.client.connected.is_set():
            # Telemetry while offline is lost anyway; skipping it also keeps paho's message ids
            # from racing round to those of events still waiting for their PUBACK.
            self.stats["not_sent"] += 1
            return None
        info = self.client.publish(
            publication.topic, publication.payload, publication.qos, publication.retain
        )
        if not info.queued:
            self.stats["not_sent"] += 1
        return info

    def _pump(self) -> None:
        """Hand waiting events to paho, oldest first, while the window has room."""
        assert self._store is not None
        room = WINDOW - len(self._in_flight)
        if room <= 0:
            return
        for row in self._store.pending(after_id=self._last_handed, limit=room):
            info = self.client.publish(row.topic, row.payload, row.qos, row.retain)
            if not info.queued:
                break  # paho refused it; the row stays and is handed again on the next pump
            self._in_flight[info.mid] = row.id
            self._last_handed = row.id

    def _published(self, mid: int, ok: bool, reason: str) -> None:
        row_id = self._in_flight.pop(mid, None)
        if row_id is None:
            return  # a PUBACK for an ack, a birth or a native command: nothing kept on disk
        assert self._store is not None
        if not ok:
            # A refusal (an ACL, a quota) repeats on every retry; keeping the row would block the
            # queue behind it for ever.
            self.stats["events_refused"] += 1
            log.error("the broker refused event row %d: %s; dropped", row_id, reason)
        self._store.delete(row_id)
        self.stats["events_sent"] += 1
        self._pump()

    def _sync_grant(self, runtime: MachineRuntime) -> None:
        grant = runtime.grant
        if self._saved_grants.get(runtime.machine) == grant:
            return
        assert self._store is not None
        if grant is None:
            self._store.clear_grant(runtime.machine)
        else:
            stored = StoredGrant(runtime.machine, grant.session_id, grant.started_at, grant.deadline)
            self._store.save_grant(stored)
        self._saved_grants[runtime.machine] = grant

    def _drop(self, reason: str, detail: str) -> None:
        self.stats[f"dropped_{reason}"] += 1
        log.warning("dropped (%s): %s", reason, detail)


def _salvage_cmd_id(payload: bytes) -> str | None:
    """The `cmd_id` of an invalid command, so it can still be answered `rejected`."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    cmd_id = body.get("cmd_id") if isinstance(body, dict) else None
    if isinstance(cmd_id, str) and 0 < len(cmd_id) <= 64 and cmd_id.isprintable():
        return cmd_id
    return None


def run(config_path: str | Path) -> int:
    """Run a gateway from its file until SIGINT or SIGTERM; 2 on a configuration error."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"fablab gateway: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gateway = Gateway(config)
    try:
        gateway.start()
    except OSError as exc:
        print(f"fablab gateway: cannot open the store {config.store_path()}: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    stopping.wait()
    log.info("stopping")
    gateway.stop()
    return 0
