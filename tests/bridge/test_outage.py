"""Nothing lost, nothing counted twice: a broker killed mid-session, a bridge process killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from firmware_bridge import topics
from firmware_bridge.bridge import CenterBridge
from firmware_bridge.client import MqttClient
from firmware_bridge.messages import format_ts
from tests.bridge.conftest import build_lab, wait_for
from tests.conftest import NOW, FakeClock
from tests.firmware_bridge.helpers import Collector, Mosquitto, send, unique
from tests.services import require_mosquitto_binary

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def _scalar(engine: Engine, sql: str, **params: object) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    require_mosquitto_binary()
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _event(boot: str, seq: int, ts: datetime, event_type: str, data: dict[str, object]) -> dict[str, object]:
    return {
        "event_id": f"{boot}-{seq}",
        "boot_id": boot,
        "seq": seq,
        "ts": format_ts(ts),
        "type": event_type,
        "data": data,
    }


class TestBrokerOutage:
    def test_sigkill_mid_session_loses_and_doubles_nothing(
        self, fresh_engine: Engine, own_broker: Mosquitto
    ) -> None:
        clock = FakeClock(NOW)
        site, gateway, machine, member_id, _name, card = build_lab(fresh_engine, own_broker.url, clock)
        bridge = CenterBridge(
            fresh_engine, own_broker.url, client_id=unique("center"), sites=[site], clock=clock
        )
        bridge.start()
        assert bridge.wait_connected(20)
        # A gateway with a persistent session: what it publishes while the broker is away waits in it.
        edge = MqttClient(own_broker.url, unique("gw"), clean_start=False, reconnect_max_s=1)
        edge.start()
        assert edge.wait_connected(20)
        boot, event_topic = unique("boot"), topics.event(site, gateway, machine)
        try:
            with Collector(own_broker.url, [topics.commands_filter(site, gateway)]) as watch:
                send(
                    edge,
                    topics.edge_state(site, gateway),
                    {"state": "ready", "boot_id": boot, "machines": [machine]},
                )
                send(
                    edge,
                    event_topic,
                    _event(boot, 1, NOW, "access.requested", {"request_id": "t", "card_uid": card}),
                )
                unlock = watch.wait_on(topics.command(site, gateway, machine))[0]
            session_id = unlock["session_id"]
            send(
                edge,
                event_topic,
                _event(boot, 2, NOW, "session.started", {"session_id": session_id, "card_uid": card}),
            )
            wait_for(
                lambda: _scalar(fresh_engine, "SELECT count(*) FROM usagesession") == 1, what="session open"
            )

            own_broker.kill()
            wait_for(
                lambda: not edge.connected.is_set() and not bridge.client.connected.is_set(),
                what="both cut off",
            )
            stopped = {
                "session_id": session_id,
                "stop_type": "normal",
                "duration_s": 1200,
                "busy_s": 1000,
                "energy_wh": 70,
            }
            edge.publish(
                event_topic,
                json.dumps(
                    _event(boot, 3, NOW, "session.activity", {"session_id": session_id, "activity": "busy"})
                ).encode(),
                qos=1,
            )
            edge.publish(
                event_topic,
                json.dumps(_event(boot, 4, NOW, "session.stopped", stopped)).encode(),
                qos=1,
            )
            own_broker.start()

            wait_for(
                lambda: (
                    _scalar(fresh_engine, "SELECT count(*) FROM usagesession WHERE ended_at IS NOT NULL") == 1
                ),
                40,
                "session closed",
            )
            assert _scalar(fresh_engine, "SELECT count(*) FROM deviceevent") == 4
            assert (
                _scalar(fresh_engine, "SELECT sum(seconds) FROM ledgerentry WHERE kind = 'runtime'") == 1000
            )
            assert _scalar(fresh_engine, "SELECT member_id FROM usagesession") == member_id
        finally:
            edge.stop()
            bridge.stop()


def _bridge_process(engine: Engine, broker: str, client_id: str, site: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FABLAB_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "FABLAB_MQTT_URL": broker,
        "FABLAB_BRIDGE_CLIENT_ID": client_id,
        "FABLAB_BRIDGE_SITES": site,
        "FABLAB_SCHEDULER_ENABLED": "false",
        "FABLAB_ENVIRONMENT": "test",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "bridge"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith(b"bridge and scheduler running")
    # Subscribed once its birth is out: it subscribes before it publishes, and the broker keeps order.
    with Collector(broker, [topics.center_state()]) as watch:
        watch.wait_for(
            lambda messages: any(b'"online"' in m.payload for m in messages), 30, "the bridge's birth"
        )
    return process


class TestBridgeRestart:
    def test_kill_9_and_restart_the_bridge_process(self, fresh_engine: Engine, own_broker: Mosquitto) -> None:
        site, gateway, machine, member_id, _name, card = build_lab(
            fresh_engine, own_broker.url, FakeClock(NOW)
        )
        client_id = unique("center")
        edge = MqttClient(own_broker.url, unique("gw"), clean_start=False, reconnect_max_s=1)
        edge.start()
        assert edge.wait_connected(20)
        boot, event_topic = unique("boot"), topics.event(site, gateway, machine)
        now = datetime.now(UTC)  # the bridge process runs on the real clock

        def session_events(first_seq: int, n: int) -> list[dict[str, object]]:
            events = []
            for k in range(n):
                sid = f"{boot}-s{first_seq + k}"
                events.append(
                    _event(
                        boot,
                        2 * (first_seq + k),
                        now,
                        "session.started",
                        {"session_id": sid, "card_uid": card},
                    )
                )
                events.append(
                    _event(
                        boot,
                        2 * (first_seq + k) + 1,
                        now,
                        "session.stopped",
                        {
                            "session_id": sid,
                            "stop_type": "idle",
                            "duration_s": 100,
                            "busy_s": 60,
                            "energy_wh": 5,
                        },
                    )
                )
            return events

        process = _bridge_process(fresh_engine, own_broker.url, client_id, site)
        try:
            send(
                edge,
                topics.edge_state(site, gateway),
                {"state": "ready", "boot_id": boot, "machines": [machine]},
            )
            for event in session_events(1, 10):
                send(edge, event_topic, event)
            wait_for(
                lambda: (_scalar(fresh_engine, "SELECT count(*) FROM deviceevent") or 0) >= 4,
                what="some events handled",
            )
            os.kill(process.pid, signal.SIGKILL)
            process.wait(20)
            if process.stdout is not None:
                process.stdout.close()
            # While the bridge is dead, the broker keeps its persistent session's messages.
            for event in session_events(11, 10):
                send(edge, event_topic, event)
            process = _bridge_process(fresh_engine, own_broker.url, client_id, site)
            wait_for(
                lambda: (
                    _scalar(fresh_engine, "SELECT count(*) FROM usagesession WHERE ended_at IS NOT NULL")
                    == 20
                ),
                60,
                "all 20 sessions",
            )
            assert _scalar(fresh_engine, "SELECT count(*) FROM deviceevent") == 40
            assert (
                _scalar(
                    fresh_engine,
                    "SELECT sum(seconds) FROM ledgerentry WHERE kind = 'runtime' AND member_id = :m",
                    m=member_id,
                )
                == 20 * 60
            )
            assert _scalar(fresh_engine, "SELECT runtime_s FROM machine") == 20 * 60
        finally:
            process.terminate()
            process.wait(20)
            if process.stdout is not None:
                process.stdout.close()
            edge.stop()
