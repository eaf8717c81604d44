"""Pure rules of the machines: how long an unlock may last, when maintenance is due, sane times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# A plan is `due` (service soon) from this share of its interval, `overdue` (blocked) from 100 %.
DUE_RATIO = 0.9
# Warn the member at this share of their runtime quota, and this long before the booking ends.
QUOTA_WARN_RATIO = 0.9
END_WARN = timedelta(minutes=5)
# An event time further from the center's clock than this is not believed.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=30)


def max_duration_s(
    now: datetime,
    *,
    booking_end: datetime | None,
    grace_s: int,
    runtime_left_s: float | None,
    closes_at: datetime | None,
) -> int:
    """The least of: time to the booking's end plus grace, the runtime quota left, time to closing."""
    limits: list[float] = []
    if booking_end is not None:
        limits.append((booking_end - now).total_seconds() + grace_s)
    if runtime_left_s is not None:
        limits.append(runtime_left_s)
    if closes_at is not None:
        limits.append((closes_at - now).total_seconds())
    if not limits:
        return 8 * 3600
    return max(0, int(min(limits)))


@dataclass(frozen=True, slots=True)
class PlanProgress:
    """How far a maintenance plan is through its interval (1.0 = due now), and what drives it."""

    ratio: float
    reason: str

    @property
    def status(self) -> str:
        if self.ratio >= 1.0:
            return "overdue"
        if self.ratio >= DUE_RATIO:
            return "due"
        return "ok"


def plan_progress(
    *,
    now: datetime,
    last_done_at: datetime,
    runtime_s: int,
    runtime_s_at_done: int,
    jobs: int,
    jobs_at_done: int,
    every_runtime_h: float | None,
    every_jobs: int | None,
    every_days: int | None,
) -> PlanProgress:
    """The furthest of the plan's intervals (runtime hours, jobs, days) since it was last done."""
    candidates: list[PlanProgress] = []
    if every_runtime_h:
        hours = (runtime_s - runtime_s_at_done) / 3600
        candidates.append(
            PlanProgress(hours / every_runtime_h, f"{hours:.1f} of {every_runtime_h:g} runtime hours")
        )
    if every_jobs:
        done = jobs - jobs_at_done
        candidates.append(PlanProgress(done / every_jobs, f"{done} of {every_jobs} jobs"))
    if every_days:
        days = (now - last_done_at).total_seconds() / 86400
        candidates.append(PlanProgress(days / every_days, f"{days:.0f} of {every_days} days"))
    return max(candidates, key=lambda p: p.ratio, default=PlanProgress(0.0, "no interval set"))


def sane_event_time(ts: datetime, now: datetime) -> bool:
    """Whether a gateway's time stamp is believable: not ahead of the center, not ancient."""
    return now - MAX_EVENT_AGE <= ts <= now + MAX_CLOCK_AHEAD
