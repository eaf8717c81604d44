"""Pure rules of access at the machine: how long an unlock may last, what a block tells the member."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

# Why a card is refused, as the contract's `deny` command says it.
DenyReason = Literal[
    "unknown_card",
    "no_booking",
    "no_training",
    "quota_exhausted",
    "maintenance",
    "fault",
    "closed",
    "booking_ended",
    "manager",
]

# A member's booking counts at the machine from this long before it starts (an early start).
EARLY_START = timedelta(minutes=15)
# With no limit at all (no booking end, quota or closing time), an unlock lasts this long.
LONGEST_UNLOCK_S = 8 * 3600


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
        return LONGEST_UNLOCK_S
    return max(0, int(min(limits)))


def block_reason(reason: str) -> DenyReason:
    """The deny reason for a machine blocked for this reason (a block's reason is free text)."""
    if reason == "maintenance":
        return "maintenance"
    if reason == "fault":
        return "fault"
    return "manager"
