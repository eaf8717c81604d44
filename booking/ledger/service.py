"""The quota ledger's one API: reserve and refund booked seconds, charge machine runtime, and every
balance computed from the ledger (quota checks, a member's meters, runtime left).

The ledger is append-only: a balance is the sum of its movements in a period. Bookings reserve their
seconds when made and get back what is cancelled or released; machines charge their busy seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue.rules import QuotaLimits
from booking.ledger import repository as repo
from booking.ledger.rules import QuotaUsage, check_quota, period_bounds, runtime_left
from booking.members.actors import MemberInfo
from booking.models import Booking, LedgerKind, QuotaPeriod, QuotaRule
from booking.schemas import QuotaRead
from booking.spans import zone


def hold_balance(session: Session, member_id: str) -> None:
    """Lock the member's ledger until the transaction ends: their quota checks queue one after another."""
    repo.lock_member(session, member_id)


def hold_balances(session: Session, member_ids: Sequence[str]) -> None:
    """`hold_balance` for several members at once, in one order (booking.engine.service.lock_claims)."""
    repo.lock_members(session, member_ids)


def booked_seconds(booking: Booking) -> int:
    """The seat-seconds a booking holds: its length times its seats."""
    return booking.seats * int((booking.end_at - booking.start_at).total_seconds())


def reserve(session: Session, booking: Booking, now: datetime) -> None:
    """Reserve the booking's seat-seconds in its quota group (at its start)."""
    if booking.quota_group is None:
        return
    repo.insert_entry(
        session,
        member_id=booking.member_id,
        quota_group=booking.quota_group,
        kind=LedgerKind.booked,
        at=booking.start_at,
        seconds=booked_seconds(booking),
        booking_id=booking.id,
        now=now,
    )


def refund(session: Session, booking: Booking, seconds: int, now: datetime) -> None:
    """Give back `seconds` of the booking's reservation (a cancellation, a rejection, a released rest)."""
    if booking.quota_group is None or seconds <= 0:
        return
    repo.insert_entry(
        session,
        member_id=booking.member_id,
        quota_group=booking.quota_group,
        kind=LedgerKind.booked,
        at=booking.start_at,
        seconds=-seconds,
        booking_id=booking.id,
        now=now,
    )


def charge_runtime(
    session: Session,
    *,
    member_id: str,
    quota_group: str,
    at: datetime,
    seconds: int,
    now: datetime,
    booking_id: str | None = None,
    reference: str | None = None,
) -> None:
    """Charge a machine's busy seconds to the member's runtime quota (at the use's start)."""
    repo.insert_entry(
        session,
        member_id=member_id,
        quota_group=quota_group,
        kind=LedgerKind.runtime,
        at=at,
        seconds=seconds,
        now=now,
        booking_id=booking_id,
        reference=reference,
    )


def ask_quotas(
    session: Session,
    member_id: str,
    limits: Sequence[QuotaLimits],
    start: datetime,
    end: datetime,
    seats: int,
    tz: ZoneInfo,
    now: datetime,
) -> Callable[[], None]:
    """Ask what the member holds now (HotStatement.ask); the check returned refuses, when called, a
    booking of [start, end) past any of the limits (one group's rules of the member's plan)."""
    if not limits:
        return _nothing
    requested = int((end - start).total_seconds()) * seats
    periods = [period_bounds(start, rule.period, tz) for rule in limits]
    used = repo.ask_usage(
        session,
        member_id,
        limits[0].quota_group,
        periods,
        now,
        count_bookings=any(rule.max_bookings is not None for rule in limits),
        count_future=any(rule.max_future_bookings is not None for rule in limits),
    )

    def check() -> None:
        for rule, usage in zip(limits, used(), strict=True):
            check_quota(rule, usage, requested)

    return check


def _nothing() -> None:
    return None


def my_quotas(session: Session, member: MemberInfo, now: datetime, tz_name: str) -> list[QuotaRead]:
    """Each quota rule of the member's plan with what they have booked and used in its period now."""
    if member.plan_id is None:
        return []
    tz = zone(tz_name)
    rules = catalogue_repo.list_quota_rules(session, member.plan_id)
    names = catalogue_repo.quota_groups(session)
    result: list[QuotaRead] = []
    for group in dict.fromkeys(rule.quota_group for rule in rules):
        of_group = [rule for rule in rules if rule.quota_group == group]
        periods = [period_bounds(now, QuotaPeriod(rule.period), tz) for rule in of_group]
        used = repo.ask_usage(
            session, member.id, group, periods, now, count_bookings=True, count_future=True, with_runtime=True
        )()
        named = names.get(group)
        result.extend(
            _quota_read(rule, span.start, span.end, usage).model_copy(
                update={"group_name": named.name, "group_name_en": named.name_en} if named else {}
            )
            for rule, span, usage in zip(of_group, periods, used, strict=True)
        )
    return result


def _quota_read(rule: QuotaRule, start: datetime, end: datetime, usage: QuotaUsage) -> QuotaRead:
    return QuotaRead(
        quota_group=rule.quota_group,
        period=rule.period,
        period_start=start,
        period_end=end,
        limit_hours=rule.max_hours,
        booked_hours=round(usage.booked_seconds / 3600, 2),
        used_hours=round(usage.runtime_seconds / 3600, 2),
        limit_runtime_hours=rule.max_runtime_hours,
        limit_bookings=rule.max_bookings,
        bookings=usage.bookings,
        limit_future_bookings=rule.max_future_bookings,
        future_bookings=usage.future_bookings,
    )


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
    counted in the machine's site's zone); None when nothing limits it."""
    if plan_id is None or group is None:
        return None
    rules = [
        r for r in catalogue_repo.list_quota_rules(session, plan_id, group) if r.max_runtime_hours is not None
    ]
    if not rules:
        return None
    periods = [period_bounds(now, QuotaPeriod(rule.period), tz) for rule in rules]
    used = repo.ask_usage(
        session, member_id, group, periods, now, count_bookings=False, count_future=False, with_runtime=True
    )()
    return min(
        runtime_left(rule.max_runtime_hours or 0.0, usage.runtime_seconds + running_s)
        for rule, usage in zip(rules, used, strict=True)
    )


def runtime_limit_s(session: Session, plan_id: str | None, group: str | None) -> float | None:
    """The smallest runtime limit of the member's plan in the group, in seconds."""
    if plan_id is None or group is None:
        return None
    limits = [
        r.max_runtime_hours * 3600
        for r in catalogue_repo.list_quota_rules(session, plan_id, group)
        if r.max_runtime_hours
    ]
    return min(limits) if limits else None
