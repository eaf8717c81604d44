"""Every query of the booking domain, every locking read; database errors become domain errors."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, func, select

from booking.models import (
    ACTIVE_STATUSES,
    QUOTA_STATUSES,
    Booking,
    BookingStatus,
    Closure,
    IdempotencyKey,
    LedgerEntry,
    LedgerKind,
    LoginFailure,
    ManagerSite,
    Member,
    MemberTraining,
    Notification,
    Plan,
    QuotaRule,
    Resource,
    ResourceBlock,
    ResourceKind,
    Series,
    Site,
    Training,
    UTCDateTime,
    WaitlistEntry,
    WaitlistStatus,
)
from booking.rules import ClosureSpan, QuotaUsage, Span


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


# The hot path (booking, availability) speaks SQLAlchemy Core on these tables: no unit of work.
_booking = _table(Booking)
_closure = _table(Closure)
_ledger = _table(LedgerEntry)

# --- catalogue ----------------------------------------------------------------------------------


def get_site(session: Session, site_id: str) -> Site | None:
    """The site with this id, or None."""
    return session.get(Site, site_id)


def list_sites(session: Session) -> Sequence[Site]:
    """Every site, by id."""
    return session.exec(select(Site).order_by(col(Site.id))).all()


def get_resource(session: Session, resource_id: str) -> Resource | None:
    """The resource with this id, or None."""
    return session.get(Resource, resource_id)


def list_resources(
    session: Session, *, site_id: str | None = None, kind: ResourceKind | None = None
) -> Sequence[Resource]:
    """Active resources, optionally of one site and one kind, by site and name."""
    query = select(Resource).where(col(Resource.active))
    if site_id is not None:
        query = query.where(Resource.site_id == site_id)
    if kind is not None:
        query = query.where(Resource.kind == kind)
    return session.exec(query.order_by(col(Resource.site_id), col(Resource.name))).all()


_CLOSURES = sa.select(_closure.c.start_at, _closure.c.end_at, _closure.c.reason).where(
    _closure.c.site_id == sa.bindparam("site_id"),
    _closure.c.start_at < sa.bindparam("end", type_=UTCDateTime()),
    _closure.c.end_at > sa.bindparam("start", type_=UTCDateTime()),
)


def list_closures(session: Session, site_id: str, span: Span) -> list[ClosureSpan]:
    """The site's closures touching the span."""
    rows = session.connection().execute(_CLOSURES, {"site_id": site_id, "start": span.start, "end": span.end})
    return [ClosureSpan(start, end, reason) for start, end, reason in rows]


def get_training(session: Session, training_id: str) -> Training | None:
    """The training with this id, or None."""
    return session.get(Training, training_id)


def list_trainings(session: Session) -> Sequence[Training]:
    """Every training, by id."""
    return session.exec(select(Training).order_by(col(Training.id))).all()


def list_plans(session: Session) -> Sequence[Plan]:
    """Every plan, by price."""
    return session.exec(select(Plan).order_by(col(Plan.monthly_price_vnd), col(Plan.id))).all()


def get_plan(session: Session, plan_id: str) -> Plan | None:
    """The plan with this id, or None."""
    return session.get(Plan, plan_id)


def list_quota_rules(session: Session, plan_id: str, quota_group: str | None = None) -> Sequence[QuotaRule]:
    """The plan's quota rules, optionally of one group."""
    query = select(QuotaRule).where(QuotaRule.plan_id == plan_id)
    if quota_group is not None:
        query = query.where(QuotaRule.quota_group == quota_group)
    return session.exec(query.order_by(col(QuotaRule.quota_group), col(QuotaRule.period))).all()


# --- members ------------------------------------------------------------------------------------


def get_member(session: Session, member_id: str) -> Member | None:
    """The member with this id, or None."""
    return session.get(Member, member_id)


def get_member_by_email(session: Session, email: str) -> Member | None:
    """The member with this e-mail address (case-insensitive), or None."""
    return session.exec(select(Member).where(Member.email == email.strip().lower())).first()


def get_member_by_card(session: Session, card_uid: str) -> Member | None:
    """The member holding this RFID card, or None."""
    return session.exec(select(Member).where(Member.card_uid == card_uid.upper())).first()


def member_id_taken(session: Session, member_id: str) -> bool:
    """Whether a member already has this id."""
    return session.get(Member, member_id) is not None


def managed_sites(session: Session, member_id: str) -> set[str]:
    """The sites this member manages."""
    rows = session.exec(select(ManagerSite.site_id).where(ManagerSite.member_id == member_id))
    return set(rows.all())


def trainings_held(session: Session, member_id: str) -> dict[str, datetime | None]:
    """The member's trainings and when each expires (None: never)."""
    table = _table(MemberTraining)
    rows = session.connection().execute(
        sa.select(table.c.training_id, table.c.expires_at).where(table.c.member_id == member_id)
    )
    return {str(training_id): expires for training_id, expires in rows}


def list_member_trainings(session: Session, member_id: str) -> Sequence[MemberTraining]:
    """The member's training grants."""
    return session.exec(select(MemberTraining).where(MemberTraining.member_id == member_id)).all()


def lock_member(session: Session, member_id: str) -> None:
    """Lock the member's row until the transaction ends: it guards their quota ledger.

    Two parallel bookings by one member then check their quota one after the other. SQLite needs no
    row lock: every writing transaction there begins IMMEDIATE and holds the database's write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.select(Member.__table__.c.id)  # type: ignore[attr-defined]
            .where(Member.__table__.c.id == member_id)  # type: ignore[attr-defined]
            .with_for_update()
        )


def lock_resource(session: Session, resource_id: str) -> None:
    """Lock the resource's row until the transaction ends: it orders the bookings of one resource."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.select(Resource.__table__.c.id)  # type: ignore[attr-defined]
            .where(Resource.__table__.c.id == resource_id)  # type: ignore[attr-defined]
            .with_for_update()
        )


# --- bookings -----------------------------------------------------------------------------------


def get_booking(session: Session, booking_id: str) -> Booking | None:
    """The booking with this id, or None."""
    return session.get(Booking, booking_id)


def get_booking_by_code(session: Session, code: str) -> Booking | None:
    """The booking with this check-in code, or None."""
    return session.exec(select(Booking).where(Booking.code == code.strip().upper())).first()


@dataclass(frozen=True, slots=True)
class Holder:
    """An active booking holding (part of) a slot: what a refusal or a free-span list needs of it."""

    start_at: datetime
    end_at: datetime
    block_end: datetime
    seats: int
    member_id: str
    id: str
    status: BookingStatus


_HOLDER_COLUMNS = (
    _booking.c.start_at,
    _booking.c.end_at,
    _booking.c.block_end,
    _booking.c.seats,
    _booking.c.member_id,
    _booking.c.id,
    _booking.c.status,
)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]


# Hot statements are built once with bound parameters, so each call skips building the expression
# and hits SQLAlchemy's compiled cache straight away.
_TOUCHING = (
    sa.select(*_HOLDER_COLUMNS)
    .where(
        _booking.c.resource_id == sa.bindparam("resource_id"),
        _booking.c.status.in_(_ACTIVE),
        _booking.c.start_at < sa.bindparam("end"),
        _booking.c.block_end > sa.bindparam("start"),
    )
    .order_by(_booking.c.start_at)
)
_FIRST_CONFLICT = (
    sa.select(*_HOLDER_COLUMNS)
    .where(
        _booking.c.resource_id == sa.bindparam("resource_id"),
        _booking.c.exclusive,
        _booking.c.status.in_(_ACTIVE),
        _booking.c.start_at < sa.bindparam("end"),
        _booking.c.block_end > sa.bindparam("start"),
    )
    .order_by(_booking.c.start_at)
    .limit(1)
)


def active_bookings_touching(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> list[Holder]:
    """Active bookings of the resource whose blocked span [start, block_end) touches [start, end)."""
    rows = session.connection().execute(_TOUCHING, {"resource_id": resource_id, "start": start, "end": end})
    return [Holder(*row) for row in rows]


def first_exclusive_conflict(
    session: Session, resource_id: str, start: datetime, block_end: datetime
) -> Holder | None:
    """The earliest active booking whose blocked span overlaps [start, block_end), or None."""
    row = (
        session.connection()
        .execute(_FIRST_CONFLICT, {"resource_id": resource_id, "start": start, "end": block_end})
        .first()
    )
    return Holder(*row) if row is not None else None


class CodeTaken(Exception):
    """The random check-in code collided with another booking's; draw again."""


class OverlapRace(Exception):
    """The database's overlap guard refused the insert: a parallel transaction took the slot."""


def insert_booking(session: Session, booking: Booking) -> None:
    """Insert a booking row; the database's overlap guard turns a lost race into OverlapRace.

    The row is written with one Core INSERT (the ORM's unit of work costs more than the rest of a
    booking), then the object joins the session as if loaded. On PostgreSQL the INSERT runs in a
    savepoint, so after a lost race the transaction can still read which booking won; SQLite undoes
    only the refused statement, so it needs none.
    """
    values = {column.key: getattr(booking, column.key) for column in _booking.columns}
    try:
        if session.get_bind().dialect.name == "postgresql":
            with session.connection().begin_nested():
                session.connection().execute(_booking.insert(), values)
        else:
            session.connection().execute(_booking.insert(), values)
    except (IntegrityError, OperationalError) as exc:
        if _is_overlap_violation(exc):
            raise OverlapRace() from exc
        if isinstance(exc, IntegrityError) and "code" in str(exc.orig):
            raise CodeTaken() from exc
        raise
    make_transient_to_detached(booking)
    session.add(booking)


def _is_overlap_violation(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    # exclusion_violation of no_overlapping_bookings; or a deadlock between two conflicting inserts,
    # which PostgreSQL resolves by failing one of them: the same lost race.
    if sqlstate in ("23P01", "40P01"):
        return True
    return "booking_overlap" in str(exc.orig)


def list_bookings(
    session: Session,
    *,
    member_id: str | None = None,
    site_ids: Sequence[str] | None = None,
    resource_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    statuses: Sequence[BookingStatus] | None = None,
    limit: int = 500,
) -> Sequence[Booking]:
    """Bookings matching every given filter, by start."""
    query = select(Booking)
    if member_id is not None:
        query = query.where(Booking.member_id == member_id)
    if site_ids is not None:
        query = query.where(col(Booking.site_id).in_(site_ids))
    if resource_id is not None:
        query = query.where(Booking.resource_id == resource_id)
    if start is not None:
        query = query.where(col(Booking.end_at) > start)
    if end is not None:
        query = query.where(col(Booking.start_at) < end)
    if statuses is not None:
        query = query.where(col(Booking.status).in_(statuses))
    return session.exec(query.order_by(col(Booking.start_at), col(Booking.id)).limit(limit)).all()


def list_series_bookings(session: Session, series_id: str) -> Sequence[Booking]:
    """The bookings of a series, by start."""
    return session.exec(
        select(Booking).where(Booking.series_id == series_id).order_by(col(Booking.start_at))
    ).all()


def get_series(session: Session, series_id: str) -> Series | None:
    """The series with this id, or None."""
    return session.get(Series, series_id)


def bookings_due_for_no_show(
    session: Session, started_before: datetime, limit: int = 500
) -> Sequence[Booking]:
    """Confirmed, not checked-in bookings that started before the instant: the oldest `limit` of them."""
    return session.exec(
        select(Booking)
        .where(Booking.status == BookingStatus.confirmed, col(Booking.start_at) < started_before)
        .order_by(col(Booking.start_at))
        .limit(limit)
    ).all()


def bookings_ended(session: Session, before: datetime, limit: int = 1000) -> Sequence[Booking]:
    """Checked-in bookings whose end has passed: the oldest `limit` of them."""
    return session.exec(
        select(Booking)
        .where(Booking.status == BookingStatus.checked_in, col(Booking.end_at) <= before)
        .order_by(col(Booking.end_at))
        .limit(limit)
    ).all()


# --- quota ledger -------------------------------------------------------------------------------


def ledger_sum(session: Session, member_id: str, quota_group: str, kind: LedgerKind, span: Span) -> int:
    """The sum of the member's ledger movements of one kind and group counting inside the span."""
    total = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.seconds), 0)).where(
            LedgerEntry.member_id == member_id,
            LedgerEntry.quota_group == quota_group,
            LedgerEntry.kind == kind,
            col(LedgerEntry.at) >= span.start,
            col(LedgerEntry.at) < span.end,
        )
    ).one()
    return int(total)


def count_bookings_in(session: Session, member_id: str, quota_group: str, span: Span) -> int:
    """How many of the member's bookings in the group start inside the span and count for quota."""
    return int(
        session.exec(
            select(func.count()).where(
                Booking.member_id == member_id,
                Booking.quota_group == quota_group,
                col(Booking.status).in_(QUOTA_STATUSES),
                col(Booking.start_at) >= span.start,
                col(Booking.start_at) < span.end,
            )
        ).one()
    )


def count_future_bookings(session: Session, member_id: str, quota_group: str, now: datetime) -> int:
    """How many active bookings the member holds in the group that have not started yet."""
    return int(
        session.exec(
            select(func.count()).where(
                Booking.member_id == member_id,
                Booking.quota_group == quota_group,
                col(Booking.status).in_(ACTIVE_STATUSES),
                col(Booking.start_at) > now,
            )
        ).one()
    )


@functools.cache
def _quota_statements(periods: int) -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The two quota statements for a number of periods: booked seconds, and booking counts."""
    starts = [sa.bindparam(f"start{i}", type_=UTCDateTime()) for i in range(periods)]
    ends = [sa.bindparam(f"end{i}", type_=UTCDateTime()) for i in range(periods)]
    lowest, highest, now = (sa.bindparam(n, type_=UTCDateTime()) for n in ("lowest", "highest", "now"))
    member: sa.BindParameter[str] = sa.bindparam("member_id")
    group: sa.BindParameter[str] = sa.bindparam("quota_group")
    seconds = sa.select(
        *(
            sa.func.coalesce(
                sa.func.sum(sa.case(((_ledger.c.at >= a) & (_ledger.c.at < b), _ledger.c.seconds), else_=0)),
                0,
            )
            for a, b in zip(starts, ends, strict=True)
        )
    ).where(
        _ledger.c.member_id == member,
        _ledger.c.quota_group == group,
        _ledger.c.kind == LedgerKind.booked.value,
        _ledger.c.at >= lowest,
        _ledger.c.at < highest,
    )
    counted = [status.value for status in QUOTA_STATUSES]
    counts = sa.select(
        *(
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (
                            _booking.c.status.in_(counted)
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
            sa.func.sum(sa.case((_booking.c.status.in_(_ACTIVE) & (_booking.c.start_at > now), 1), else_=0)),
            0,
        ),
    ).where(
        _booking.c.member_id == member,
        _booking.c.quota_group == group,
        (_booking.c.start_at >= lowest) | (_booking.c.start_at > now),
    )
    return seconds, counts


def quota_usage(
    session: Session,
    member_id: str,
    quota_group: str,
    periods: Sequence[Span],
    now: datetime,
    *,
    count_bookings: bool,
    count_future: bool,
) -> list[QuotaUsage]:
    """What the member holds in the group in each period: booked seconds, bookings, and overall
    upcoming bookings, in one or two statements whatever the number of periods."""
    seconds_statement, counts_statement = _quota_statements(len(periods))
    params: dict[str, Any] = {
        "member_id": member_id,
        "quota_group": quota_group,
        "lowest": min(p.start for p in periods),
        "highest": max(p.end for p in periods),
        "now": now,
    }
    for i, period in enumerate(periods):
        params[f"start{i}"], params[f"end{i}"] = period.start, period.end
    connection = session.connection()
    sums = connection.execute(seconds_statement, params).one()
    counts: Sequence[Any] = [0] * (len(periods) + 1)
    if count_bookings or count_future:
        counts = connection.execute(counts_statement, params).one()
    return [
        QuotaUsage(booked_seconds=int(sums[i]), bookings=int(counts[i]), future_bookings=int(counts[-1]))
        for i in range(len(periods))
    ]


def insert_ledger_entry(
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
    """Append a movement to the quota ledger (one Core INSERT)."""
    session.connection().execute(
        _ledger.insert(),
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


def add_ledger_entry(session: Session, entry: LedgerEntry) -> None:
    """Append a movement to the quota ledger."""
    session.add(entry)


# --- waitlist -----------------------------------------------------------------------------------


def get_waitlist_entry(session: Session, entry_id: str) -> WaitlistEntry | None:
    """The waitlist entry with this id, or None."""
    return session.get(WaitlistEntry, entry_id)


def waiting_entries(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> Sequence[WaitlistEntry]:
    """Waiting entries on the resource whose span touches [start, end), oldest first."""
    return session.exec(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.resource_id == resource_id,
            WaitlistEntry.status == WaitlistStatus.waiting,
            col(WaitlistEntry.start_at) < end,
            col(WaitlistEntry.end_at) > start,
        )
        .order_by(col(WaitlistEntry.created_at), col(WaitlistEntry.id))
    ).all()


def waiting_ahead(session: Session, entry: WaitlistEntry) -> int:
    """How many waiting entries for an overlapping span of the resource came before this one."""
    return int(
        session.exec(
            select(func.count()).where(
                WaitlistEntry.resource_id == entry.resource_id,
                WaitlistEntry.status == WaitlistStatus.waiting,
                col(WaitlistEntry.start_at) < entry.end_at,
                col(WaitlistEntry.end_at) > entry.start_at,
                col(WaitlistEntry.created_at) < entry.created_at,
            )
        ).one()
    )


def list_member_waitlist(session: Session, member_id: str) -> Sequence[WaitlistEntry]:
    """The member's waitlist entries, newest first."""
    return session.exec(
        select(WaitlistEntry)
        .where(WaitlistEntry.member_id == member_id)
        .order_by(col(WaitlistEntry.created_at).desc())
    ).all()


def stale_waiting_entries(session: Session, now: datetime, limit: int = 1000) -> Sequence[WaitlistEntry]:
    """Waiting entries whose span has already begun: at most `limit` of them."""
    return session.exec(
        select(WaitlistEntry)
        .where(WaitlistEntry.status == WaitlistStatus.waiting, col(WaitlistEntry.start_at) <= now)
        .limit(limit)
    ).all()


# --- idempotency --------------------------------------------------------------------------------


def get_idempotency_key(session: Session, member_id: str, key: str) -> IdempotencyKey | None:
    """The stored result for this member's key, or None."""
    return session.get(IdempotencyKey, (member_id, key))


def claim_idempotency_key(
    session: Session, member_id: str, key: str, request_hash: str, now: datetime
) -> bool:
    """Claim the key for this transaction; False when another transaction already holds it.

    On PostgreSQL the insert waits for a concurrent transaction holding the same key to end, so the
    loser then reads the winner's stored result (READ COMMITTED takes a fresh snapshot per statement).
    """
    table = IdempotencyKey.__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {
        "member_id": member_id,
        "key": key,
        "request_hash": request_hash,
        "response": {},
        "created_at": now,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table).values(values).on_conflict_do_nothing().returning(table.c.key)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(values).on_conflict_do_nothing().returning(table.c.key)
    return session.execute(statement).first() is not None


def store_idempotent_response(session: Session, member_id: str, key: str, response: dict[str, Any]) -> None:
    """Record the result to replay for this key."""
    table = IdempotencyKey.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(table).where(table.c.member_id == member_id, table.c.key == key).values(response=response)
    )


# --- sign-in ------------------------------------------------------------------------------------


def count_login_failures(session: Session, email: str, since: datetime) -> int:
    """Failed sign-ins for this e-mail since the instant."""
    return int(
        session.exec(
            select(func.count()).where(LoginFailure.email == email, col(LoginFailure.at) >= since)
        ).one()
    )


def oldest_login_failure(session: Session, email: str, since: datetime) -> datetime | None:
    """The first failed sign-in for this e-mail since the instant."""
    return session.exec(
        select(func.min(LoginFailure.at)).where(LoginFailure.email == email, col(LoginFailure.at) >= since)
    ).one()


def add_login_failure(session: Session, failure: LoginFailure) -> None:
    """Record a failed sign-in."""
    session.add(failure)


def clear_login_failures(session: Session, email: str) -> None:
    """Forget the failed sign-ins of this e-mail (after a successful one)."""
    session.execute(sa.delete(LoginFailure).where(col(LoginFailure.email) == email))


# --- notifications ------------------------------------------------------------------------------


def add_notification(session: Session, notification: Notification) -> None:
    """Record a message for a member."""
    session.add(notification)


def list_notifications(session: Session, member_id: str, limit: int = 50) -> Sequence[Notification]:
    """The member's newest notifications."""
    return session.exec(
        select(Notification)
        .where(Notification.member_id == member_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    ).all()


# --- blocks (out of service) ----------------------------------------------------------------------

_block = _table(ResourceBlock)
_BLOCK_MESSAGES = sa.select(_block.c.message, _block.c.start_at).where(
    _block.c.resource_id == sa.bindparam("resource_id"),
    _block.c.cleared_at.is_(None),
    _block.c.start_at < sa.bindparam("end", type_=UTCDateTime()),
    sa.or_(_block.c.end_at.is_(None), _block.c.end_at > sa.bindparam("start", type_=UTCDateTime())),
)


def block_messages(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """(message, since) of each active block of the resource touching [start, end)."""
    rows = session.connection().execute(
        _BLOCK_MESSAGES, {"resource_id": resource_id, "start": start, "end": end}
    )
    return [(str(message), since) for message, since in rows]


def open_blocks(session: Session, resource_id: str, reason: str | None = None) -> Sequence[ResourceBlock]:
    """The resource's blocks not cleared yet, optionally of one reason."""
    query = select(ResourceBlock).where(
        ResourceBlock.resource_id == resource_id, col(ResourceBlock.cleared_at).is_(None)
    )
    if reason is not None:
        query = query.where(ResourceBlock.reason == reason)
    return session.exec(query).all()


def upcoming_bookings(session: Session, resource_id: str, after: datetime) -> Sequence[Booking]:
    """Active bookings of the resource that have not ended by the instant."""
    return session.exec(
        select(Booking).where(
            Booking.resource_id == resource_id,
            col(Booking.status).in_(ACTIVE_STATUSES),
            col(Booking.end_at) > after,
        )
    ).all()


def booking_at(
    session: Session, resource_id: str, instant: datetime, *, early: datetime | None = None
) -> Booking | None:
    """The active booking of the resource that holds the instant (or starts by `early`, if given)."""
    return session.exec(
        select(Booking)
        .where(
            Booking.resource_id == resource_id,
            col(Booking.status).in_(ACTIVE_STATUSES),
            col(Booking.start_at) <= (early or instant),
            col(Booking.end_at) > instant,
        )
        .order_by(col(Booking.start_at))
        .limit(1)
    ).first()


def member_booking_at(
    session: Session, resource_id: str, member_id: str, instant: datetime, early: datetime
) -> Booking | None:
    """The member's confirmed or checked-in booking of the resource at the instant (or from `early`)."""
    return session.exec(
        select(Booking)
        .where(
            Booking.resource_id == resource_id,
            Booking.member_id == member_id,
            col(Booking.status).in_((BookingStatus.confirmed, BookingStatus.checked_in)),
            col(Booking.start_at) <= early,
            col(Booking.end_at) > instant,
        )
        .order_by(col(Booking.start_at))
        .limit(1)
    ).first()
