"""The machine state machine as a pure table: which state the facts give, activity from power."""

from __future__ import annotations

import pytest

from devices.models import Activity, MachineState
from devices.state import Facts, activity_from_power, derive_state


class TestDeriveState:
    @pytest.mark.parametrize(
        ("facts", "state"),
        [
            (
                Facts(online=False, fault=True, in_session=True, blocked=True, reserved=True),
                MachineState.offline,
            ),
            (
                Facts(online=True, fault=True, in_session=True, blocked=True, reserved=True),
                MachineState.fault,
            ),
            (
                Facts(online=True, fault=False, in_session=True, blocked=True, reserved=True),
                MachineState.in_use,
            ),
            (
                Facts(online=True, fault=False, in_session=False, blocked=True, reserved=True),
                MachineState.blocked,
            ),
            (
                Facts(online=True, fault=False, in_session=False, blocked=False, reserved=True),
                MachineState.reserved,
            ),
            (
                Facts(online=True, fault=False, in_session=False, blocked=False, reserved=False),
                MachineState.free,
            ),
        ],
    )
    def test_precedence(self, facts: Facts, state: MachineState) -> None:
        assert derive_state(facts) is state

    @pytest.mark.parametrize(
        ("power", "previous", "expected"),
        [
            (0.0, Activity.busy, Activity.off),
            (80.0, Activity.idle, Activity.busy),
            (40.0, Activity.idle, Activity.idle),  # between the thresholds: unchanged
            (40.0, Activity.busy, Activity.busy),
            (10.0, Activity.busy, Activity.idle),
            (None, Activity.busy, Activity.busy),
        ],
    )
    def test_activity_hysteresis(self, power: float | None, previous: Activity, expected: Activity) -> None:
        assert activity_from_power(power, 60, 25, previous) is expected
