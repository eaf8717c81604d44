"""Commands on a managed machine, without a broker: what goes to the device, what comes back."""

from __future__ import annotations

import json
from datetime import timedelta

from firmware_bridge.contract import messages as m
from firmware_bridge.edge.adapters.usage import Thresholds
from firmware_bridge.edge.machine import Grant, MachineRuntime, Publication
from tests.firmware_bridge.helpers import T0, at, decoded, runtime

ACK = "fablab/v1/biic/edge/gw-1/machine/laser-1/ack"
EVENT = "fablab/v1/biic/edge/gw-1/machine/laser-1/event"


def unlock(cmd_id: str = "c-1", *, seconds: float = 0, max_s: float = 600) -> m.Unlock:
    return m.Unlock(
        cmd="unlock",
        cmd_id=cmd_id,
        ts=at(seconds),
        session_id="center-9",
        member="m-17",
        max_duration_s=max_s,
    )


def lock(cmd_id: str = "c-2", *, seconds: float = 0, grace: float = 0, **extra: str) -> m.Lock:
    return m.Lock(cmd="lock", cmd_id=cmd_id, ts=at(seconds), reason="booking_ended", grace_s=grace, **extra)


def device(out: list[Publication]) -> list[tuple[str, object]]:
    """What went to the device (everything not canonical)."""
    return [(t, body) for t, body in decoded(out) if not t.startswith("fablab/")]


def acks(out: list[Publication]) -> list[tuple[str, str | None]]:
    return [(body["result"], body.get("detail")) for t, body in decoded(out) if t == ACK]


def events(out: list[Publication]) -> list[tuple[str, dict[str, object]]]:
    return [(body["type"], body["data"]) for t, body in decoded(out) if t == EVENT]


def plug(adapter: str = "tasmota") -> MachineRuntime:
    source = "tasmota_laser1" if adapter == "tasmota" else "shellyplus1pm-laser1"
    return runtime(adapter, source, thresholds=Thresholds(busy_min_s=0))


class TestLock:
    def test_tasmota_gets_power_off_at_once_and_the_session_stops(self) -> None:
        laser = plug()
        laser.handle_native("tele/tasmota_laser1/SENSOR", b'{"ENERGY": {"Power": 500}}', at(0))
        out = laser.handle_command(lock(seconds=30), at(30))
        assert device(out) == [("cmnd/tasmota_laser1/POWER", "OFF")]
        assert events(out) == [
            (
                "session.stopped",
                {
                    "session_id": "s-1",
                    "stop_type": "lock",
                    "duration_s": 30.0,
                    "busy_s": 30.0,
                    "energy_wh": 4.167,
                },
            )
        ]
        assert acks(out) == [("applied", None)]

    def test_shelly_gets_switch_set_on_false(self) -> None:
        laser = plug("shelly")
        out = laser.handle_command(lock(), at(0))
        assert device(out) == [
            (
                "shellyplus1pm-laser1/rpc",
                {
                    "id": 1,
                    "src": "fablab-gw-1",
                    "method": "Switch.Set",
                    "params": {"id": 0, "on": False},
                },
            )
        ]
        assert acks(out) == [("applied", None)]

    def test_grace_lets_the_job_finish_first(self) -> None:
        laser = plug()
        assert device(laser.handle_command(lock(grace=120), at(0))) == []
        assert laser.tick(at(119)) == []
        assert device(laser.tick(at(120))) == [("cmnd/tasmota_laser1/POWER", "OFF")]
        assert laser.tick(at(121)) == []

    def test_a_lock_for_an_earlier_session_spares_the_current_one(self) -> None:
        laser = plug()
        laser.handle_command(unlock(), at(0))
        out = laser.handle_command(lock(session_id="center-8"), at(5))
        assert device(out) == []
        assert acks(out) == [("rejected", "session center-8 is over; center-9 holds the machine")]

    def test_an_unlock_cancels_a_pending_lock(self) -> None:
        laser = plug()
        laser.handle_command(lock(grace=60), at(0))
        laser.handle_command(unlock(seconds=10), at(10))
        assert laser.tick(at(61)) == []


class TestUnlock:
    def test_switches_on_opens_the_session_and_acks(self) -> None:
        laser = plug()
        out = laser.handle_command(unlock(), at(0))
        assert device(out) == [("cmnd/tasmota_laser1/POWER", "ON")]
        assert events(out) == [("session.started", {"session_id": "center-9"})]
        assert acks(out) == [("applied", None)]
        assert laser.grant == Grant("center-9", T0, at(600))

    def test_the_local_deadline_switches_off_with_the_center_gone(self) -> None:
        laser = plug()
        laser.handle_command(unlock(max_s=600), at(0))
        laser.handle_native("stat/tasmota_laser1/POWER", b"ON", at(1))
        assert laser.tick(at(599)) == []
        out = laser.tick(at(600))
        assert device(out) == [("cmnd/tasmota_laser1/POWER", "OFF")]
        assert events(out) == [
            (
                "session.stopped",
                {
                    "session_id": "center-9",
                    "stop_type": "deadline",
                    "duration_s": 600.0,
                    "busy_s": 0.0,
                    "energy_wh": 0.0,
                },
            )
        ]
        assert laser.grant is None

    def test_time_spent_in_transit_shortens_the_deadline(self) -> None:
        laser = plug()
        laser.handle_command(unlock(seconds=0, max_s=600), at(100))
        assert laser.grant is not None
        assert laser.grant.deadline == at(600)

    def test_an_unlock_that_ran_out_in_transit_expires(self) -> None:
        laser = plug()
        out = laser.handle_command(unlock(seconds=0, max_s=600), at(601))
        assert device(out) == []
        assert acks(out) == [("expired", "the allowed time ran out in transit")]

    def test_an_offline_machine_is_not_unlocked(self) -> None:
        laser = plug()
        laser.handle_native("tele/tasmota_laser1/LWT", b"Offline", at(0))
        out = laser.handle_command(unlock(), at(1))
        assert device(out) == []
        assert acks(out) == [("rejected", "the machine is offline")]

    def test_a_printer_keeps_the_books_only(self) -> None:
        printer = runtime("octoprint", "octoPrint/p1", machine="laser-1")
        out = printer.handle_command(unlock(), at(0))
        assert device(out) == []
        assert acks(out) == [("applied", "no relay: the session is tracked only")]
        assert events(out) == [("session.started", {"session_id": "center-9"})]

    def test_a_saved_grant_still_switches_off_after_a_restart(self) -> None:
        laser = plug()
        laser.restore(Grant("center-9", at(-300), at(60)))
        out = laser.tick(at(60))
        assert device(out) == [("cmnd/tasmota_laser1/POWER", "OFF")]
        assert events(out)[0][1]["stop_type"] == "deadline"
        assert events(out)[0][1]["duration_s"] == 360.0


class TestDenyAndWarn:
    def test_deny_keeps_the_machine_off(self) -> None:
        laser = plug()
        deny = m.Deny(cmd="deny", cmd_id="c-3", ts=T0, request_id="r-1", reason="no_training")
        out = laser.handle_command(deny, at(0))
        assert device(out) == [("cmnd/tasmota_laser1/POWER", "OFF")]
        assert acks(out) == [("applied", None)]

    def test_deny_spares_a_granted_session(self) -> None:
        laser = plug()
        laser.handle_command(unlock(), at(0))
        deny = m.Deny(cmd="deny", cmd_id="c-3", ts=T0, request_id="r-1", reason="unknown_card")
        assert device(laser.handle_command(deny, at(1))) == []

    def test_warn_is_acked(self) -> None:
        laser = plug()
        warn = m.Warn(
            cmd="warn", cmd_id="c-4", ts=T0, session_id="center-9", message="5 min left", seconds_left=300
        )
        out = laser.handle_command(warn, at(0))
        assert device(out) == []
        assert acks(out) == [("applied", None)]

    def test_an_old_warning_expires(self) -> None:
        laser = plug()
        warn = m.Warn(cmd="warn", cmd_id="c-4", ts=T0, session_id="center-9", message="late", seconds_left=0)
        out = laser.handle_command(warn, T0 + timedelta(minutes=5))
        assert acks(out) == [("expired", None)]

    def test_a_native_controller_sees_the_reason(self) -> None:
        reader = runtime("native", "door-7")
        deny = m.Deny(cmd="deny", cmd_id="c-5", ts=T0, request_id="r-2", reason="no_booking")
        (sent,) = reader.handle_command(deny, at(0))
        assert sent.topic == "door-7/cmd"
        assert json.loads(sent.payload)["reason"] == "no_booking"
