"""The machines' pure rules: state precedence, unlock duration, maintenance progress, sane times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices import rules
from devices.models import Activity, MachineState
from devices.state import Facts, activity_from_power, derive_state

NOW = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)


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


class TestMaxDuration:
    @pytest.mark.parametrize(
        ("booking_end_min", "runtime_left_s", "closes_min", "expected"),
        [
            (60, None, None, 3600 + 120),  # the booking's end plus grace
            (60, 1800.0, None, 1800),  # the runtime quota left is shorter
            (60, None, 30, 1800),  # closing comes first
            (None, None, None, 8 * 3600),  # nothing limits: a day's shift at most
            (-10, None, None, 0),  # the booking is over and its grace too
        ],
    )
    def test_least_of_the_limits(
        self, booking_end_min: int | None, runtime_left_s: float | None, closes_min: int | None, expected: int
    ) -> None:
        assert (
            rules.max_duration_s(
                NOW,
                booking_end=NOW + timedelta(minutes=booking_end_min) if booking_end_min is not None else None,
                grace_s=120 if booking_end_min != -10 else 0,
                runtime_left_s=runtime_left_s,
                closes_at=NOW + timedelta(minutes=closes_min) if closes_min is not None else None,
            )
            == expected
        )


class TestPlanProgress:
    @pytest.mark.parametrize(
        ("runtime_h", "jobs", "days", "status", "reason"),
        [
            (10.0, 0, 0, "ok", "10.0 of 40 runtime hours"),
            (36.0, 0, 0, "due", "36.0 of 40 runtime hours"),
            (40.0, 0, 0, "overdue", "40.0 of 40 runtime hours"),
            (1.0, 49, 0, "due", "49 of 50 jobs"),
            (1.0, 1, 91, "overdue", "91 of 90 days"),
        ],
    )
    def test_furthest_interval_decides(
        self, runtime_h: float, jobs: int, days: int, status: str, reason: str
    ) -> None:
        progress = rules.plan_progress(
            now=NOW,
            last_done_at=NOW - timedelta(days=days),
            runtime_s=int(runtime_h * 3600),
            runtime_s_at_done=0,
            jobs=jobs,
            jobs_at_done=0,
            every_runtime_h=40,
            every_jobs=50,
            every_days=90,
        )
        assert (progress.status, progress.reason) == (status, reason)


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
        assert rules.sane_event_time(NOW + offset, NOW) is sane
