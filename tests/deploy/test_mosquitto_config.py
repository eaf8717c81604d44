"""The production Mosquitto files of deploy/mosquitto/, run for real: who may write and read what."""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_bridge.client import MqttClient, Received
from tests.firmware_bridge.helpers import free_port, unique
from tests.services import require_mosquitto_binary, unavailable

pytestmark = pytest.mark.mqtt
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
PASSWORDS = {"fablab-center": "center-secret", "gw-a": "a-secret", "gw-b": "b-secret"}


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[str]:
    """Mosquitto with deploy/mosquitto's config, on a free port, with test passwords and paths."""
    binary = require_mosquitto_binary()
    if shutil.which("mosquitto_passwd") is None:
        unavailable("mqtt", "mosquitto_passwd is not installed (apt-get install mosquitto)")
    port = free_port()
    passwd = tmp_path / "fablab.passwd"
    for i, (user, password) in enumerate(PASSWORDS.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *flags, str(passwd), user, password], check=True, capture_output=True
        )
    passwd.chmod(0o600)
    (tmp_path / "data").mkdir()
    config = (DEPLOY / "mosquitto.conf").read_text()
    config = (
        config.replace("listener 1883", f"listener {port} 127.0.0.1")
        .replace("/etc/mosquitto/fablab.passwd", str(passwd))
        .replace("/etc/mosquitto/fablab.acl", str(DEPLOY / "fablab.acl"))
        .replace("/var/lib/mosquitto/", f"{tmp_path / 'data'}/")
        .replace("log_dest syslog", f"log_dest file {tmp_path / 'mosquitto.log'}")
    )
    if os.geteuid() == 0:
        config += "\nuser root\n"
    (tmp_path / "mosquitto.conf").write_text(config)
    process = subprocess.Popen(
        [binary, "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the production config did not start mosquitto") from None
            time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _client(address: str, user: str, password: str, topics: tuple[str, ...] | list[str] = ()) -> MqttClient:
    client = MqttClient(
        f"mqtt://{user}:{password}@{address}",
        unique(user),
        subscriptions=[(t, 1) for t in topics],
        clean_start=True,
        reconnect_max_s=1,
    )
    client.start()
    return client


def _received(client: MqttClient, seconds: float) -> list[str]:
    deadline, topics = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        try:
            event = client.inbox.get(timeout=0.1)
        except queue.Empty:
            continue
        if isinstance(event, Received):
            topics.append(event.topic)
    return topics


class TestProductionBroker:
    def test_anonymous_and_wrong_passwords_are_refused(self, production_broker: str) -> None:
        for user, password in (("nobody", "x"), ("gw-a", "wrong")):
            client = _client(production_broker, user, password)
            try:
                assert not client.wait_connected(3)
            finally:
                client.stop()

    def test_a_gateway_writes_only_its_own_topics_and_reads_only_its_commands(
        self, production_broker: str
    ) -> None:
        center = _client(
            production_broker, "fablab-center", PASSWORDS["fablab-center"], ["fablab/v1/+/edge/#"]
        )
        gw_a = _client(production_broker, "gw-a", PASSWORDS["gw-a"], ["fablab/v1/+/cmd/#"])
        try:
            assert center.wait_connected(10)
            assert gw_a.wait_connected(10)
            time.sleep(0.3)
            gw_a.publish("fablab/v1/biic/edge/gw-a/machine/laser-1/event", b"{}", qos=1).wait(5)
            gw_a.publish("fablab/v1/biic/edge/gw-b/machine/laser-2/event", b"{}", qos=1).wait(
                5
            )  # not its own
            center.publish("fablab/v1/biic/cmd/gw-a/laser-1", b"{}", qos=1).wait(5)
            center.publish("fablab/v1/biic/cmd/gw-b/laser-2", b"{}", qos=1).wait(5)
            assert _received(center, 1.5) == ["fablab/v1/biic/edge/gw-a/machine/laser-1/event"]
            assert _received(gw_a, 1.0) == ["fablab/v1/biic/cmd/gw-a/laser-1"]
        finally:
            center.stop()
            gw_a.stop()

    def test_payloads_over_8_kib_are_refused_by_the_broker(self, production_broker: str) -> None:
        center = _client(
            production_broker, "fablab-center", PASSWORDS["fablab-center"], ["fablab/v1/+/edge/#"]
        )
        gw_a = _client(production_broker, "gw-a", PASSWORDS["gw-a"])
        try:
            assert center.wait_connected(10)
            assert gw_a.wait_connected(10)
            time.sleep(0.3)
            gw_a.publish("fablab/v1/biic/edge/gw-a/machine/laser-1/event", b"x" * 9000, qos=1).wait(3)
            gw_a.publish("fablab/v1/biic/edge/gw-a/machine/laser-1/telemetry", b"small", qos=1).wait(5)
            received = _received(center, 1.5)
            # The oversized event never reaches the center; the small message after it does.
            assert "fablab/v1/biic/edge/gw-a/machine/laser-1/event" not in received
            assert "fablab/v1/biic/edge/gw-a/machine/laser-1/telemetry" in received
        finally:
            center.stop()
            gw_a.stop()
