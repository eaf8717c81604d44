"""The canonical payload models of CONTRACT §1: strict, frozen, times in UTC with milliseconds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from firmware_bridge.contract import messages as m

TS = "2026-03-02T07:15:00.000Z"
AT = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)


class TestTimes:
    def test_formats_utc_with_milliseconds_and_z(self) -> None:
        plus7 = timezone(timedelta(hours=7))
        value = datetime(2026, 3, 2, 14, 15, 0, 123456, tzinfo=plus7)
        assert m.format_ts(value) == "2026-03-02T07:15:00.123Z"

    def test_refuses_to_format_a_naive_time(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            m.format_ts(datetime(2026, 3, 2, 7, 15))  # noqa: DTZ001 - the point of the test

    @pytest.mark.parametrize(
        "text", ["2026-03-02T07:15:00.000Z", "2026-03-02T14:15:00+07:00", "2026-03-02T07:15:00Z"]
    )
    def test_parses_aware_times_to_utc(self, text: str) -> None:
        assert m.parse_ts(text) == AT

    @pytest.mark.parametrize("text", ["2026-03-02T07:15:00", "yesterday", "2026-03-02"])
    def test_refuses_times_without_offset(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"RFC 3339|offset"):
            m.parse_ts(text)


class TestTelemetry:
    def test_ignores_unknown_fields(self) -> None:
        body = {"ts": TS, "boot_id": "b1", "seq": 4, "power_w": 12.5, "firmware": "14.1"}
        telemetry = m.decode(m.Telemetry, json.dumps(body))
        assert telemetry.power_w == 12.5
        assert (
            m.encode(telemetry) == b'{"ts":"2026-03-02T07:15:00.000Z","boot_id":"b1","seq":4,"power_w":12.5}'
        )

    def test_refuses_a_progress_over_100(self) -> None:
        body = {"ts": TS, "boot_id": "b1", "seq": 1, "progress_pct": 140}
        with pytest.raises(m.MessageError) as caught:
            m.decode(m.Telemetry, json.dumps(body))
        assert caught.value.reason == "invalid"
        assert "progress_pct" in caught.value.detail


class TestEvents:
    def test_reads_each_type_with_its_typed_data(self) -> None:
        body = {
            "event_id": "01JNQX5D6W8Y0Z3S7V2R4T1K9M",
            "boot_id": "b1",
            "seq": 7,
            "ts": TS,
            "type": "session.stopped",
            "data": {
                "session_id": "s-1",
                "stop_type": "deadline",
                "duration_s": 600,
                "busy_s": 420.5,
                "energy_wh": 61.2,
            },
        }
        event = m.parse_event(json.dumps(body))
        assert isinstance(event, m.SessionStoppedEvent)
        assert event.data.stop_type == "deadline"
        assert event.ts == AT

    def test_refuses_data_of_another_type(self) -> None:
        body = {
            "event_id": "e1",
            "boot_id": "b1",
            "seq": 1,
            "ts": TS,
            "type": "job.failed",
            "data": {"session_id": "s-1"},
        }
        with pytest.raises(m.MessageError) as caught:
            m.parse_event(json.dumps(body))
        assert caught.value.reason == "invalid"

    def test_refuses_unknown_envelope_fields(self) -> None:
        body = {
            "event_id": "e1",
            "boot_id": "b1",
            "seq": 1,
            "ts": TS,
            "type": "fault.raised",
            "data": {"code": "x", "message": "y"},
            "extra": True,
        }
        with pytest.raises(m.MessageError, match="extra"):
            m.parse_event(json.dumps(body))

    def test_builds_and_round_trips(self) -> None:
        event = m.build_event(
            "job.finished",
            m.JobData(job="bracket.gcode", duration_s=3600.5),
            event_id="e9",
            boot_id="b1",
            seq=3,
            ts=AT,
            device_ts="2026-03-02T07:14:58.000Z",
        )
        wire = m.encode(event)
        assert json.loads(wire) == {
            "event_id": "e9",
            "boot_id": "b1",
            "seq": 3,
            "ts": TS,
            "device_ts": "2026-03-02T07:14:58.000Z",
            "type": "job.finished",
            "data": {"job": "bracket.gcode", "duration_s": 3600.5},
        }
        assert m.parse_event(wire) == event

    def test_models_are_frozen(self) -> None:
        data = m.SessionStarted(session_id="s-1")
        with pytest.raises(ValidationError):
            data.session_id = "s-2"  # type: ignore[misc]


class TestCommands:
    @pytest.mark.parametrize(
        ("body", "kind"),
        [
            (
                {"cmd": "unlock", "session_id": "s-1", "member": "m-7", "max_duration_s": 3600},
                m.Unlock,
            ),
            ({"cmd": "deny", "request_id": "r-1", "reason": "no_training"}, m.Deny),
            ({"cmd": "warn", "session_id": "s-1", "message": "5 min", "seconds_left": 300}, m.Warn),
            ({"cmd": "lock", "reason": "booking_ended", "grace_s": 120}, m.Lock),
        ],
    )
    def test_reads_each_command(self, body: dict[str, object], kind: type[m.CommandBase]) -> None:
        command = m.parse_command(json.dumps({"cmd_id": "c-1", "ts": TS, **body}))
        assert type(command) is kind
        assert command.cmd_id == "c-1"

    def test_refuses_an_unknown_reason(self) -> None:
        body = {"cmd_id": "c-1", "ts": TS, "cmd": "deny", "request_id": "r", "reason": "because"}
        with pytest.raises(m.MessageError) as caught:
            m.parse_command(json.dumps(body))
        assert caught.value.reason == "invalid"

    def test_refuses_a_string_where_a_number_belongs(self) -> None:
        body = {"cmd_id": "c-1", "ts": TS, "cmd": "lock", "reason": "manager", "grace_s": "10"}
        with pytest.raises(m.MessageError, match="grace_s"):
            m.parse_command(json.dumps(body))

    def test_refuses_malformed_json(self) -> None:
        with pytest.raises(m.MessageError) as caught:
            m.parse_command(b'{"cmd": "lock"')
        assert caught.value.reason == "malformed_json"

    def test_refuses_payloads_over_8_kib(self) -> None:
        body = {"cmd_id": "c", "ts": TS, "cmd": "warn", "session_id": "s", "seconds_left": 1}
        body["message"] = "x" * (m.MAX_PAYLOAD_BYTES + 1)
        with pytest.raises(m.MessageError) as caught:
            m.parse_command(json.dumps(body))
        assert caught.value.reason == "too_large"


class TestStates:
    def test_birth_lists_machines_and_will_does_not(self) -> None:
        birth = m.EdgeState(state="ready", boot_id="b1", machines=["laser-1"])
        will = m.EdgeState(state="lost", boot_id="b1")
        assert json.loads(m.encode(birth)) == {
            "state": "ready",
            "boot_id": "b1",
            "machines": ["laser-1"],
        }
        assert json.loads(m.encode(will)) == {"state": "lost", "boot_id": "b1"}

    def test_a_birth_without_machines_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="lists its machines"):
            m.EdgeState(state="ready", boot_id="b1")

    def test_machine_status_keeps_its_nulls(self) -> None:
        status = m.MachineStatus(
            machine="laser-1",
            site="biic",
            state="free",
            activity="off",
            online=True,
            rev=3,
            ts=AT,
        )
        body = json.loads(m.encode(status))
        assert body["session_id"] is None
        assert body["deadline"] is None
        assert m.decode(m.MachineStatus, m.encode(status)) == status

    def test_ack_and_availability_and_heartbeat(self) -> None:
        assert json.loads(m.encode(m.Ack(cmd_id="c-1", result="duplicate", ts=AT))) == {
            "cmd_id": "c-1",
            "result": "duplicate",
            "ts": TS,
        }
        assert m.decode(m.Availability, b'{"online": false, "ts": "' + TS.encode() + b'"}') == (
            m.Availability(online=False, ts=AT)
        )
        assert m.decode(m.Heartbeat, m.encode(m.Heartbeat(ts=AT, boot_id="b"))).boot_id == "b"

    def test_online_must_be_a_real_bool(self) -> None:
        with pytest.raises(m.MessageError):
            m.decode(m.Availability, b'{"online": "yes", "ts": "2026-03-02T07:15:00.000Z"}')
