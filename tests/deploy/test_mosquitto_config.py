"""The production Mosquitto files of deploy/mosquitto/, run for real: who may connect, as whom, how, and
what each may write and read.

The broker runs the deploy config with only its ports, file paths and the TLS listener's address
changed (the test's TLS listener binds 127.0.0.1, not every interface), and a CA made in the test.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from firmware_bridge.client import ConnectFailed, Disconnected, MqttClient, Received, Will
from tests.brokers import unique
from tests.databases import migrated_database
from tests.pki import Pki, make_pki
from tests.servers import free_port
from tests.services import require_mosquitto_binary, unavailable
from web.runtime import MachineRuntime
from web.settings import Settings

pytestmark = pytest.mark.mqtt
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
PASSWORDS = {"fablab-center": "center-secret", "gw-a": "a-secret", "gw-b": "b-secret"}
CENTER_STATE = "fablab/v1/center/state"


@dataclass(frozen=True)
class ProductionBroker:
    plain: str  # host:port of the loopback plain-text listener (1883 in production)
    tls: str  # host:port of the TLS listener (8883 in production)
    pki: Pki

    def url(self, user: str, *, tls: bool = False, ca: Path | None = None) -> str:
        if not tls:
            return f"mqtt://{user}:{PASSWORDS[user]}@{self.plain}"
        return f"mqtts://{user}:{PASSWORDS[user]}@{self.tls}?ca={ca or self.pki.ca_file}"


def _deploy_config(plain_port: int, tls_port: int, pki: Pki, directory: Path, passwd: Path) -> str:
    config = (DEPLOY / "mosquitto.conf").read_text()
    replacements = [
        (r"^listener 1883 127\.0\.0\.1$", f"listener {plain_port} 127.0.0.1"),
        (r"^listener 8883$", f"listener {tls_port} 127.0.0.1"),
        (r"^certfile /etc/mosquitto/certs/fablab\.crt$", f"certfile {pki.cert_file}"),
        (r"^keyfile /etc/mosquitto/certs/fablab\.key$", f"keyfile {pki.key_file}"),
        (r"^password_file /etc/mosquitto/fablab\.passwd$", f"password_file {passwd}"),
        (r"^acl_file /etc/mosquitto/fablab\.acl$", f"acl_file {DEPLOY / 'fablab.acl'}"),
        (r"^persistence_location /var/lib/mosquitto/$", f"persistence_location {directory / 'data'}/"),
        (r"^log_dest syslog$", f"log_dest file {directory / 'mosquitto.log'}"),
    ]
    for pattern, replacement in replacements:
        config, count = re.subn(pattern, replacement, config, flags=re.MULTILINE)
        assert count == 1, f"deploy/mosquitto/mosquitto.conf no longer has a line like {pattern}"
    if os.geteuid() == 0:
        # Started as root, mosquitto would switch to its own user, who cannot read the test's files.
        config += "\nuser root\n"
    return config


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                text = log.read_text() if log.exists() else ""
                raise RuntimeError(f"the production config did not start mosquitto: {text[-2000:]}") from None
            time.sleep(0.05)


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[ProductionBroker]:
    """Mosquitto with deploy/mosquitto's config, on free ports, with test passwords, paths and CA."""
    binary = require_mosquitto_binary()
    if shutil.which("mosquitto_passwd") is None:
        unavailable("mqtt", "mosquitto_passwd is not installed (apt-get install mosquitto)")
    plain_port, tls_port = free_port(), free_port()
    passwd = tmp_path / "fablab.passwd"
    for i, (user, password) in enumerate(PASSWORDS.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(
            ["mosquitto_passwd", "-b", *flags, str(passwd), user, password], check=True, capture_output=True
        )
    passwd.chmod(0o600)
    (tmp_path / "data").mkdir()
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "mosquitto.conf").write_text(_deploy_config(plain_port, tls_port, pki, tmp_path, passwd))
    process = subprocess.Popen(
        [binary, "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(process, plain_port, tmp_path / "mosquitto.log")
        _wait_listening(process, tls_port, tmp_path / "mosquitto.log")
        yield ProductionBroker(f"127.0.0.1:{plain_port}", f"127.0.0.1:{tls_port}", pki)
    finally:
        process.terminate()
        process.wait(10)


def _start(
    url: str,
    client_id: str | None = None,
    topics: tuple[str, ...] | list[str] = (),
    will: Will | None = None,
) -> MqttClient:
    client = MqttClient(
        url,
        client_id or unique("client"),
        subscriptions=[(t, 1) for t in topics],
        will=will,
        clean_start=True,
        reconnect_max_s=1,
    )
    client.start()
    return client


def _client(broker: ProductionBroker, user: str, topics: tuple[str, ...] | list[str] = ()) -> MqttClient:
    return _start(broker.url(user), unique(user), topics)


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


def _events(client: MqttClient, seconds: float) -> list[object]:
    deadline, events = time.monotonic() + seconds, list[object]()
    while time.monotonic() < deadline:
        try:
            events.append(client.inbox.get(timeout=0.1))
        except queue.Empty:
            continue
    return events


def _first_failure(client: MqttClient, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = client.inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        if isinstance(event, ConnectFailed):
            return event.reason
    raise AssertionError("the client neither connected nor failed")


class TestProductionBroker:
    def test_anonymous_and_wrong_passwords_are_refused(self, production_broker: ProductionBroker) -> None:
        for url in (
            f"mqtt://{production_broker.plain}",
            f"mqtt://nobody:x@{production_broker.plain}",
            f"mqtt://gw-a:wrong@{production_broker.plain}",
            f"mqtts://gw-a:wrong@{production_broker.tls}?ca={production_broker.pki.ca_file}",
        ):
            client = _start(url)
            try:
                assert "refused us: Not authorized" in _first_failure(client), url
                assert not client.connected.is_set()
            finally:
                client.stop()

    def test_a_gateway_writes_only_its_own_topics_and_reads_only_its_commands(
        self, production_broker: ProductionBroker
    ) -> None:
        center = _client(production_broker, "fablab-center", ["fablab/v1/+/edge/#"])
        gw_a = _client(production_broker, "gw-a", ["fablab/v1/+/cmd/#"])
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

    def test_payloads_over_8_kib_are_refused_by_the_broker(self, production_broker: ProductionBroker) -> None:
        center = _client(production_broker, "fablab-center", ["fablab/v1/+/edge/#"])
        gw_a = _client(production_broker, "gw-a")
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


class TestTransport:
    def test_the_deploy_config_turns_nagle_off_and_keeps_plain_text_on_loopback(self) -> None:
        config = (DEPLOY / "mosquitto.conf").read_text().splitlines()
        assert "set_tcp_nodelay true" in config
        listeners = [line for line in config if line.startswith("listener ")]
        assert listeners == ["listener 1883 127.0.0.1", "listener 8883"]

    def test_plain_text_answers_on_loopback_only(self, production_broker: ProductionBroker) -> None:
        port = int(production_broker.plain.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        # 127.0.0.2 is this host too: a listener on every interface would answer it.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", port), timeout=2).close()

    def test_mqtts_with_the_operators_ca_connects_with_nagle_off(
        self, production_broker: ProductionBroker
    ) -> None:
        gateway = _start(production_broker.url("gw-a", tls=True), "gw-a")
        center = _start(production_broker.url("fablab-center"), "fablab-center")
        try:
            assert gateway.wait_connected(10)
            assert center.wait_connected(10)
            assert gateway.nodelay() is True
            assert center.nodelay() is True
        finally:
            gateway.stop()
            center.stop()

    def test_mqtts_with_a_wrong_ca_is_refused_with_one_clear_line(
        self, production_broker: ProductionBroker
    ) -> None:
        wrong = production_broker.pki.wrong_ca_file
        gateway = _start(production_broker.url("gw-a", tls=True, ca=wrong), "gw-a")
        try:
            reason = _first_failure(gateway)
            assert reason == (
                f"TLS: the broker at {production_broker.tls} is not trusted: unable to get local issuer "
                f"certificate (checked against the CA file {wrong})"
            )
            assert "\n" not in reason
            assert not gateway.connected.is_set()
        finally:
            gateway.stop()

    def test_mqtts_without_a_ca_file_does_not_trust_a_private_ca(
        self, production_broker: ProductionBroker
    ) -> None:
        gateway = _start(f"mqtts://gw-a:{PASSWORDS['gw-a']}@{production_broker.tls}", "gw-a")
        try:
            reason = _first_failure(gateway)
            assert reason.startswith(f"TLS: the broker at {production_broker.tls} is not trusted:")
            assert reason.endswith("(checked against the system's CA certificates)")
        finally:
            gateway.stop()


def _knocked_off(victim: MqttClient, watch: MqttClient, seconds: float) -> tuple[bool, list[str]]:
    """Whether the victim lost its connection in the next `seconds`, and the wills the watch saw."""
    events = _events(victim, seconds)
    wills = [event.payload.decode() for event in _events(watch, 0.5) if isinstance(event, Received)]
    return any(isinstance(event, Disconnected) for event in events), wills


class TestClientIdsBoundToUsernames:
    """On the TLS listener the broker takes a client's username as its client id."""

    def _watch(self, broker: ProductionBroker, *topics: str) -> MqttClient:
        watch = _start(broker.url("fablab-center"), unique("watch"), list(topics))
        assert watch.wait_subscribed(10)
        return watch

    def test_a_gateway_cannot_take_the_centers_client_id(self, production_broker: ProductionBroker) -> None:
        will = Will(CENTER_STATE, b'{"state":"offline"}', qos=1, retain=False)
        center = _start(production_broker.url("fablab-center"), "fablab-center", will=will)
        watch = self._watch(production_broker, CENTER_STATE)
        attacker: MqttClient | None = None
        try:
            assert center.wait_connected(10)
            _events(center, 0.3)
            attacker = _start(production_broker.url("gw-a", tls=True), "fablab-center")
            assert attacker.wait_connected(10)
            knocked_off, wills = _knocked_off(center, watch, 1.5)
            assert not knocked_off
            assert wills == []
            assert center.connected.is_set()
        finally:
            for client in (attacker, center, watch):
                if client is not None:
                    client.stop()

    def test_a_gateway_cannot_take_another_gateways_client_id(
        self, production_broker: ProductionBroker
    ) -> None:
        state = "fablab/v1/biic/edge/gw-b/state"
        will = Will(state, b'{"state":"lost","boot_id":"b1"}', qos=1, retain=False)
        gw_b = _start(production_broker.url("gw-b", tls=True), "gw-b", will=will)
        watch = self._watch(production_broker, "fablab/v1/+/edge/+/state")
        attackers: list[MqttClient] = []
        try:
            assert gw_b.wait_connected(10)
            _events(gw_b, 0.3)
            for stolen_id in ("gw-b", "fablab-edge-biic-gw-b"):
                attacker = _start(production_broker.url("gw-a", tls=True), stolen_id)
                attackers.append(attacker)
                assert attacker.wait_connected(10)
                knocked_off, wills = _knocked_off(gw_b, watch, 1.5)
                assert not knocked_off, stolen_id
                assert wills == [], stolen_id
                attacker.stop()
            assert gw_b.connected.is_set()
        finally:
            for client in (*attackers, gw_b, watch):
                client.stop()

    def test_one_username_is_one_connection_whatever_id_it_sends(
        self, production_broker: ProductionBroker
    ) -> None:
        # The control of the two tests above: a takeover is seen when it does happen.
        state = "fablab/v1/biic/edge/gw-b/state"
        will = Will(state, b'{"state":"lost","boot_id":"b1"}', qos=1, retain=False)
        gw_b = _start(production_broker.url("gw-b", tls=True), "gw-b", will=will)
        watch = self._watch(production_broker, "fablab/v1/+/edge/+/state")
        second: MqttClient | None = None
        try:
            assert gw_b.wait_connected(10)
            _events(gw_b, 0.3)
            second = MqttClient(
                production_broker.url("gw-b", tls=True),
                unique("other-id"),
                clean_start=True,
                reconnect_max_s=30,
            )
            second.start()
            assert second.wait_connected(10)
            knocked_off, wills = _knocked_off(gw_b, watch, 1.5)
            assert knocked_off
            # Each time one of the two connects it throws the other off: the will comes at least once.
            assert wills
            assert set(wills) == {'{"state":"lost","boot_id":"b1"}'}
        finally:
            second_clients = [second] if second is not None else []
            for client in (*second_clients, gw_b, watch):
                client.stop()


class TestCenterOverTls:
    def test_the_center_connects_over_mqtts_with_its_ca_file_setting(
        self, production_broker: ProductionBroker, tmp_path: Path
    ) -> None:
        settings = Settings(
            environment="test",
            mqtt_url=f"mqtts://fablab-center:{PASSWORDS['fablab-center']}@{production_broker.tls}",
            mqtt_ca_file=str(production_broker.pki.ca_file),
            bridge_client_id="fablab-center",
            scheduler_enabled=False,
        )
        with migrated_database("sqlite", tmp_path) as engine:
            runtime = MachineRuntime(engine, settings, lambda: datetime.now(UTC))
            runtime.start()
            try:
                assert runtime.bridge is not None
                assert runtime.bridge.wait_connected(10)
                assert runtime.bridge.client.nodelay() is True
                assert runtime.broker_state() == "connected"
            finally:
                runtime.stop()


class TestMqttSettings:
    def test_the_ca_file_setting_is_read_as_the_urls_ca(self, tmp_path: Path) -> None:
        settings = Settings(
            environment="test", mqtt_url="mqtts://c:s@broker:8883", mqtt_ca_file="/etc/fablab/ca.crt"
        )
        assert settings.broker_url == "mqtts://c:s@broker:8883?ca=/etc/fablab/ca.crt"

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            (
                "mqtt://c:s@broker:1883",
                "FABLAB_MQTT_CA_FILE is for a TLS broker: FABLAB_MQTT_URL must start with mqtts://",
            ),
            ("mqtts://c:s@broker:8883?ca=/a.crt", "FABLAB_MQTT_URL names its CA file already"),
        ],
    )
    def test_a_ca_file_that_cannot_apply_is_refused(self, url: str, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            Settings(environment="test", mqtt_url=url, mqtt_ca_file="/etc/fablab/ca.crt")
