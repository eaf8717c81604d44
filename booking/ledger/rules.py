"""The quota ledger's pure rules: quota periods, what a plan's limits allow, runtime left.

Every value comes in as an argument; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from booking.catalogue.rules import QuotaLimits
from booking.errors import QuotaExceeded
from booking.messages import Hours, Name, Term
from booking.models import QuotaPeriod
from booking.spans import Span, local_instant

PERIOD_WORDS: Mapping[QuotaPeriod, str] = {
    QuotaPeriod.day: "day",
    QuotaPeriod.week: "week",
    QuotaPeriod.month: "month",
}


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """What a member holds in one quota group: in a period (booked seconds, machine runtime seconds,
    bookings), and upcoming bookings overall."""

    booked_seconds: int
    bookings: int
    future_bookings: int
    runtime_seconds: int = 0


def period_bounds(instant: datetime, period: QuotaPeriod, tz: ZoneInfo) -> Span:
    """The local day, ISO week (Monday first) or calendar month holding `instant`, as UTC."""
    local_day = instant.astimezone(tz).date()
    if period is QuotaPeriod.day:
        first, after = local_day, local_day + timedelta(days=1)
    elif period is QuotaPeriod.week:
        first = local_day - timedelta(days=local_day.weekday())
        after = first + timedelta(days=7)
    else:
        first = local_day.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return Span(local_instant(first, 0, tz), local_instant(after, 0, tz))


def check_quota(limits: QuotaLimits, usage: QuotaUsage, requested_seconds: int) -> None:
    """Refuse a booking that would take the member past a limit of their plan."""
    # The group is a word of the center's vocabulary ("meeting-rooms" reads "phòng họp").
    # An admin may name it ("Phòng thí nghiệm sinh học"); the catalogue's words otherwise.
    group: Name | Term = (
        Name(limits.group_name, limits.group_name_en or None)
        if limits.group_name
        else Term(limits.quota_group)
    )
    period = PERIOD_WORDS[limits.period]
    if limits.max_hours is not None:
        allowed = limits.max_hours * 3600
        if usage.booked_seconds + requested_seconds > allowed + 1e-6:
            raise QuotaExceeded(
                "your plan allows {allowed} of {group} per {period}; "
                "you have {booked} booked and asked for {asked} more",
                allowed=Hours(allowed / 3600),
                group=group,
                period=Term(period),
                booked=Hours(usage.booked_seconds / 3600),
                asked=Hours(requested_seconds / 3600),
            )
    if limits.max_bookings is not None and usage.bookings + 1 > limits.max_bookings:
        raise QuotaExceeded(
            "your plan allows {max_bookings} bookings of {group} per {period}; you have {bookings}",
            max_bookings=limits.max_bookings,
            group=group,
            period=Term(period),
            bookings=usage.bookings,
        )
    if limits.max_future_bookings is not None and usage.future_bookings + 1 > limits.max_future_bookings:
        raise QuotaExceeded(
            "your plan allows {max_future_bookings} upcoming bookings of {group} at once; "
            "you have {future_bookings}",
            max_future_bookings=limits.max_future_bookings,
            group=group,
            future_bookings=usage.future_bookings,
        )


def runtime_left(max_runtime_hours: float, used_seconds: float) -> float:
    """Seconds of machine runtime a limit still allows after `used_seconds` (negative when over)."""
    return max_runtime_hours * 3600 - used_seconds
