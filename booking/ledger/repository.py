"""Every query of the quota ledger: appending movements, what a member holds, the lock that guards it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from booking.ledger.rules import QuotaUsage
from booking.models import (
    ACTIVE_STATUSES,
    QUOTA_STATUSES,
    Booking,
    LedgerDay,
    LedgerEntry,
    LedgerKind,
    Member,
    Resource,
    ResourceKind,
    UTCDateTime,
)
from booking.spans import Span
from booking.sql import HotStatement, among, held_locks, insert_into, locking_in_order


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


# The booking hot path runs these tables' statements as HotStatements: no unit of work, no Core run.
_booking = _table(Booking)
_ledger = _table(LedgerEntry)
_days = _table(LedgerDay)
_member = _table(Member)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]


def lock_member(session: Session, member_id: str) -> None:
    """Lock the member's row until the transaction ends: it guards their quota ledger.

    Two parallel bookings by one member then check their quota one after the other. SQLite needs no
    row lock: every writing transaction there begins IMMEDIATE and holds the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql" and ("member", member_id) not in held_locks(session):
        # Taken in the round trip of the transaction's next statement, before it runs.
        _LOCK_MEMBER.later(session, {"id": member_id})


_LOCK_MEMBER = HotStatement(
    sa.select(_member.c.id).where(_member.c.id == sa.bindparam("id")).with_for_update()
)


def lock_members(session: Session, member_ids: Sequence[str]) -> None:
    """`lock_member` for several members at once, in the order of their ids (`locking_in_order`)."""
    if member_ids and session.get_bind().dialect.name == "postgresql":
        _LOCK_MEMBERS.later(session, {"ids": list(member_ids)})
        held_locks(session).update(("member", member_id) for member_id in member_ids)


_LOCK_MEMBERS = HotStatement(locking_in_order(_member))
_INSERT_ENTRY = HotStatement(insert_into(_ledger, [c.key for c in _ledger.columns if c.key != "id"]))


def insert_entry(
    session: Session,
    *,
    member_id: str,
    quota_group: str,
    kind: LedgerKind,
    at: datetime,
    seconds: int,
    now: datetime,
    booking_id: str | None = None,
    reference: str | None = None,
) -> None:
    """Append a movement to the quota ledger (one INSERT, sent with the next statement on PostgreSQL).

    The member's lock is taken first (if this transaction does not hold it yet): the INSERT adds to
    the member's daily total (`ledgerday`), a row that transactions would otherwise lock in any order;
    under the member's lock they take it one at a time, as the ledger's other writers do."""
    lock_member(session, member_id)
    _INSERT_ENTRY.later(
        session,
        {
            "member_id": member_id,
            "quota_group": quota_group,
            "kind": kind,
            "at": at,
            "seconds": seconds,
            "booking_id": booking_id,
            "reference": reference,
            "created_at": now,
        },
    )


@functools.cache
def _usage_statements(periods: int, with_runtime: bool) -> tuple[HotStatement, HotStatement]:
    """The two usage statements for a number of periods: ledger seconds, and booking counts."""
    starts = [sa.bindparam(f"start{i}", type_=UTCDateTime()) for i in range(periods)]
    ends = [sa.bindparam(f"end{i}", type_=UTCDateTime()) for i in range(periods)]
    lowest, now = (sa.bindparam(n, type_=UTCDateTime()) for n in ("lowest", "now"))
    member: sa.BindParameter[str] = sa.bindparam("member_id")
    group: sa.BindParameter[str] = sa.bindparam("quota_group")
    kinds = [LedgerKind.booked, LedgerKind.runtime] if with_runtime else [LedgerKind.booked]

    def moved(kind: LedgerKind, a: sa.BindParameter[Any], b: sa.BindParameter[Any]) -> Any:
        """The kind's movements in [a, b), summed from the ledger."""
        return (
            sa.select(sa.func.coalesce(sa.func.sum(_ledger.c.seconds), 0))
            .where(
                _ledger.c.member_id == member,
                _ledger.c.quota_group == group,
                _ledger.c.kind == kind.value,
                _ledger.c.at >= a,
                _ledger.c.at < b,
            )
            .scalar_subquery()
        )

    def seconds_of(kind: LedgerKind, i: int) -> Any:
        """The kind's seconds in period i: its whole UTC days [first{i}, after{i}) from their daily
        totals, its instants before the first of them [start{i}, whole{i}) and after the last of them
        [rest{i}, end{i}) from the ledger."""
        days = (
            sa.select(sa.func.coalesce(sa.func.sum(_days.c.seconds), 0))
            .where(
                _days.c.member_id == member,
                _days.c.quota_group == group,
                _days.c.kind == kind.value,
                _days.c.day >= sa.bindparam(f"first{i}", type_=sa.Date()),
                _days.c.day < sa.bindparam(f"after{i}", type_=sa.Date()),
            )
            .scalar_subquery()
        )
        whole, rest = (sa.bindparam(f"{n}{i}", type_=UTCDateTime()) for n in ("whole", "rest"))
        return days + moved(kind, starts[i], whole) + moved(kind, rest, ends[i])

    seconds = sa.select(*(seconds_of(kind, i) for kind in kinds for i in range(periods)))
    counted = [status.value for status in QUOTA_STATUSES]
    counts = sa.select(
        *(
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (
                            among(_booking.c.status, counted)
                            & (_booking.c.start_at >= a)
                            & (_booking.c.start_at < b),
                            1,
                        ),
                        else_=0,
                    )
                ),
                0,
            )
            for a, b in zip(starts, ends, strict=True)
        ),
        sa.func.coalesce(
            sa.func.sum(
                sa.case((among(_booking.c.status, _ACTIVE) & (_booking.c.start_at > now), 1), else_=0)
            ),
            0,
        ),
    ).where(
        _booking.c.member_id == member,
        _booking.c.quota_group == group,
        (_booking.c.start_at >= lowest) | (_booking.c.start_at > now),
    )
    return HotStatement(seconds), HotStatement(counts)


def ask_usage(
    session: Session,
    member_id: str,
    quota_group: str,
    periods: Sequence[Span],
    now: datetime,
    *,
    count_bookings: bool,
    count_future: bool,
    with_runtime: bool = False,
) -> Callable[[], list[QuotaUsage]]:
    """What the member holds in the group in each period: booked seconds (and machine runtime seconds
    when asked), bookings, and overall upcoming bookings, in one or two statements whatever the
    number of periods; asked now, read when the returned function is called (HotStatement.ask)."""
    seconds_statement, counts_statement = _usage_statements(len(periods), with_runtime)
    params: dict[str, Any] = {
        "member_id": member_id,
        "quota_group": quota_group,
        "lowest": min(p.start for p in periods),
        "now": now,
    }
    for i, period in enumerate(periods):
        params[f"start{i}"], params[f"end{i}"] = period.start, period.end
        first, after = whole_days(period)
        params[f"first{i}"], params[f"after{i}"] = first, after
        params[f"whole{i}"] = _midnight(first) if first < after else period.end
        params[f"rest{i}"] = _midnight(after) if first < after else period.end
    asked_sums = seconds_statement.ask(session, params)
    asked_counts = counts_statement.ask(session, params) if count_bookings or count_future else None
    n = len(periods)

    def read() -> list[QuotaUsage]:
        sums = asked_sums()[0]
        counts: Sequence[Any] = [0] * (n + 1) if asked_counts is None else asked_counts()[0]
        return [
            QuotaUsage(
                booked_seconds=int(sums[i]),
                bookings=int(counts[i]),
                future_bookings=int(counts[-1]),
                runtime_seconds=int(sums[n + i]) if with_runtime else 0,
            )
            for i in range(n)
        ]

    return read


def whole_days(period: Span) -> tuple[date, date]:
    """The UTC days wholly inside the period, as [first, after) (first == after: none)."""
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    first = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
    return first, max(first, end.date())


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# --- reports --------------------------------------------------------------------------------------


def runtime_by_kind(session: Session, site_id: str, span: Span) -> dict[ResourceKind, int]:
    """Machine runtime seconds charged in the span to bookings of the site, per resource kind."""
    rows = session.exec(
        select(Resource.kind, func.coalesce(func.sum(LedgerEntry.seconds), 0))
        .join(Booking, col(Booking.id) == col(LedgerEntry.booking_id))
        .join(Resource, col(Resource.id) == col(Booking.resource_id))
        .where(
            LedgerEntry.kind == LedgerKind.runtime,
            Booking.site_id == site_id,
            col(LedgerEntry.at) >= span.start,
            col(LedgerEntry.at) < span.end,
        )
        .group_by(Resource.kind)
    ).all()
    return {ResourceKind(kind): int(seconds) for kind, seconds in rows}


def unbooked_runtime(session: Session, span: Span) -> list[tuple[str, int]]:
    """Machine runtime seconds charged in the span to no booking, per quota group."""
    rows = session.exec(
        select(LedgerEntry.quota_group, func.coalesce(func.sum(LedgerEntry.seconds), 0))
        .where(
            LedgerEntry.kind == LedgerKind.runtime,
            col(LedgerEntry.booking_id).is_(None),
            col(LedgerEntry.at) >= span.start,
            col(LedgerEntry.at) < span.end,
        )
        .group_by(LedgerEntry.quota_group)
        .order_by(LedgerEntry.quota_group)
    ).all()
    return [(group, int(seconds)) for group, seconds in rows]
