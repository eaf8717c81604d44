"""Pure rules of maintenance: how far a plan is through its interval, and when it is due or overdue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from booking.messages import Message, message

# A plan is `due` (service soon) from this share of its interval, `overdue` (blocked) from 100 %.
DUE_RATIO = 0.9
# The order a plan's status sorts in when the worst of several is wanted.
SEVERITY = {"ok": 0, "due": 1, "overdue": 2}


@dataclass(frozen=True, slots=True)
class PlanProgress:
    """How far a maintenance plan is through its interval (1.0 = due now), and what drives it."""

    ratio: float
    reason: str
    # The reason as a message each reader reads in their language.
    said: Message = field(default_factory=lambda: message("no interval set"))

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
            PlanProgress(
                hours / every_runtime_h,
                f"{hours:.1f} of {every_runtime_h:g} runtime hours",
                message("{done} of {every} runtime hours", done=round(hours, 1), every=every_runtime_h),
            )
        )
    if every_jobs:
        done = jobs - jobs_at_done
        candidates.append(
            PlanProgress(
                done / every_jobs,
                f"{done} of {every_jobs} jobs",
                message("{done} of {every} jobs", done=done, every=every_jobs),
            )
        )
    if every_days:
        days = (now - last_done_at).total_seconds() / 86400
        candidates.append(
            PlanProgress(
                days / every_days,
                f"{days:.0f} of {every_days} days",
                message("{done} of {every} days", done=round(days), every=every_days),
            )
        )
    return max(candidates, key=lambda p: p.ratio, default=PlanProgress(0.0, "no interval set"))


def worst_status(statuses: list[str]) -> str:
    """The most urgent of these plan statuses (`ok` for none)."""
    return max(statuses, key=SEVERITY.__getitem__, default="ok")
