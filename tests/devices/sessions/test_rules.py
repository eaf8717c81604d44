"""Pure rules of usage sessions: busy time so far, and when the runtime left calls for a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.sessions import rules

NOW = datetime(2027, 3, 1, 3, 0, tzinfo=UTC)


class TestBusySeconds:
    def test_idle_now_counts_what_was_counted(self) -> None:
        assert rules.busy_s(600.0, None, NOW) == 600.0

    def test_busy_now_adds_the_current_stretch(self) -> None:
        assert rules.busy_s(600.0, NOW - timedelta(minutes=2), NOW) == 720.0


class TestQuotaLow:
    @pytest.mark.parametrize(
        ("left_s", "limit_s", "low"),
        [
            (359.0, 3600.0, True),  # under a tenth left: the warning share
            (361.0, 3600.0, False),
            (0.0, 3600.0, True),
            (10.0, None, False),  # no limit: never low
            (10.0, 0.0, False),
        ],
    )
    def test_a_tenth_of_the_limit_left(self, left_s: float, limit_s: float | None, low: bool) -> None:
        assert rules.quota_low(left_s, limit_s) is low
