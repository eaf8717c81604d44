"""The demo's embedded broker (amqtt): loopback only, and only the clients it made credentials for."""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Iterator

import pytest

from firmware_bridge.client import ConnectFailed, MqttClient, Received
from tests.brokers import unique
from tests.servers import free_port
from web.broker import EmbeddedBroker
from web.server import CENTER_USER, _broker_for
from web.settings import Settings


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(free_port(), users=(CENTER_USER, "gw-demo"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _client(url: str) -> MqttClient:
    client = MqttClient(url, unique("probe"), protocol="3.1.1", clean_start=True, reconnect_max_s=1)
    client.start()
    return client


def _connect_failure(client: MqttClient, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = client.inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        if isinstance(event, ConnectFailed):
            return event.reason
    raise AssertionError("the broker neither accepted nor refused the client")


class TestEmbeddedBroker:
    def test_listens_on_127_0_0_1_only(self, broker: EmbeddedBroker) -> None:
        client = _client(broker.url_for(CENTER_USER))
        try:
            assert client.wait_connected(10)
        finally:
            client.stop()
        # 127.0.0.2 is this machine too: a socket bound to every interface would answer it.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", broker.port), timeout=2).close()

    def test_refuses_an_anonymous_client(self, broker: EmbeddedBroker) -> None:
        client = _client(f"mqtt://127.0.0.1:{broker.port}")
        try:
            assert "refused us: Not authorized" in _connect_failure(client)
            assert not client.connected.is_set()
        finally:
            client.stop()

    def test_refuses_a_known_user_with_a_wrong_password(self, broker: EmbeddedBroker) -> None:
        client = _client(f"mqtt://{CENTER_USER}:guessed@127.0.0.1:{broker.port}")
        try:
            assert "refused us: Not authorized" in _connect_failure(client)
        finally:
            client.stop()

    def test_its_own_clients_connect_and_talk(self, broker: EmbeddedBroker) -> None:
        center = _client(broker.url_for(CENTER_USER))
        gateway = _client(broker.url_for("gw-demo"))
        try:
            assert center.wait_connected(10)
            assert gateway.wait_connected(10)
            topic = f"fablab/v1/{unique('site')}/edge/gw-demo/heartbeat"
            center.subscribe(topic, qos=1)
            time.sleep(0.3)
            assert gateway.publish(topic, b"{}", qos=1).wait(10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                event = center.inbox.get(timeout=10)
                if isinstance(event, Received):
                    assert event.topic == topic
                    break
            else:
                raise AssertionError("the center did not receive the gateway's message")
        finally:
            center.stop()
            gateway.stop()

    def test_the_demo_gives_the_center_and_each_gateway_credentials_of_their_own(self) -> None:
        settings = Settings(environment="test", embedded_broker_port=free_port())
        with _broker_for(settings, ("gw-fablab-1", "gw-uni-1")) as (center, gateways):
            assert center.mqtt_url.startswith(f"mqtt://{CENTER_USER}:")
            assert set(gateways) == {"gw-fablab-1", "gw-uni-1"}
            passwords = {center.mqtt_url.split(":")[2].split("@")[0]} | {
                url.split(":")[2].split("@")[0] for url in gateways.values()
            }
            assert len(passwords) == 3
            assert all(len(password) >= 32 for password in passwords)
            client = _client(gateways["gw-uni-1"])
            try:
                assert client.wait_connected(10)
            finally:
                client.stop()
