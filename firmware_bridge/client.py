"""The one MQTT client of FabLab Hub: a small wrapper over paho-mqtt 2.2. Only this module imports paho.

Both the edge gateway and the center's bridge use it the same way::

    client = MqttClient(
        "mqtt://gw-fablab-1:SECRET@127.0.0.1:1883",
        client_id="fablab-gw-gw-fablab-1",
        subscriptions=[("fablab/v1/biic/cmd/gw-fablab-1/+", 1)],
        will=Will(topic, payload, qos=1, retain=True),
    )
    client.start()                      # returns at once; the network thread connects and reconnects
    client.wait_connected(timeout=10)   # optional
    info = client.publish(topic, b"{...}", qos=1, retain=False)
    event = client.inbox.get()          # Received | Connected | Subscribed | Published | …
    client.stop()

What it does for you:

- MQTT 5 by default (`protocol="3.1.1"` for brokers without it), a fixed client id and a persistent
  session (`clean_start=False` plus a session expiry interval; clean session off on 3.1.1), so QoS 1
  messages wait at the broker while the client is away.
- Reconnects by itself with a capped exponential back-off (`reconnect_min_s` … `reconnect_max_s`) and
  renews its subscriptions on every connect. The first connect of a process asks for retained messages
  again, later ones only for new subscriptions (MQTT 5 retain handling), so a restart relearns retained
  state without a flood on every reconnect.
- Every paho callback does one thing: put a frozen event into `inbox` (or into your `sink`, which must
  only enqueue too). Work happens in the consumer's thread, never in the network loop. A failing sink is
  logged and counted in `dropped`, never raised into paho.
- With `manual_ack=True`, QoS 1 messages are acknowledged only when you call `ack(received)`, after you
  have handled them, so a crash between receipt and handling gets the message redelivered.
- `publish` hands QoS 1 messages to paho even while disconnected: paho keeps them in memory and sends
  them, in order, when the connection is back. `Published(mid)` arrives when the broker acknowledged one
  (PUBACK); keep anything that must survive a restart in your own store until then.
- `mqtts://host:8883?ca=/etc/fablab/ca.crt` speaks TLS and verifies the broker's certificate (and its
  host name) against that CA file, or against the system's CAs without `?ca=`. A failed connection is
  reported as `ConnectFailed` with one line a person understands (an untrusted certificate, a refused
  port, a name that does not resolve), and a TLS failure is also logged as an error, once.
- Nagle's algorithm is off on every socket (TCP_NODELAY): a card tap's command is a few dozen bytes that
  must leave at once, not wait for the ACK of the previous packet.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

# The broker URL lives beside the client; callers have always found it here too.
from firmware_bridge.broker_url import BrokerUrl, BrokerUrlError, describe_connect_error, parse_broker_url

__all__ = [
    "BrokerUrl",
    "BrokerUrlError",
    "ConnectFailed",
    "Connected",
    "Disconnected",
    "MqttClient",
    "Published",
    "Received",
    "Subscribed",
    "Will",
    "describe_connect_error",
    "parse_broker_url",
]
log = logging.getLogger(__name__)


class _QuietWhileOffline(logging.Filter):
    """Drop paho's error line for a loop turn without a socket: it is routine during an outage."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Client is not connected")


_paho_log = logging.getLogger(f"{__name__}.paho")
_paho_log.addFilter(_QuietWhileOffline())

Protocol = Literal["5", "3.1.1"]

# --- what the network thread hands over ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Will:
    """The message the broker publishes for us if we vanish without a clean disconnect."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class Received:
    """A message from a subscription. Pass it to `ack` when `manual_ack` is on."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted us; `session_present` says it kept our session from before."""

    session_present: bool


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The broker answered the subscriptions renewed at connect; `ok` is false if it refused any."""

    ok: bool
    refused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """A connection attempt failed (refused, or the broker is unreachable); paho retries by itself."""

    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection is gone; paho reconnects by itself unless we are stopping."""

    reason: str


@dataclass(frozen=True, slots=True)
class Published:
    """The broker acknowledged the message `mid` (PUBACK for QoS 1); `ok` is false if it refused."""

    mid: int
    ok: bool
    reason: str


MqttEvent = Received | Connected | Subscribed | ConnectFailed | Disconnected | Published
Sink = Callable[[MqttEvent], None]


@dataclass(frozen=True, slots=True)
class PublishInfo:
    """The handle of one publish: `mid` matches a later `Published(mid)`."""

    mid: int
    # False when paho refused the message outright (a QoS 0 message while disconnected, a full queue).
    queued: bool
    _info: Any

    def wait(self, timeout: float) -> bool:
        """Block until the broker acknowledged the message (or it was sent, for QoS 0)."""
        if not self.queued:
            return False
        # paho's own wait_for_publish raises for a message queued while disconnected, even after
        # it went out on reconnect (its rc keeps saying "no connection"); wait on its flag instead.
        deadline = time.monotonic() + timeout
        condition = self._info._condition
        with condition:
            while not self._info._published:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                condition.wait(remaining)
        return True


# --- the client --------------------------------------------------------------------------------


class _Paho(paho.Client):
    """paho's client, keeping the exception of the last failed connection attempt.

    paho swallows it (it only calls `on_connect_fail` with no argument, and logs at debug level);
    without it an operator would read "broker unreachable" for an untrusted certificate.
    """

    connect_error: BaseException | None = None

    def _create_socket(self) -> Any:
        try:
            sock = super()._create_socket()
        except OSError as exc:
            self.connect_error = exc
            raise
        self.connect_error = None
        return sock


class MqttClient:
    """A paho client with a fixed id, a persistent session, a will, auto-reconnect and an inbox."""

    def __init__(
        self,
        url: str | BrokerUrl,
        client_id: str,
        *,
        subscriptions: Sequence[tuple[str, int]] = (),
        will: Will | None = None,
        protocol: Protocol = "5",
        clean_start: bool = False,
        session_expiry_s: int = 3600,
        keepalive_s: int = 30,
        reconnect_min_s: int = 1,
        reconnect_max_s: int = 30,
        manual_ack: bool = False,
        max_inflight: int = 20,
        sink: Sink | None = None,
    ) -> None:
        self.broker = url if isinstance(url, BrokerUrl) else parse_broker_url(url)
        self.client_id = client_id
        self.protocol = protocol
        self.inbox: queue.Queue[MqttEvent] = queue.Queue()
        self.connected = threading.Event()
        # Set once the broker acknowledged the subscriptions of the current connection.
        self.subscribed = threading.Event()
        self.dropped = 0
        self._sink: Sink = sink if sink is not None else self.inbox.put
        self._subscriptions: dict[str, int] = dict(subscriptions)
        self._lock = threading.Lock()
        self._connected_once = False
        self._renewal: tuple[int | None, list[str]] | None = None
        self._started = False
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self._keepalive_s = keepalive_s
        self._manual_ack = manual_ack
        self._last_failure = ""
        self._paho = self._build(will, reconnect_min_s, reconnect_max_s, max_inflight)

    # -- lifecycle --

    def start(self) -> None:
        """Start the network thread; it connects, and reconnects after any loss, until `stop`."""
        if self._started:
            return
        self._started = True
        properties = None
        if self.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry_s
        # connect_async never blocks or raises for an unreachable broker: the loop thread keeps trying.
        self._paho.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self._keepalive_s,
            clean_start=self._clean_start if self.protocol == "5" else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._paho.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly (the broker does not publish the will) and stop the network thread."""
        if not self._started:
            return
        self._started = False
        self._paho.disconnect()
        self._paho.loop_stop()
        # paho 2.2 leaves its wake-up socket pair (and a dead socket) open after loop_stop; close
        # them, or every stopped client leaks two descriptors and a ResourceWarning.
        self._paho._reset_sockets()
        self.connected.clear()
        self.subscribed.clear()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected, at most `timeout` seconds; True if connected."""
        return self.connected.wait(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """Block until connected and the subscriptions are acknowledged; True if they are."""
        return self.subscribed.wait(timeout)

    def nodelay(self) -> bool | None:
        """Whether Nagle's algorithm is off on the current connection; None while there is none."""
        sock: Any = self._paho.socket()
        if sock is None:
            return None
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    # -- traffic --

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> PublishInfo:
        """Publish; QoS 1 messages are queued by paho while disconnected and sent on reconnect."""
        info = self._paho.publish(topic, payload, qos=qos, retain=retain)
        queued = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
            qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
        )
        return PublishInfo(mid=info.mid, queued=queued, _info=info)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Add a subscription; it is made now if connected and renewed on every reconnect."""
        with self._lock:
            self._subscriptions[topic] = qos
        if self.connected.is_set():
            self._paho.subscribe([(topic, self._options(qos, first=True))])

    def unsubscribe(self, topic: str) -> None:
        """Drop a subscription, here and (if connected) at the broker, where a persistent session
        may still hold it from an earlier run."""
        with self._lock:
            self._subscriptions.pop(topic, None)
        if self.connected.is_set():
            self._paho.unsubscribe(topic)

    def ack(self, message: Received) -> None:
        """Acknowledge a QoS 1 message received with `manual_ack` on; no-op otherwise."""
        if self._manual_ack and message.qos > 0:
            self._paho.ack(message.mid, message.qos)

    # -- paho wiring; every callback below only enqueues --

    def _build(
        self, will: Will | None, reconnect_min_s: int, reconnect_max_s: int, max_inflight: int
    ) -> _Paho:
        if self.protocol == "5":
            client = _Paho(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=paho.MQTTv5,
                manual_ack=self._manual_ack,
            )
        else:
            client = _Paho(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=paho.MQTTv311,
                clean_session=self._clean_start,
                manual_ack=self._manual_ack,
            )
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set_context(self.broker.tls_context())
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)
        client.max_inflight_messages_set(max_inflight)
        client.enable_logger(_paho_log)
        client.on_socket_open = self._on_socket_open
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        return client

    def _options(self, qos: int, *, first: bool) -> Any:
        if self.protocol != "5":
            return qos
        handling = (
            SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE if first else SubscribeOptions.RETAIN_SEND_IF_NEW_SUB
        )
        return SubscribeOptions(qos=qos, retainHandling=handling)

    def _emit(self, event: MqttEvent) -> None:
        try:
            self._sink(event)
        except Exception:
            self.dropped += 1
            log.exception("MQTT sink refused %s; dropped", type(event).__name__)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            self._emit(
                ConnectFailed(f"the broker at {self.broker.host}:{self.broker.port} refused us: {reason}")
            )
            return
        self._last_failure = ""
        with self._lock:
            wanted = list(self._subscriptions.items())
            first = not self._connected_once
            self._connected_once = True
        self.subscribed.clear()
        if wanted:
            # Subscribing here only queues a packet: it is how subscriptions survive a lost session.
            _, mid = client.subscribe([(topic, self._options(qos, first=first)) for topic, qos in wanted])
            self._renewal = (mid, [topic for topic, _ in wanted])
        else:
            self.subscribed.set()
        self.connected.set()
        self._emit(Connected(session_present=bool(flags.session_present)))

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # Nagle off: small command and event packets leave at once instead of waiting for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        error = self._paho.connect_error
        reason = describe_connect_error(self.broker, error)
        if reason != self._last_failure:
            self._last_failure = reason
            if isinstance(error, ssl.SSLError):
                # Retrying cannot cure a certificate: an operator must act, so say it loudly (once).
                log.error("MQTT client %s: %s", self.client_id, reason)
        self._emit(ConnectFailed(reason))

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self._emit(Disconnected(str(reason)))

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        renewal = self._renewal
        if renewal is None or renewal[0] != mid:
            return  # a later `subscribe` call: its topics are renewed on the next connect anyway
        refused = tuple(
            topic for topic, reason in zip(renewal[1], reasons, strict=False) if reason.is_failure
        )
        if refused:
            log.error("the broker refused the subscriptions %s", ", ".join(refused))
        self.subscribed.set()
        self._emit(Subscribed(ok=not refused, refused=refused))

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            self.dropped += 1
            log.warning("dropped a message whose topic is not UTF-8")
            if self._manual_ack and message.qos > 0:
                client.ack(message.mid, message.qos)
            return
        self._emit(
            Received(
                topic=topic,
                payload=bytes(message.payload),
                qos=message.qos,
                retain=bool(message.retain),
                mid=message.mid,
            )
        )

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode, props: Any
    ) -> None:
        self._emit(Published(mid=mid, ok=not reason.is_failure, reason=str(reason)))
