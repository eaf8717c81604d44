"""The engine's queries: the bookings holding a slot, the locks that order bookings, the guarded insert.

This is the booking hot path: its statements are written once in Core and run as `HotStatement`s on
the driver's cursor, and what the database's guards refuse becomes an exception the engine names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session

from booking.models import ACTIVE_STATUSES, Booking, BookingStatus, Resource
from booking.sql import (
    HotStatement,
    among,
    bound_columns,
    held_locks,
    insert_into,
    locking_in_order,
    rows_stay_detached,
)

# The unique constraint on booking.code as each database names it when it refuses a row. Migration
# 0001 leaves it unnamed: PostgreSQL then calls it <table>_<column>_key, and SQLite names an unnamed
# UNIQUE constraint by its table and column.
CODE_CONSTRAINT_POSTGRESQL = "booking_code_key"
CODE_CONSTRAINT_SQLITE = "booking.code"


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


_booking = _table(Booking)
_resource = _table(Resource)


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


_TOUCHING = HotStatement(
    sa.select(*_HOLDER_COLUMNS)
    .where(
        _booking.c.resource_id == sa.bindparam("resource_id"),
        among(_booking.c.status, _ACTIVE),
        _booking.c.start_at < sa.bindparam("end"),
        _booking.c.block_end > sa.bindparam("start"),
    )
    .order_by(_booking.c.start_at)
)


def _held_exclusive(*conditions: Any) -> sa.Select[Any]:
    return sa.select(*_HOLDER_COLUMNS).where(
        _booking.c.resource_id == sa.bindparam("resource_id"),
        _booking.c.exclusive,
        among(_booking.c.status, _ACTIVE),
        *conditions,
    )


# The active bookings of an exclusive resource never overlap (the database refuses it), so among those
# starting at or before a slot the last one is the only one that can reach into it, and after it the
# first one starting inside the slot is the next holder: two index probes, however long the history.
_FIRST_CONFLICT = HotStatement(
    sa.union_all(
        _held_exclusive(_booking.c.start_at <= sa.bindparam("start"))
        .order_by(_booking.c.start_at.desc())
        .limit(1)
        .subquery()
        .select(),
        _held_exclusive(
            _booking.c.start_at > sa.bindparam("start"), _booking.c.start_at < sa.bindparam("end")
        )
        .order_by(_booking.c.start_at)
        .limit(1)
        .subquery()
        .select(),
    )
)


def active_bookings_touching(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> list[Holder]:
    """Active bookings of the resource whose blocked span [start, block_end) touches [start, end)."""
    return ask_active_bookings_touching(session, resource_id, start, end)()


def ask_active_bookings_touching(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> Callable[[], list[Holder]]:
    """`active_bookings_touching`, asked now and read when called (HotStatement.ask)."""
    rows = _TOUCHING.ask(session, {"resource_id": resource_id, "start": start, "end": end})
    return lambda: [Holder(*row) for row in rows()]


def first_exclusive_conflict(
    session: Session, resource_id: str, start: datetime, block_end: datetime
) -> Holder | None:
    """The earliest active booking whose blocked span overlaps [start, block_end), or None."""
    return ask_first_exclusive_conflict(session, resource_id, start, block_end)()


def ask_first_exclusive_conflict(
    session: Session, resource_id: str, start: datetime, block_end: datetime
) -> Callable[[], Holder | None]:
    """`first_exclusive_conflict`, asked now and read when called (HotStatement.ask)."""
    rows = _FIRST_CONFLICT.ask(session, {"resource_id": resource_id, "start": start, "end": block_end})

    def first() -> Holder | None:
        probes = [Holder(*row) for row in rows()]
        before = next((h for h in probes if h.start_at <= start and h.block_end > start), None)
        return before or next((h for h in probes if h.start_at > start), None)

    return first


def lock_resource(session: Session, resource_id: str) -> None:
    """Lock the resource's row until the transaction ends: it orders the bookings of one resource."""
    if session.get_bind().dialect.name == "postgresql" and ("resource", resource_id) not in held_locks(
        session
    ):
        # Taken in the round trip of the transaction's next statement, before it runs.
        _LOCK_RESOURCE.later(session, {"id": resource_id})


_LOCK_RESOURCE = HotStatement(
    sa.select(_resource.c.id).where(_resource.c.id == sa.bindparam("id")).with_for_update()
)


def lock_resources(session: Session, resource_ids: Sequence[str]) -> None:
    """`lock_resource` for several resources at once, in the order of their ids (`locking_in_order`)."""
    if resource_ids and session.get_bind().dialect.name == "postgresql":
        _LOCK_RESOURCES.later(session, {"ids": list(resource_ids)})
        held_locks(session).update(("resource", resource_id) for resource_id in resource_ids)


_LOCK_RESOURCES = HotStatement(locking_in_order(_resource))


class CodeTaken(Exception):
    """The random check-in code collided with another booking's; draw again."""


class OverlapRace(Exception):
    """The database's overlap guard refused the insert: a parallel transaction took the slot."""


def insert_booking(session: Session, booking: Booking) -> None:
    """Insert a booking row; the database's guards turn a lost race into OverlapRace and a check-in
    code already in use into CodeTaken.

    The row is written with one INSERT on the driver's cursor (the ORM's unit of work costs more than
    the rest of a booking), then the object joins the session as if loaded. On PostgreSQL the INSERT
    takes no row where the exclusion constraint or a unique key refuses it (ON CONFLICT DO NOTHING: the
    transaction stays usable without a savepoint's two extra round trips), and a row it did not take
    is a lost race if an overlapping booking is there, else a code already in use. SQLite undoes only
    the refused statement.
    """
    ask_insert_booking(session, booking)()


def insert_booking_unread(session: Session, booking: Booking) -> None:
    """Insert the booking without reading what the INSERT did: it goes out with the transaction's
    next statement or its COMMIT, and a row the database refuses (a check-in code drawn twice, an
    overlap) fails that statement, and with it the transaction. Only in a transaction that is written
    whole or not at all (booking.sql.all_or_nothing), where such a failure has every write of it
    written again alone (`insert_booking`); joins the booking to the session (unless its rows stay
    detached: booking.sql.rows_stay_detached)."""
    _INSERT.later(session, _row_values(booking))
    _joined(session, booking)


def _joined(session: Session, booking: Booking) -> None:
    """The inserted booking joins the session as if loaded, unless its rows stay detached
    (booking.sql.rows_stay_detached)."""
    if not rows_stay_detached(session):
        make_transient_to_detached(booking)
        session.add(booking)


def ask_insert_booking(session: Session, booking: Booking) -> Callable[[], None]:
    """`insert_booking` in two steps: the INSERT asked now (HotStatement.ask: on PostgreSQL it waits
    to go out with the next statement); the function returned tells its outcome, raising OverlapRace
    or CodeTaken for a row not taken, and joins the booking to the session."""
    values = _row_values(booking)
    if session.get_bind().dialect.name == "postgresql":
        taken = _PG_INSERT.ask(session, values)

        def inserted() -> None:
            if not taken():
                if first_exclusive_conflict(
                    session, booking.resource_id, booking.start_at, booking.block_end
                ):
                    raise OverlapRace()
                raise CodeTaken()
            _joined(session, booking)

        return inserted
    refused: Exception | None = None
    try:
        _INSERT.execute(session, values)
    except (IntegrityError, OperationalError) as exc:
        if _is_overlap_violation(exc):
            refused = OverlapRace()
        elif isinstance(exc, IntegrityError) and _is_code_collision(exc):
            refused = CodeTaken()
        else:
            raise
        refused.__cause__ = exc

    def done() -> None:
        if refused is not None:
            raise refused
        _joined(session, booking)

    return done


def _row_values(booking: Booking) -> dict[str, Any]:
    """The new row's values, read from the instance's own dict where `built` set them all (reading
    twenty instrumented attributes one by one cost a tenth of the booking's Python in the write lock)."""
    state = booking.__dict__
    try:
        return {key: state[key] for key in _BOOKING_KEYS}
    except KeyError:  # an instance made otherwise: its attributes, loaded as needed
        return {key: getattr(booking, key) for key in _BOOKING_KEYS}


_BOOKING_KEYS = tuple(column.key for column in _booking.columns)
_INSERT = HotStatement(insert_into(_booking))
# Every unique and exclusion constraint of the table may refuse the row; none raises.
_PG_INSERT = HotStatement(
    postgresql.insert(_booking)
    .values(bound_columns(_booking))
    .on_conflict_do_nothing()
    .returning(_booking.c.id)
)


def update_booking(session: Session, booking: Booking) -> None:
    """Write a booking whose slot changed; the database's overlap guard turns a lost race into
    OverlapRace. The write runs in a savepoint so the transaction can still name the winner."""
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except (IntegrityError, OperationalError) as exc:
        if _is_overlap_violation(exc):
            raise OverlapRace() from exc
        raise


def _is_overlap_violation(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    # exclusion_violation of no_overlapping_bookings; or a deadlock between two conflicting inserts,
    # which PostgreSQL resolves by failing one of them: the same lost race.
    if sqlstate in ("23P01", "40P01"):
        return True
    return "booking_overlap" in str(exc.orig)


def _is_code_collision(exc: IntegrityError) -> bool:
    """Whether the unique constraint on booking.code refused the row (and no other constraint)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None) == CODE_CONSTRAINT_POSTGRESQL
    return str(exc.orig) == f"UNIQUE constraint failed: {CODE_CONSTRAINT_SQLITE}"
