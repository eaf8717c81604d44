"""The center's bridge: one MQTT client, one worker thread, the dispatcher, the center's birth and will.

The client's network thread only enqueues (see `client.py`). The worker takes what is waiting, up to
`batch_max` messages at a time, hands the batch to the dispatcher (one transaction), and then
acknowledges the batch's QoS 1 messages. If the database is unreachable the same batch is retried,
unacknowledged, with a capped back-off: the bridge waits for the database rather than lose events.

Two lanes: events (card taps among them), availability, births and acks go before telemetry and
heartbeats, so no flood of readings delays a tap. Each gateway's readings are rate-limited (a token
bucket; what is over is dropped and counted as `reason="rate"`): readings are sampled, and the next
one says the same. Events are never rate-limited: each is stored once, none is lost.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from firmware_bridge.center.commands import OutboxLink
from firmware_bridge.center.dispatch import Dispatcher, RateLimit, Registry
from firmware_bridge.center.metrics import BATCH_SIZE, DB_RETRIES, QUEUE_DEPTH
from firmware_bridge.client import (
    Connected,
    ConnectFailed,
    Disconnected,
    MqttClient,
    Published,
    Received,
    Will,
)
from firmware_bridge.contract import messages, topics

log = logging.getLogger(__name__)

# What a gateway may send of readings (telemetry, heartbeats): a second's worth on average, and a
# burst. A gateway of 50 machines reporting every second sends 50 a second.
GATEWAY_RATE_PER_S = 200.0
GATEWAY_BURST = 500.0
# Readings are handled at most this many to a transaction, so a tap that comes meanwhile waits for
# a short one (the worker takes the next tap between two transactions).
BULK_BATCH_MAX = 100
# The most the worker moves from the inbox into its lanes at once (the rest waits in the inbox).
_DRAIN_MAX = 20_000
_READINGS = ("telemetry", "heartbeat")

ONLINE = messages.encode(messages.CenterState(state="online"))
OFFLINE = messages.encode(messages.CenterState(state="offline"))


class CenterBridge:
    """Subscribes to every gateway's canonical topics and runs the dispatcher over what arrives."""

    def __init__(
        self,
        engine: Engine,
        broker_url: str,
        *,
        client_id: str = "fablab-center",
        shared_group: str | None = None,
        protocol: Literal["5", "3.1.1"] = "5",
        sites: Sequence[str] = (),
        batch_max: int = 500,
        clock: Callable[[], datetime] = messages.now_utc,
        urgent_engine: Engine | None = None,
        readings_url: str | None = None,
        gateway_rate_per_s: float = GATEWAY_RATE_PER_S,
        gateway_burst: float = GATEWAY_BURST,
    ) -> None:
        # Every site's gateways, or only the given sites' (a partner lab may run its own center).
        scopes = list(sites) or ["+"]
        wide = [topics.edge_filter(site) for site in scopes]
        if readings_url:
            filters = [f for site in scopes for f in topics.lifecycle_filters(site)]
            readings = [f for site in scopes for f in topics.readings_filters(site)]
        else:
            filters, readings = wide, []
        if shared_group:
            filters = [topics.shared(shared_group, f) for f in filters]
            readings = [topics.shared(shared_group, f) for f in readings]
            wide = [topics.shared(shared_group, f) for f in wide]
        # What an earlier run's persistent session subscribed to and this one does not.
        self._stale_filters = [f for f in wide if f not in filters]
        self.client = MqttClient(
            broker_url,
            client_id,
            subscriptions=[(f, 1) for f in filters],
            will=Will(topics.center_state(), OFFLINE, qos=1, retain=True),
            manual_ack=True,
            max_inflight=100,
            protocol=protocol,
        )
        # Readings on a connection of their own: a flood of them never stands in front of a card
        # tap on the wire (a broker delivers one connection's messages in order, and reading
        # thousands of them off the socket takes the client a good part of a second).
        self.readings_client = (
            MqttClient(
                readings_url,
                f"{client_id}-readings",
                subscriptions=[(f, 0) for f in readings],
                clean_start=True,
                session_expiry_s=0,
                protocol=protocol,
                sink=self._take_reading,
            )
            if readings_url
            else None
        )
        self.dispatcher = Dispatcher(
            engine, clock=clock, registry=Registry(engine), urgent_engine=urgent_engine
        )
        self.batch_max = batch_max
        self.gateway_rate_per_s = gateway_rate_per_s
        self.gateway_burst = gateway_burst
        self._limits: dict[str, RateLimit] = {}
        self._urgent: deque[tuple[Received, float]] = deque()
        self._bulk: deque[tuple[Received, float]] = deque()
        self.handled = 0
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="fablab-bridge", daemon=True)

    def start(self) -> None:
        """Connect (in the background) and start the worker."""
        self.client.start()
        if self.readings_client is not None:
            self.readings_client.start()
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Say goodbye (the will is for vanishing, not for a clean stop), drain, disconnect."""
        if self.client.connected.is_set():
            self.client.publish(topics.center_state(), OFFLINE, qos=1, retain=True).wait(2.0)
        self._stop.set()
        self._worker.join(timeout)
        if self.readings_client is not None:
            self.readings_client.stop()
        self.client.stop()

    def wait_connected(self, timeout: float) -> bool:
        """Connected, and the readings connection (if any) subscribed: a reading sent now arrives."""
        deadline = time.monotonic() + timeout
        if not self.client.wait_connected(timeout):
            return False
        readings = self.readings_client
        return readings is None or readings.wait_subscribed(max(0.0, deadline - time.monotonic()))

    def send(self, link: OutboxLink) -> None:
        """Publish what a scheduled job decided (after its commit)."""
        link.flush(self.client)

    def _run(self) -> None:
        inbox = self.client.inbox
        while not self._stop.is_set():
            self._flush_live()
            if not self._urgent and not self._bulk:
                try:
                    self._take(inbox.get(timeout=0.2))
                except queue.Empty:
                    continue
            # Everything waiting is sorted into the lanes before a batch is chosen: a tap that came
            # after thousands of readings is handled next.
            for _ in range(_DRAIN_MAX):
                try:
                    self._take(inbox.get_nowait())
                except queue.Empty:
                    break
            QUEUE_DEPTH.set(inbox.qsize() + len(self._urgent) + len(self._bulk))
            lane, most = (self._urgent, self.batch_max) if self._urgent else (self._bulk, BULK_BATCH_MAX)
            batch = [lane.popleft() for _ in range(min(most, len(lane)))]
            if batch:
                self._handle(batch)

    def _flush_live(self) -> None:
        try:
            self.dispatcher.flush_live(self.client)
        except DBAPIError as exc:
            DB_RETRIES.inc()
            log.error("database unreachable, the machines' last readings wait: %s", exc.orig)

    def _take(self, event: object) -> None:
        if isinstance(event, Received):
            arrived = time.perf_counter()
            parts = event.topic.split("/")
            if parts[-1] not in _READINGS:
                self._urgent.append((event, arrived))
            elif self._within_rate(parts, arrived):
                self._bulk.append((event, arrived))
            else:
                self.dispatcher.drops.drop("rate", event.topic, "the gateway sends readings too fast")
                self.client.ack(event)
        elif isinstance(event, Connected):
            log.info("bridge connected to the broker (session kept: %s)", event.session_present)
            self.client.publish(topics.center_state(), ONLINE, qos=1, retain=True)
            for stale in self._stale_filters:
                self.client.unsubscribe(stale)
        elif isinstance(event, ConnectFailed | Disconnected):
            log.warning("bridge lost the broker: %s", event.reason)
        elif isinstance(event, Published) and not event.ok:
            log.warning("the broker refused a message the bridge published: %s", event.reason)

    def _take_reading(self, event: object) -> None:
        """The readings connection's sink (its network thread): only messages go to the worker."""
        if isinstance(event, Received):
            self.client.inbox.put(event)
        elif isinstance(event, ConnectFailed | Disconnected) and not self._stop.is_set():
            log.warning("the bridge's readings connection lost the broker: %s", event.reason)

    def _within_rate(self, parts: list[str], now: float) -> bool:
        """Whether the gateway of this reading (fablab/v1/{site}/edge/{gw}/…) is within its rate."""
        if self.gateway_rate_per_s <= 0 or len(parts) < 5:
            return True
        gateway = f"{parts[2]}/{parts[4]}"
        limit = self._limits.get(gateway)
        if limit is None:
            if len(self._limits) > 10_000:  # bound memory under a flood of invented gateways
                self._limits.clear()
            limit = self._limits[gateway] = RateLimit(self.gateway_rate_per_s, self.gateway_burst)
        return limit.take(now)

    def _handle(self, batch: list[tuple[Received, float]]) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                result = self.dispatcher.handle(batch, self.client)
            except DBAPIError as exc:
                DB_RETRIES.inc()
                log.error(
                    "database unreachable, retrying %d message(s) in %.1f s: %s", len(batch), delay, exc.orig
                )
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                continue
            BATCH_SIZE.observe(len(batch))
            self.handled += result.handled
            for item, _ in batch:
                self.client.ack(item)
            return


class Publisher:
    """Sends what a web worker decided, where the bridge runs in another process (`serve --workers`)."""

    def __init__(self, broker_url: str, *, protocol: Literal["5", "3.1.1"] = "5") -> None:
        self.client = MqttClient(
            broker_url, f"fablab-web-{os.getpid()}", clean_start=True, session_expiry_s=0, protocol=protocol
        )

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.client.stop()

    def send(self, link: OutboxLink) -> None:
        link.flush(self.client)


class NoBridge:
    """Stands in for the bridge where no broker is configured: commands are logged, not sent."""

    def send(self, link: OutboxLink) -> None:
        for command in link.commands:
            log.info("no broker: not sending %s to %s", command.cmd, command.machine)
        link.discard()
