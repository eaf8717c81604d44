"""The MQTT client wrapper: URLs, traffic, manual acks, persistent sessions and reconnection."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_bridge.client import (
    BrokerUrl,
    BrokerUrlError,
    Connected,
    ConnectFailed,
    MqttClient,
    MqttEvent,
    Published,
    Received,
    parse_broker_url,
)
from tests.brokers import (
    Collector,
    Mosquitto,
    publisher,
    send,
    unique,
    wait_until,
)
from tests.pki import make_pki
from tests.servers import free_port


def next_of(client: MqttClient, kind: type, timeout: float = 20.0) -> MqttEvent:
    """The next event of `kind` in the client's inbox (others are skipped)."""
    while True:
        event = client.inbox.get(timeout=timeout)
        if isinstance(event, kind):
            return event


class TestBrokerUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("mqtt://127.0.0.1", BrokerUrl("127.0.0.1", 1883)),
            (
                "mqtt://gw-fablab-1:SECRET@127.0.0.1:1883",
                BrokerUrl("127.0.0.1", 1883, "gw-fablab-1", "SECRET"),
            ),
            ("mqtt://bridge:p%40ss%3Aword@broker:1884/", BrokerUrl("broker", 1884, "bridge", "p@ss:word")),
            ("mqtts://user@broker.example", BrokerUrl("broker.example", 8883, "user", None, True)),
        ],
    )
    def test_parses(self, url: str, expected: BrokerUrl) -> None:
        assert parse_broker_url(url) == expected

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://broker:1883", "must start with mqtt://"),
            ("mqtt://", "no host"),
            ("mqtt://broker:99999", "bad broker URL"),
            ("mqtt://broker/topic", "nothing after"),
        ],
    )
    def test_refuses(self, url: str, message: str) -> None:
        with pytest.raises(BrokerUrlError, match=message):
            parse_broker_url(url)

    def test_never_shows_the_password(self) -> None:
        url = parse_broker_url("mqtt://gw:SECRET@broker:1883")
        assert "SECRET" not in repr(url)
        assert url.redacted() == "mqtt://gw:***@broker:1883"

    def test_reads_the_ca_file_of_an_mqtts_broker(self, tmp_path: Path) -> None:
        pki = make_pki(tmp_path)
        url = parse_broker_url(f"mqtts://gw:SECRET@broker.example?ca={pki.ca_file}")
        assert url == BrokerUrl("broker.example", 8883, "gw", "SECRET", True, str(pki.ca_file))
        assert url.redacted() == f"mqtts://gw:***@broker.example:8883?ca={pki.ca_file}"

    @pytest.mark.parametrize(
        ("query", "message"),
        [
            (
                "?ca=/nonexistent/ca.crt",
                "the broker's CA file /nonexistent/ca.crt cannot be used: No such file",
            ),
            ("?ca=", r"\?ca= needs the path of a CA certificate file"),
            ("?cafile=/etc/ca.crt", r"the only option of a broker URL is \?ca=FILE"),
        ],
    )
    def test_refuses_a_ca_file_it_cannot_use(self, query: str, message: str) -> None:
        with pytest.raises(BrokerUrlError, match=message):
            parse_broker_url(f"mqtts://gw:SECRET@broker{query}")

    def test_refuses_a_ca_file_for_plain_text(self, tmp_path: Path) -> None:
        pki = make_pki(tmp_path)
        with pytest.raises(
            BrokerUrlError, match=r"\?ca= is for mqtts:// URLs \(TLS\); mqtt:// is plain text"
        ):
            parse_broker_url(f"mqtt://gw:SECRET@broker?ca={pki.ca_file}")

    def test_a_file_that_is_no_certificate_is_refused(self, tmp_path: Path) -> None:
        bogus = tmp_path / "ca.crt"
        bogus.write_text("not a certificate")
        with pytest.raises(BrokerUrlError, match=f"the broker's CA file {bogus} cannot be used"):
            parse_broker_url(f"mqtts://gw:SECRET@broker?ca={bogus}")


class TestConnectFailures:
    def test_a_closed_port_is_one_line_naming_it(self) -> None:
        port = free_port()
        client = MqttClient(f"mqtt://127.0.0.1:{port}", unique("probe"), reconnect_max_s=1)
        client.start()
        try:
            failed = next_of(client, ConnectFailed, timeout=10)
            assert isinstance(failed, ConnectFailed)
            assert (
                failed.reason == f"nothing accepts MQTT connections at 127.0.0.1:{port} (connection refused)"
            )
        finally:
            client.stop()


@pytest.mark.mqtt
class TestTraffic:
    @pytest.mark.parametrize("protocol", ["5", "3.1.1"])
    def test_publishes_and_receives(self, broker_url: str, protocol: str) -> None:
        topic = f"test/{unique('traffic')}"
        client = MqttClient(
            broker_url,
            unique("client"),
            subscriptions=[(topic, 1)],
            protocol=protocol,  # type: ignore[arg-type]
        )
        client.start()
        try:
            assert client.wait_connected(20)
            assert isinstance(next_of(client, Connected), Connected)
            # Nagle off on our socket: a command leaves at once.
            assert client.nodelay() is True
            info = client.publish(topic, b"hello", qos=1)
            assert info.wait(20)
            received = next_of(client, Received)
            assert isinstance(received, Received)
            assert (received.topic, received.payload, received.qos) == (topic, b"hello", 1)
            published = next_of(client, Published)
            assert isinstance(published, Published)
            assert (published.mid, published.ok) == (info.mid, True)
        finally:
            client.stop()

    def test_a_message_not_acked_comes_back_to_the_same_session(self, broker_url: str) -> None:
        topic, client_id = f"test/{unique('ack')}", unique("consumer")

        def consumer() -> MqttClient:
            client = MqttClient(broker_url, client_id, subscriptions=[(topic, 1)], manual_ack=True)
            client.start()
            assert client.wait_connected(20)
            return client

        first = consumer()
        device = publisher(broker_url)
        try:
            send(device, topic, b"event-1")
            assert isinstance(next_of(first, Received), Received)
            first.stop()  # handled nothing, acknowledged nothing: as if it crashed
            second = consumer()
            try:
                again = next_of(second, Received)
                assert isinstance(again, Received)
                assert again.payload == b"event-1"
                second.ack(again)
            finally:
                second.stop()
        finally:
            device.stop()
            # End the session on the shared broker: a clean start with no expiry.
            cleaner = MqttClient(broker_url, client_id, clean_start=True, session_expiry_s=0)
            cleaner.start()
            cleaner.wait_connected(20)
            cleaner.stop()

    def test_a_sink_that_fails_is_counted_not_raised(self, broker_url: str) -> None:
        def broken(event: MqttEvent) -> None:
            raise RuntimeError("full")

        client = MqttClient(broker_url, unique("broken"), sink=broken)
        client.start()
        try:
            assert client.wait_connected(20)
            assert client.dropped >= 1  # the Connected event, refused by the sink
        finally:
            client.stop()


@pytest.mark.mqtt
class TestReconnection:
    def test_comes_back_after_the_broker_dies_and_sends_what_waited(self, own_broker: Mosquitto) -> None:
        topic = f"test/{unique('reconnect')}"
        client = MqttClient(own_broker.url, unique("client"), reconnect_max_s=1)
        client.start()
        with Collector(own_broker.url, [topic], persistent=True) as collector:
            try:
                assert client.wait_connected(20)
                own_broker.checkpoint(client)
                own_broker.kill()
                wait_until(lambda: not client.connected.is_set(), what="the client to notice")
                info = client.publish(topic, b"sent while down", qos=1)
                assert info.queued
                own_broker.start()
                assert collector.wait_on(topic) == ["sent while down"]
                assert info.wait(20)
            finally:
                client.stop()
