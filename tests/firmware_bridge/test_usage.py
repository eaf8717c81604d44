"""Usage detection: hysteresis on noisy power, sessions, busy time and energy."""

from __future__ import annotations

import itertools
import random

import pytest

from firmware_bridge.edge.adapters.usage import (
    ActivityChanged,
    EnergyMark,
    EnergyMeter,
    PowerHysteresis,
    Started,
    Stopped,
    Thresholds,
    UsageEvent,
    UsageTracker,
)
from tests.firmware_bridge.helpers import T0, at

THRESHOLDS = Thresholds(busy_on_w=60, busy_off_w=25, busy_min_s=5, idle_min_s=30, idle_stop_s=120)


def tracker(thresholds: Thresholds = THRESHOLDS) -> UsageTracker:
    counter = itertools.count(1)
    return UsageTracker(thresholds, lambda: f"s-{next(counter)}")


def summary(events: list[UsageEvent]) -> list[tuple[object, ...]]:
    """Events as plain tuples, times in seconds after T0."""
    out: list[tuple[object, ...]] = []
    for event in events:
        seconds = (event.at - T0).total_seconds()
        match event:
            case Started():
                out.append(("started", event.session_id, seconds))
            case ActivityChanged():
                out.append((event.activity, event.session_id, seconds))
            case Stopped():
                out.append(
                    ("stopped", event.session_id, event.stop_type, seconds, event.duration_s, event.busy_s)
                )
    return out


def noisy_trace() -> list[tuple[int, float]]:
    """A day's hour on a laser plug, one reading a second, noisy around both thresholds."""
    rng = random.Random(20260302)
    # Around busy_on (60 W) while idle: never more than 3 s in a row above it.
    near_on = [63.0, 64.0, 58.0, 62.0, 61.0, 65.0, 59.0]
    # Around busy_off (25 W) while busy: never long below it.
    near_off = [27.0, 22.0, 24.0, 26.0, 21.0, 28.0]
    trace: list[tuple[int, float]] = []
    for t in range(700):
        if t < 20 or 23 <= t < 40:
            w = rng.uniform(12, 22)  # idle: controller and fans
        elif t < 23:
            w = rng.uniform(70, 90)  # a 3 s spike: a fan kicking in, shorter than busy_min_s
        elif t < 59:
            w = near_on[t % len(near_on)]
        elif t < 60:
            w = 50.0
        elif 150 <= t < 160:
            w = rng.uniform(35, 50)  # a travel move: between the thresholds, changes nothing
        elif 250 <= t < 270:
            w = rng.uniform(5, 15)  # a 20 s pause: below busy_off, shorter than idle_min_s
        elif 330 <= t < 400:
            w = near_off[t % len(near_off)]
        elif t < 330:
            w = rng.uniform(380, 620)  # cutting
        elif t < 600:
            w = rng.uniform(12, 22)  # idle again
        else:
            w = rng.uniform(650, 750)  # a second job, ended by switching the plug off
        trace.append((t, w))
    return trace


class TestHysteresis:
    def test_a_noisy_trace_yields_exactly_the_expected_sessions(self) -> None:
        usage = tracker()
        events: list[UsageEvent] = []
        for t, watts in noisy_trace():
            events += usage.observe(at(t), power_w=watts, relay_on=True)
        events += usage.observe(at(700), relay_on=False)
        assert summary(events) == [
            ("started", "s-1", 60.0),
            ("busy", "s-1", 60.0),
            # The spike at 20, the wobble around 60 W before 59, the travel at 150, the pause
            # at 250 and the wobble around 25 W from 330 change nothing.
            ("idle", "s-1", 400.0),
            ("stopped", "s-1", "idle", 520.0, 460.0, 340.0),
            ("started", "s-2", 600.0),
            ("busy", "s-2", 600.0),
            ("stopped", "s-2", "normal", 700.0, 100.0, 100.0),
        ]

    def test_a_run_shorter_than_busy_min_s_is_not_busy(self) -> None:
        hysteresis = PowerHysteresis(THRESHOLDS)
        mark = EnergyMark(0.0, None)
        for t in range(5):
            assert hysteresis.observe(at(t), 500, mark) is None
        assert hysteresis.observe(at(5), 40, mark) is None  # between the thresholds: run broken
        assert hysteresis.level == "idle"

    def test_zero_minimums_switch_on_the_first_reading(self) -> None:
        hysteresis = PowerHysteresis(Thresholds(busy_min_s=0, idle_min_s=0))
        mark = EnergyMark(0.0, None)
        busy = hysteresis.observe(at(0), 100, mark)
        assert busy is not None
        assert (busy.level, busy.onset) == ("busy", at(0))
        idle = hysteresis.observe(at(1), 10, mark)
        assert idle is not None
        assert (idle.level, idle.onset) == ("idle", at(1))

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"busy_on_w": 20, "busy_off_w": 30}, "must not exceed"),
            ({"busy_min_s": -1}, "busy_min_s must not be negative"),
        ],
    )
    def test_refuses_inconsistent_thresholds(self, fields: dict[str, float], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            Thresholds(**fields)


class TestEnergy:
    def test_integrates_held_readings_without_a_counter(self) -> None:
        usage = tracker(Thresholds(busy_min_s=0, idle_min_s=0, idle_stop_s=0))
        events = []
        for t in range(0, 61, 10):
            events += usage.observe(at(t), power_w=600, relay_on=True)
        events += usage.observe(at(60), power_w=0)
        stopped = [e for e in events if isinstance(e, Stopped)]
        assert len(stopped) == 1
        assert stopped[0].energy_wh == 10.0  # 600 W for 60 s

    def test_prefers_the_device_counter(self) -> None:
        usage = tracker(Thresholds(busy_min_s=0, idle_min_s=0))
        usage.observe(at(0), power_w=600, energy_wh_total=1000.0, relay_on=True)
        usage.observe(at(30), power_w=600, energy_wh_total=1004.2)
        (stopped,) = usage.observe(at(60), relay_on=False, energy_wh_total=1010.5)
        assert isinstance(stopped, Stopped)
        assert stopped.energy_wh == pytest.approx(10.5)

    def test_falls_back_to_the_integral_when_the_counter_resets(self) -> None:
        start, end = EnergyMark(5.0, 1000.0), EnergyMark(15.0, 3.0)
        assert EnergyMeter.between(start, end) == 10.0


class TestSessions:
    def test_a_grant_opens_a_session_and_a_stale_off_report_does_not_close_it(self) -> None:
        usage = tracker()
        usage.observe(at(0), relay_on=False)
        assert summary(usage.grant(at(1), "center-42", "04A1B2C3")) == [("started", "center-42", 1.0)]
        assert usage.observe(at(1.2), relay_on=False) == []  # published before our ON arrived
        usage.observe(at(2), relay_on=True, power_w=15)
        assert summary(usage.observe(at(50), relay_on=False)) == [
            ("stopped", "center-42", "normal", 50.0, 49.0, 0.0)
        ]

    def test_a_granted_session_does_not_stop_on_idle(self) -> None:
        usage = tracker()
        usage.grant(at(0), "center-42")
        for t in range(0, 1000, 10):
            assert usage.observe(at(t), power_w=15, relay_on=True) == []
        assert summary(usage.stop(at(1000), "deadline")) == [
            ("stopped", "center-42", "deadline", 1000.0, 1000.0, 0.0)
        ]

    def test_a_grant_replaces_a_detected_session(self) -> None:
        usage = tracker(Thresholds(busy_min_s=0))
        usage.observe(at(0), power_w=500, relay_on=True)
        assert usage.session_id == "s-1"
        assert summary(usage.grant(at(10), "center-1")) == [
            ("stopped", "s-1", "normal", 10.0, 10.0, 10.0),
            ("started", "center-1", 10.0),
            ("busy", "center-1", 10.0),
        ]
        assert usage.grant(at(11), "center-1") == []  # the same unlock again changes nothing

    def test_a_job_is_a_session(self) -> None:
        usage = tracker()
        started = summary(usage.job_started(at(0)))
        during = usage.activity
        stopped = summary(usage.job_ended(at(90)))
        after = usage.activity
        assert started == [("started", "s-1", 0.0), ("busy", "s-1", 0.0)]
        assert stopped == [("stopped", "s-1", "normal", 90.0, 90.0, 90.0)]
        assert (during, after) == ("busy", "idle")

    def test_a_job_inside_a_granted_session_does_not_end_it(self) -> None:
        usage = tracker()
        usage.grant(at(0), "center-7")
        usage.job_started(at(10))
        assert summary(usage.job_ended(at(70))) == [("idle", "center-7", 70.0)]
        assert summary(usage.stop(at(100), "lock")) == [("stopped", "center-7", "lock", 100.0, 100.0, 60.0)]

    def test_going_offline_stops_the_session(self) -> None:
        usage = tracker(Thresholds(busy_min_s=0))
        usage.observe(at(0), power_w=500, relay_on=True)
        assert summary(usage.stop(at(30), "offline")) == [("stopped", "s-1", "offline", 30.0, 30.0, 30.0)]
        assert usage.stop(at(31), "offline") == []
