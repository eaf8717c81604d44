"""Pure rules of usage sessions: busy time so far, and when a member is warned or the machine locked."""

from __future__ import annotations

from datetime import datetime, timedelta

# Warn the member at this share of their runtime quota, and this long before the booking ends.
QUOTA_WARN_RATIO = 0.9
END_WARN = timedelta(minutes=5)


def busy_s(busy_so_far_s: float, busy_since: datetime | None, now: datetime) -> float:
    """An open session's busy seconds: those counted so far, plus the current busy stretch."""
    return busy_so_far_s + ((now - busy_since).total_seconds() if busy_since else 0.0)


def quota_low(left_s: float, limit_s: float | None) -> bool:
    """Whether the runtime left is down to the warning share of the limit (never without a limit)."""
    if not limit_s:
        return False
    return left_s <= limit_s * (1 - QUOTA_WARN_RATIO)
