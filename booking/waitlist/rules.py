"""The waitlist's pure rules: the order in which waiters are served, and whether an entry still waits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Waiter:
    entry_id: str
    created_at: datetime


def waitlist_order(waiters: Iterable[Waiter]) -> list[Waiter]:
    """First come, first served; the id breaks ties so the order is total and stable."""
    return sorted(waiters, key=lambda w: (w.created_at, w.entry_id))


def has_expired(start: datetime, now: datetime) -> bool:
    """A waiter's slot that has begun can no longer be booked for them: the entry expires."""
    return start <= now
