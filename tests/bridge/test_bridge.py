"""The center's bridge on the real broker: taps, sessions, redelivery, bad input, offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from typing import Any

import pytest

from firmware_bridge.center import metrics
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts
from tests.bridge.conftest import Lab, status_payloads
from tests.brokers import send, unique, wait_until

pytestmark = pytest.mark.mqtt


def _dropped(reason: str) -> float:
    return float(metrics.MESSAGES_DROPPED.labels(reason=reason)._value.get())


class TestTap:
    def test_card_tap_unlocks_until_booking_end_plus_grace(self, lab: Lab) -> None:
        lab.event("access.requested", {"request_id": "tap-1", "card_uid": lab.card})
        unlock = lab.wait_command(lambda c: c.get("request_id") == "tap-1")
        # 09:00 now; the booking ends at 10:00; the machine's grace is 120 s.
        assert unlock["cmd"] == "unlock"
        assert unlock["max_duration_s"] == 3720
        assert unlock["member"] == lab.member_name
        assert lab.scalar("SELECT status FROM booking WHERE member_id = :m", m=lab.member_id) == "checked_in"
        lab.watch.wait_for(
            lambda _: any(s["state"] == "reserved" for s in status_payloads(lab)), what="reserved"
        )

    def test_metrics_count_machines_by_state(self, lab: Lab) -> None:
        from web.metrics import render_metrics

        wait_until(lambda: lab.scalar("SELECT state FROM machine") == "reserved", what="reserved")
        assert (
            f'fablab_machines{{site="{lab.site}",state="reserved"}} 1.0'
            in render_metrics(lab.engine).decode()
        )

    def test_unknown_card_is_denied(self, lab: Lab) -> None:
        lab.event("access.requested", {"request_id": "tap-2", "card_uid": "DEADBEEF00"})
        deny = lab.wait_command(lambda c: c.get("request_id") == "tap-2")
        assert (deny["cmd"], deny["reason"]) == ("deny", "unknown_card")


class TestRedelivery:
    def test_the_same_event_three_times_is_stored_and_counted_once(self, lab: Lab) -> None:
        lab.event("access.requested", {"request_id": "tap-3", "card_uid": lab.card})
        session_id = lab.wait_command(lambda c: c.get("request_id") == "tap-3")["session_id"]
        lab.event("session.started", {"session_id": session_id, "card_uid": lab.card})
        stopped = {
            "session_id": session_id,
            "stop_type": "normal",
            "duration_s": 900,
            "busy_s": 600,
            "energy_wh": 45.5,
        }
        for _ in range(3):
            lab.event("session.stopped", stopped, event_id="ev-stop-once", seq=99)
        wait_until(
            lambda: lab.scalar("SELECT count(*) FROM usagesession WHERE ended_at IS NOT NULL") == 1,
            what="the session stored",
        )
        wait_until(lambda: metrics.EVENTS_DUPLICATE._value.get() >= 2, what="duplicates counted")
        assert lab.scalar("SELECT count(*) FROM deviceevent WHERE event_id = 'ev-stop-once'") == 1
        assert lab.scalar("SELECT sum(seconds) FROM ledgerentry WHERE kind = 'runtime'") == 600
        assert lab.scalar("SELECT runtime_s FROM machine WHERE id = :m", m=lab.machine) == 600

    def test_a_tap_sent_again_gets_the_same_answer_and_nothing_more(self, lab: Lab) -> None:
        """A controller that heard nothing sends its tap again, the same event: the answer is repeated."""
        tap = {"request_id": "tap-again", "card_uid": lab.card}
        lab.event("access.requested", tap, event_id="ev-tap-again", seq=70)
        first = lab.wait_command(lambda c: c.get("request_id") == "tap-again")
        lab.event("access.requested", tap, event_id="ev-tap-again", seq=70)

        def answers(_: object) -> bool:
            return (
                len([c for c in lab.watch.on(lab.command_topic()) if c.get("request_id") == "tap-again"]) >= 2
            )

        lab.watch.wait_for(answers, 20, "the answer sent again")
        again = [c for c in lab.watch.on(lab.command_topic()) if c.get("request_id") == "tap-again"]
        assert [c["cmd_id"] for c in again] == [first["cmd_id"]] * 2
        assert [c["session_id"] for c in again] == [first["session_id"]] * 2
        assert lab.scalar("SELECT count(*) FROM machinecommand WHERE cmd = 'unlock'") == 1
        assert lab.scalar("SELECT count(*) FROM deviceevent WHERE event_id = 'ev-tap-again'") == 1

    def test_a_repeated_event_that_is_not_a_tap_sends_nothing(self, lab: Lab) -> None:
        lab.event("access.requested", {"request_id": "tap-4", "card_uid": lab.card})
        session_id = lab.wait_command(lambda c: c.get("request_id") == "tap-4")["session_id"]
        for _ in range(2):
            lab.event(
                "session.started", {"session_id": session_id, "card_uid": lab.card}, event_id="ev-s", seq=80
            )
        wait_until(lambda: metrics.EVENTS_DUPLICATE._value.get() >= 1, what="the duplicate counted")
        lab.event("access.requested", {"request_id": "tap-5", "card_uid": "DEADBEEF00"})
        lab.wait_command(lambda c: c.get("request_id") == "tap-5")
        assert len(lab.watch.on(lab.command_topic())) == 2


class TestBadInput:
    def test_dropped_counted_and_the_bridge_keeps_working(self, lab: Lab) -> None:
        before = {r: _dropped(r) for r in ("malformed_json", "invalid", "too_large", "spoofed")}
        send(lab.edge, lab.topic("event"), b"{not json")
        good: dict[str, Any] = {
            "event_id": unique("ev"),
            "boot_id": lab.boot,
            "seq": 1,
            "ts": format_ts(lab.clock()),
            "type": "access.requested",
            "data": {"request_id": "x", "card_uid": lab.card},
        }
        send(lab.edge, lab.topic("event"), {**good, "colour": "red"})
        send(lab.edge, lab.topic("event"), {**good, "data": {**good["data"], "pad": "x" * 9 * 1024}})
        # Another gateway publishing for a machine it does not speak for.
        send(lab.edge, lab.topic("event", gateway=unique("gw-other")), good)
        wait_until(
            lambda: all(_dropped(r) >= before[r] + 1 for r in before),
            what="each bad message counted: " + json.dumps({r: _dropped(r) - before[r] for r in before}),
        )
        lab.event("access.requested", {"request_id": "after-the-noise", "card_uid": lab.card})
        assert lab.wait_command(lambda c: c.get("request_id") == "after-the-noise")["cmd"] == "unlock"
        assert lab.scalar("SELECT count(*) FROM deviceevent") == 1


class TestOffline:
    def test_offline_by_the_gateway_will(self, lab: Lab) -> None:
        """A gateway process that dies without a goodbye: the broker publishes its will."""
        will_topic = topics.edge_state(lab.site, lab.gateway)
        script = textwrap.dedent(
            f"""
            import json, time
            from firmware_bridge.client import MqttClient, Will
            will = Will({will_topic!r}, json.dumps({{"state": "lost", "boot_id": "b2"}}).encode())
            client = MqttClient({lab.broker!r}, "{unique("gwproc")}", will=will, clean_start=True)
            client.start()
            assert client.wait_connected(20)
            birth = {{"state": "ready", "boot_id": "b2", "machines": [{lab.machine!r}]}}
            client.publish({will_topic!r}, json.dumps(birth).encode(), qos=1).wait(20)
            print("ready", flush=True)
            time.sleep(600)
            """
        )
        process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy()
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"ready"
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(20)
            if process.stdout is not None:
                process.stdout.close()
        wait_until(
            lambda: lab.scalar("SELECT state FROM machine WHERE id = :m", m=lab.machine) == "offline",
            what="offline",
        )
        assert lab.scalar("SELECT count(*) FROM alert WHERE kind = 'offline' AND resolved_at IS NULL") == 1
        lab.watch.wait_for(
            lambda _: [s["state"] for s in status_payloads(lab)][-1:] == ["offline"],
            what="offline status published",
        )

    def test_availability_false_then_telemetry(self, lab: Lab) -> None:
        send(lab.edge, lab.topic("availability"), {"online": False, "ts": format_ts(lab.clock())})
        wait_until(
            lambda: lab.scalar("SELECT online FROM machine WHERE id = :m", m=lab.machine) in (False, 0),
            what="offline",
        )
        send(
            lab.edge,
            lab.topic("telemetry"),
            {
                "ts": format_ts(lab.clock()),
                "boot_id": lab.boot,
                "seq": 1,
                "power_w": 80.0,
                "activity": "busy",
            },
        )
        wait_until(
            lambda: lab.scalar("SELECT activity FROM machine WHERE id = :m", m=lab.machine) == "busy",
            what="busy",
        )
        assert lab.scalar("SELECT count(*) FROM alert WHERE kind = 'offline' AND resolved_at IS NULL") == 0

    def test_silence_then_readings_bring_it_back(self, lab: Lab) -> None:
        from devices import jobs
        from firmware_bridge.center.commands import OutboxLink

        reading = {
            "ts": format_ts(lab.clock()),
            "boot_id": lab.boot,
            "seq": 1,
            "power_w": 12.0,
            "activity": "idle",
        }
        send(lab.edge, lab.topic("telemetry"), reading)
        wait_until(
            lambda: lab.scalar("SELECT activity FROM machine WHERE id = :m", m=lab.machine) == "idle",
            what="idle",
        )
        # Nothing heard for longer than offline_after_s (90 s): the offline check takes it offline.
        jobs.check_offline(lab.engine, OutboxLink, lab.bridge.send, lab.clock() + timedelta(seconds=120))
        assert lab.scalar("SELECT state FROM machine WHERE id = :m", m=lab.machine) == "offline"
        # The same readings again (no change of activity): the next batched write brings it back.
        send(lab.edge, lab.topic("telemetry"), {**reading, "seq": 2})
        wait_until(
            lambda: lab.scalar("SELECT online FROM machine WHERE id = :m", m=lab.machine) in (True, 1),
            what="online",
        )
        assert lab.scalar("SELECT count(*) FROM alert WHERE kind = 'offline' AND resolved_at IS NULL") == 0


class TestWalkIn:
    def test_walk_in_on_a_free_machine(self, lab: Lab) -> None:
        lab.clock.advance(timedelta(hours=2))  # 11:00, after the booking
        lab.event("access.requested", {"request_id": "walk", "card_uid": lab.card})
        unlock = lab.wait_command(lambda c: c.get("request_id") == "walk")
        assert unlock["cmd"] == "unlock"
        assert (
            lab.scalar("SELECT count(*) FROM booking WHERE note = 'walk-in' AND status = 'checked_in'") == 1
        )
