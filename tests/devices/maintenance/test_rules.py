"""Pure rules of maintenance: how far a plan is through its interval, the worst of several."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.maintenance import rules

NOW = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)


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

    def test_no_interval_is_never_due(self) -> None:
        progress = rules.plan_progress(
            now=NOW,
            last_done_at=NOW - timedelta(days=400),
            runtime_s=10**7,
            runtime_s_at_done=0,
            jobs=10**4,
            jobs_at_done=0,
            every_runtime_h=None,
            every_jobs=None,
            every_days=None,
        )
        assert (progress.status, progress.reason) == ("ok", "no interval set")


class TestWorstStatus:
    @pytest.mark.parametrize(
        ("statuses", "worst"),
        [([], "ok"), (["ok", "due"], "due"), (["due", "overdue", "ok"], "overdue"), (["ok"], "ok")],
    )
    def test_the_most_urgent_wins(self, statuses: list[str], worst: str) -> None:
        assert rules.worst_status(statuses) == worst
