"""The typed events the machines' domain receives: their stored data, and which times are believed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices import events
from devices.models import Activity

NOW = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)


class TestSaneTime:
    @pytest.mark.parametrize(
        ("offset", "sane"),
        [
            (timedelta(0), True),
            (timedelta(minutes=4), True),
            (timedelta(minutes=6), False),  # ahead of the center's clock
            (-timedelta(days=29), True),
            (-timedelta(days=31), False),
        ],
    )
    def test_window(self, offset: timedelta, sane: bool) -> None:
        assert events.sane_event_time(NOW + offset, NOW) is sane


ENVELOPE = events.Envelope(event_id="ev-1", boot_id="boot-1", seq=7, ts=NOW)


class TestEventData:
    @pytest.mark.parametrize(
        ("event", "data"),
        [
            (
                events.AccessRequested(ENVELOPE, request_id="r-1", card_uid="04A1"),
                {"request_id": "r-1", "card_uid": "04A1"},
            ),
            (
                events.SessionStarted(ENVELOPE, session_id="s-1", card_uid=None),
                {"session_id": "s-1", "card_uid": None},
            ),
            (
                events.SessionActivity(ENVELOPE, session_id="s-1", activity=Activity.busy),
                {"session_id": "s-1", "activity": "busy"},
            ),
            (
                events.SessionStopped(
                    ENVELOPE, session_id="s-1", stop_type="idle", duration_s=60.0, busy_s=30.0, energy_wh=1.5
                ),
                {
                    "session_id": "s-1",
                    "stop_type": "idle",
                    "duration_s": 60.0,
                    "busy_s": 30.0,
                    "energy_wh": 1.5,
                },
            ),
            (
                events.JobFailed(ENVELOPE, job="cut.svg", duration_s=None, reason="lid open"),
                {"job": "cut.svg", "duration_s": None, "reason": "lid open"},
            ),
            (
                events.FaultRaised(ENVELOPE, code="E12", message="lid open"),
                {"code": "E12", "message": "lid open"},
            ),
        ],
    )
    def test_the_contracts_data_object_without_the_envelope(
        self, event: events.MachineEvent, data: dict[str, object]
    ) -> None:
        assert events.event_data(event) == data

    def test_each_type_names_itself_as_the_contract_does(self) -> None:
        assert [t.type for t in (events.JobStarted, events.JobFinished, events.FaultCleared)] == [
            "job.started",
            "job.finished",
            "fault.cleared",
        ]
