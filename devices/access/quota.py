"""Machine runtime against the member's plan: what is left, the limit, and charging a session's use.

Every read and write of the quota ledger by the machines' domain is here, in one place.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking import repository as booking_repo
from booking import rules as booking_rules
from booking.models import LedgerKind, QuotaPeriod
from devices.models import UsageSession


def runtime_left_s(
    session: Session,
    member_id: str,
    plan_id: str | None,
    group: str | None,
    now: datetime,
    tz: ZoneInfo,
    *,
    running_s: float = 0.0,
) -> float | None:
    """Seconds of machine runtime the member's plan still allows in the group (least over its periods,
    counted in the machine's site's zone)."""
    if plan_id is None or group is None:
        return None
    left: float | None = None
    for rule in booking_repo.list_quota_rules(session, plan_id, group):
        if rule.max_runtime_hours is None:
            continue
        span = booking_rules.period_bounds(now, QuotaPeriod(rule.period), tz)
        used = booking_repo.ledger_sum(session, member_id, group, LedgerKind.runtime, span) + running_s
        remaining = rule.max_runtime_hours * 3600 - used
        left = remaining if left is None else min(left, remaining)
    return left


def runtime_limit_s(session: Session, plan_id: str | None, group: str | None) -> float | None:
    """The smallest runtime limit of the member's plan in the group, in seconds."""
    if plan_id is None or group is None:
        return None
    limits = [
        r.max_runtime_hours * 3600
        for r in booking_repo.list_quota_rules(session, plan_id, group)
        if r.max_runtime_hours
    ]
    return min(limits) if limits else None


def charge_runtime(session: Session, usage: UsageSession, busy_s: float, now: datetime) -> None:
    """Charge the ended session's busy seconds to its member's quota group (the session's id is the
    entry's reference); nothing for a session of nobody, outside any group, or that never turned busy."""
    if usage.member_id is None or usage.quota_group is None or busy_s <= 0:
        return
    booking_repo.insert_ledger_entry(
        session,
        member_id=usage.member_id,
        quota_group=usage.quota_group,
        kind=LedgerKind.runtime,
        at=usage.started_at,
        seconds=round(busy_s),
        now=now,
        booking_id=usage.booking_id,
        reference=usage.id,
    )
