"""Usage detection: power hysteresis, sessions, busy time and energy. Pure; the clock comes in.

A plug reports watts. The machine is **busy** once power has stayed above `busy_on_w` for
`busy_min_s`, and **idle** once it has stayed below `busy_off_w` for `idle_min_s`; a reading between
the two thresholds breaks a run, so noise around one threshold never flips the state. A transition is
dated at the start of the run that confirmed it (the onset), not at the reading that confirmed it, so
busy time and durations do not lag by the confirmation delay.

A **session** is one use of the machine:
- detected: it starts at the first busy onset and stops after `idle_stop_s` of idle (`idle`) or when
  the relay goes off (`normal`);
- granted: the center's `unlock` opens it with the center's `session_id`; it stops on the gateway's
  `stop` (`deadline`, `lock`, `offline`) or when the relay goes off after having been on;
- job-owned: a print that starts with no session open is its own session and ends with the print.
Energy is the device's counter difference where both ends have one and it did not go backwards (a
device reboot), else the integral of the readings (each held until the next).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from firmware_bridge.contract.messages import Activity, SessionActivityKind, StopType

Level = Literal["busy", "idle"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The hysteresis and session thresholds of one machine, in W and seconds."""

    busy_on_w: float = 60.0
    busy_off_w: float = 25.0
    busy_min_s: float = 5.0
    idle_min_s: float = 30.0
    idle_stop_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("busy_on_w", "busy_off_w", "busy_min_s", "idle_min_s", "idle_stop_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.busy_off_w > self.busy_on_w:
            raise ValueError(f"busy_off_w ({self.busy_off_w}) must not exceed busy_on_w ({self.busy_on_w})")


# --- what the tracker reports ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """A session began at `at`."""

    session_id: str
    at: datetime
    card_uid: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityChanged:
    """The session's machine turned busy or idle at `at`."""

    session_id: str
    activity: SessionActivityKind
    at: datetime


@dataclass(frozen=True, slots=True)
class Stopped:
    """A session ended at `at`."""

    session_id: str
    stop_type: StopType
    at: datetime
    duration_s: float
    busy_s: float
    energy_wh: float


UsageEvent = Started | ActivityChanged | Stopped


# --- energy --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnergyMark:
    """The energy seen up to an instant: the integral of readings, and the device counter if any."""

    integrated_wh: float
    counter_wh: float | None


class EnergyMeter:
    """Integrates power readings (each held until the next) and remembers the device counter."""

    def __init__(self) -> None:
        self._integrated_wh = 0.0
        self._last_w = 0.0
        self._last_at: datetime | None = None
        self._counter_wh: float | None = None

    def sample(self, now: datetime, power_w: float | None, counter_wh: float | None) -> None:
        """Account for time since the last sample at the old power, then hold `power_w`."""
        if self._last_at is not None and now > self._last_at:
            self._integrated_wh += self._last_w * (now - self._last_at).total_seconds() / 3600
        self._last_at = now if self._last_at is None else max(now, self._last_at)
        if power_w is not None:
            self._last_w = power_w
        if counter_wh is not None:
            self._counter_wh = counter_wh

    def mark(self, at: datetime) -> EnergyMark:
        """The energy up to `at`, extrapolating the held power past the last sample."""
        extra = 0.0
        if self._last_at is not None and at > self._last_at:
            extra = self._last_w * (at - self._last_at).total_seconds() / 3600
        return EnergyMark(self._integrated_wh + extra, self._counter_wh)

    @staticmethod
    def between(start: EnergyMark, end: EnergyMark) -> float:
        """Energy from `start` to `end`: counters if both exist and did not go back, else integral."""
        if start.counter_wh is not None and end.counter_wh is not None and end.counter_wh >= start.counter_wh:
            return end.counter_wh - start.counter_wh
        return max(0.0, end.integrated_wh - start.integrated_wh)


# --- hysteresis ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transition:
    """The level changed; the run that confirmed it began at `onset`, with energy `mark` then."""

    level: Level
    onset: datetime
    mark: EnergyMark


class PowerHysteresis:
    """Busy above `busy_on_w` for `busy_min_s`, idle below `busy_off_w` for `idle_min_s`."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.level: Level = "idle"
        self._run_since: datetime | None = None
        self._run_mark: EnergyMark | None = None

    def reset(self) -> None:
        """Back to idle with no run in progress (the relay went off)."""
        self.level = "idle"
        self._run_since = None
        self._run_mark = None

    def observe(self, now: datetime, power_w: float, mark: EnergyMark) -> Transition | None:
        """Feed one reading; return the transition it confirms, if any."""
        t = self.thresholds
        if self.level == "idle":
            toward, needed = power_w > t.busy_on_w, t.busy_min_s
        else:
            toward, needed = power_w < t.busy_off_w, t.idle_min_s
        if not toward:
            self._run_since = None
            self._run_mark = None
            return None
        if self._run_since is None or self._run_mark is None:
            self._run_since, self._run_mark = now, mark
        if (now - self._run_since).total_seconds() < needed:
            return None
        self.level = "busy" if self.level == "idle" else "idle"
        transition = Transition(self.level, self._run_since, self._run_mark)
        self._run_since = None
        self._run_mark = None
        return transition


# --- sessions ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    session_id: str
    started_at: datetime
    start_mark: EnergyMark
    granted: bool = False
    job_owned: bool = False
    busy_since: datetime | None = None
    busy_s: float = 0.0
    idle_since: datetime | None = None
    # A granted session ends on relay off only after the relay was seen on: a report published
    # before our ON reached the plug must not end the session it just opened.
    relay_seen_on: bool = False


class UsageTracker:
    """One machine's activity and sessions, from readings, jobs, grants and the gateway's stops."""

    def __init__(self, thresholds: Thresholds, new_session_id: Callable[[], str]) -> None:
        self.thresholds = thresholds
        self._new_session_id = new_session_id
        self._hysteresis = PowerHysteresis(thresholds)
        self._meter = EnergyMeter()
        self._session: _Session | None = None
        self._job_active = False
        self.relay_on: bool | None = None

    @property
    def activity(self) -> Activity:
        """`off` with the relay off, `busy` in a busy run or a job, else `idle`."""
        if self.relay_on is False:
            return "off"
        if self._job_active or self._hysteresis.level == "busy":
            return "busy"
        return "idle"

    @property
    def session_id(self) -> str | None:
        """The open session's id, if one is open."""
        return self._session.session_id if self._session else None

    @property
    def granted(self) -> bool:
        """True when the open session was granted by the center."""
        return self._session is not None and self._session.granted

    def observe(
        self,
        now: datetime,
        *,
        power_w: float | None = None,
        energy_wh_total: float | None = None,
        relay_on: bool | None = None,
    ) -> list[UsageEvent]:
        """Feed one reading (any field may be missing); return what it changes."""
        relay = relay_on
        if relay is None:
            # A plug that draws power is on, whatever its last state report said.
            relay = True if power_w is not None and power_w > 0 else self.relay_on
        self._meter.sample(now, 0.0 if relay is False else power_w, energy_wh_total)
        if relay is not None:
            self.relay_on = relay
        session = self._session
        if relay is False:
            self._hysteresis.reset()
            if session and (not session.granted or session.relay_seen_on):
                return self._close(now, "normal")
            return []
        if session and relay is True:
            session.relay_seen_on = True
        events: list[UsageEvent] = []
        if power_w is not None:
            change = self._hysteresis.observe(now, power_w, self._meter.mark(now))
            if change is not None:
                events += self._apply(change)
        return events + self.tick(now)

    def job_started(self, now: datetime) -> list[UsageEvent]:
        """A job began: busy, and a session of its own if none is open."""
        self._job_active = True
        events: list[UsageEvent] = []
        session = self._session
        if session is None:
            session = self._open(self._new_session_id(), now, job_owned=True)
            events.append(Started(session.session_id, now))
        if session.busy_since is None:
            session.busy_since, session.idle_since = now, None
            events.append(ActivityChanged(session.session_id, "busy", now))
        return events

    def job_ended(self, now: datetime) -> list[UsageEvent]:
        """A job ended: idle, and its own session (if it had one) stops."""
        self._job_active = False
        session = self._session
        if session is None:
            return []
        if session.job_owned:
            return self._close(now, "normal")
        if session.busy_since is None:
            return []
        session.busy_s += (now - session.busy_since).total_seconds()
        session.busy_since, session.idle_since = None, now
        return [ActivityChanged(session.session_id, "idle", now)]

    def grant(self, now: datetime, session_id: str, card_uid: str | None = None) -> list[UsageEvent]:
        """The center granted a use: close any other session and open this one."""
        events: list[UsageEvent] = []
        if self._session is not None:
            if self._session.session_id == session_id:
                return []
            events += self._close(now, "normal")
        session = self._open(session_id, now, granted=True)
        events.append(Started(session_id, now, card_uid))
        if self.activity == "busy":
            session.busy_since = now
            events.append(ActivityChanged(session_id, "busy", now))
        return events

    def adopt(self, session_id: str, started_at: datetime) -> None:
        """Reopen a granted session after a gateway restart, without announcing it again."""
        self._session = _Session(session_id, started_at, self._meter.mark(started_at), granted=True)

    def stop(self, now: datetime, stop_type: StopType) -> list[UsageEvent]:
        """The gateway ends the open session (deadline, lock, offline); no-op if none is open."""
        if self._session is None:
            return []
        if stop_type == "offline":
            self._hysteresis.reset()
            self._job_active = False
        return self._close(now, stop_type)

    def tick(self, now: datetime) -> list[UsageEvent]:
        """Let time pass: a detected session idle for `idle_stop_s` stops."""
        session = self._session
        if (
            session is None
            or session.granted
            or session.job_owned
            or session.idle_since is None
            or (now - session.idle_since).total_seconds() < self.thresholds.idle_stop_s
        ):
            return []
        return self._close(session.idle_since + timedelta(seconds=self.thresholds.idle_stop_s), "idle")

    def _open(
        self, session_id: str, at: datetime, *, granted: bool = False, job_owned: bool = False
    ) -> _Session:
        self._session = _Session(session_id, at, self._meter.mark(at), granted=granted, job_owned=job_owned)
        return self._session

    def _apply(self, change: Transition) -> list[UsageEvent]:
        events: list[UsageEvent] = []
        session = self._session
        if change.level == "busy":
            if session is None:
                session = _Session(self._new_session_id(), change.onset, change.mark)
                self._session = session
                events.append(Started(session.session_id, change.onset))
            at = max(change.onset, session.started_at)
            session.busy_since, session.idle_since = at, None
            events.append(ActivityChanged(session.session_id, "busy", at))
        elif session is not None and session.busy_since is not None:
            at = max(change.onset, session.busy_since)
            session.busy_s += (at - session.busy_since).total_seconds()
            session.busy_since, session.idle_since = None, at
            events.append(ActivityChanged(session.session_id, "idle", at))
        return events

    def _close(self, at: datetime, stop_type: StopType) -> list[UsageEvent]:
        session = self._session
        assert session is not None
        self._session = None
        at = max(at, session.started_at)
        busy_s = session.busy_s
        if session.busy_since is not None:
            busy_s += max(0.0, (at - session.busy_since).total_seconds())
        energy = EnergyMeter.between(session.start_mark, self._meter.mark(at))
        return [
            Stopped(
                session.session_id,
                stop_type,
                at,
                duration_s=round((at - session.started_at).total_seconds(), 3),
                busy_s=round(busy_s, 3),
                energy_wh=round(energy, 3),
            )
        ]
