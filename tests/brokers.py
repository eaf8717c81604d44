"""MQTT for the tests: the shared Mosquitto at 127.0.0.1:1883, brokers of a test's own, and clients.

The fixtures that hand these out (`broker_url`, `own_broker`) live in tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge.client import MqttClient, Received
from tests import services
from tests.servers import free_port

BROKER_HOST, BROKER_PORT = services.mqtt_address()
BROKER_URL = services.MQTT_URL


def broker_reachable(port: int = BROKER_PORT, host: str = BROKER_HOST, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at `host:port` (the shared broker by default)."""
    return services.port_open(host, port, timeout)


def unique(prefix: str) -> str:
    """A slug no other test (or test run) uses: keeps tests on a shared broker apart."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    """Poll `condition` (for state with no event to wait on) until true, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        # Many conditions are database queries: poll gently, the machine is shared.
        time.sleep(0.05)


def body_of(payload: bytes) -> Any:
    """A payload as JSON if it parses, else as text."""
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode()


class Collector:
    """An MQTT client that keeps every message of its filters, in arrival order."""

    def __init__(
        self,
        url: str,
        filters: list[str],
        *,
        client_id: str | None = None,
        persistent: bool = False,
    ) -> None:
        self.client = MqttClient(
            url,
            client_id=client_id or unique("collector"),
            subscriptions=[(f, 1) for f in filters],
            clean_start=not persistent,
            reconnect_max_s=1,
        )
        self.messages: list[Received] = []

    def __enter__(self) -> Collector:
        self.client.start()
        assert self.client.wait_subscribed(20), "the collector could not subscribe"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop()

    def wait_for(
        self, condition: Callable[[list[Received]], bool], timeout: float = 20.0, what: str = ""
    ) -> list[Received]:
        """Collect until `condition(messages)` holds; return the messages."""
        deadline = time.monotonic() + timeout
        while not condition(self.messages):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [m.topic for m in self.messages[-10:]]
                raise AssertionError(f"timed out waiting for {what or condition}; last: {seen}")
            try:
                event = self.client.inbox.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if isinstance(event, Received):
                self.messages.append(event)
        return self.messages

    def on(self, topic: str) -> list[Any]:
        """Decoded payloads received on `topic`."""
        return [body_of(m.payload) for m in self.messages if m.topic == topic]

    def wait_on(self, topic: str, count: int = 1, timeout: float = 20.0) -> list[Any]:
        """Wait for `count` messages on `topic`; return their decoded payloads."""
        self.wait_for(lambda _: len(self.on(topic)) >= count, timeout, f"{count} on {topic}")
        return self.on(topic)


def publisher(url: str = BROKER_URL) -> MqttClient:
    """A started client for playing devices or the center."""
    client = MqttClient(url, client_id=unique("pub"), clean_start=True, reconnect_max_s=1)
    client.start()
    assert client.wait_connected(20), "the publisher could not connect"
    return client


def send(client: MqttClient, topic: str, payload: Any, *, qos: int = 1, retain: bool = False) -> None:
    """Publish JSON (or bytes, or text) and wait for the broker to take it."""
    if isinstance(payload, bytes):
        data = payload
    elif isinstance(payload, str):
        data = payload.encode()
    else:
        data = json.dumps(payload).encode()
    info = client.publish(topic, data, qos=qos, retain=retain)
    if qos > 0:
        assert info.wait(20), f"the broker did not take {topic}"


def launch_mosquitto(config: Path, port: int) -> subprocess.Popen[bytes]:
    """Start mosquitto on `config` and wait until it accepts connections on `port`."""
    binary = services.require_mosquitto_binary()
    process = subprocess.Popen(
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while not broker_reachable(port, timeout=1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            raise RuntimeError(f"mosquitto did not start with {config}; its log may say why")
        time.sleep(0.05)
    return process


class Mosquitto:
    """A test-owned broker on a free port, with on-disk persistence saved at every change."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        (directory / "data").mkdir(parents=True, exist_ok=True)
        self.config = directory / "mosquitto.conf"
        # Saving after every change is what makes a SIGKILL lose nothing the broker acknowledged.
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {directory / 'data'}/\n"
            "autosave_on_changes true\n"
            "autosave_interval 1\n"
            # As deploy/mosquitto/mosquitto.conf: the default queue of 1,000 drops QoS 1 messages
            # that a busy consumer has not taken yet.
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            f"log_dest file {directory / 'mosquitto.log'}\n" + ("user root\n" if os.geteuid() == 0 else "")
            # Started as root, mosquitto would switch to its own user, who cannot write here.
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self.process = launch_mosquitto(self.config, self.port)

    def checkpoint(self, client: MqttClient) -> None:
        """Have the broker save its database now, and wait until it did.

        Mosquitto saves after a change it counts (a retained message is one) but not after every
        subscription, so a test that SIGKILLs it calls this first: the sessions and subscriptions
        made so far are then on disk, as they would be on a broker that had been up a while.
        """
        database = self.directory / "data" / "mosquitto.db"

        def saved_at() -> int:
            return database.stat().st_mtime_ns if database.exists() else 0

        before = saved_at()
        send(client, f"checkpoint/{uuid.uuid4().hex}", b"x", retain=True)
        wait_until(lambda: saved_at() != before, what="the broker to save its database")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final save."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(20)
            self.process = None

    def stop(self) -> None:
        """A clean stop, for the end of a test."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None
