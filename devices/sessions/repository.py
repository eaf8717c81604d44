"""Every query of usage sessions and of the events they come from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from booking.sql import HotStatement, bound_columns, insert_into
from devices.models import DeviceEvent, SeqCursor, UsageSession


def insert_event(session: Session, event: DeviceEvent) -> bool:
    """Store the event; False if an event with its id is already stored (a redelivery).

    One statement that takes no row for a known id (ON CONFLICT DO NOTHING): no read before it, no
    savepoint around it. A redelivery racing its first copy on another bridge waits for that copy's
    transaction and then stores nothing. Every event of the bridge comes this way, so the statement
    runs on the driver's cursor (a HotStatement)."""
    values = {column.key: getattr(event, column.key) for column in _event.columns}
    statement = _INSERT_EVENT[session.get_bind().dialect.name]
    return statement.first(session, values) is not None


_event = DeviceEvent.__table__  # type: ignore[attr-defined]


_INSERT_EVENT = {
    name: HotStatement(
        insert(_event)
        .values(bound_columns(_event))
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(_event.c.event_id)
    )
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


def advance_seq(session: Session, gateway_id: str, machine_id: str, boot_id: str, seq: int) -> int:
    """Record the event's seq; returns how many seqs were skipped since the last one (0: none).
    The caller holds the machine's row lock, so no other bridge moves this cursor meanwhile."""
    key = {"g": gateway_id, "m": machine_id, "b": boot_id}
    last: int | None = _LAST_SEQ.scalar(session, key)
    if last is None:
        _NEW_CURSOR.execute(
            session, {"gateway_id": gateway_id, "machine_id": machine_id, "boot_id": boot_id, "last_seq": seq}
        )
        return 0
    if seq > last:
        _ADVANCE.execute(session, {**key, "seq": seq})
    return max(0, seq - last - 1)


_cursor = SeqCursor.__table__  # type: ignore[attr-defined]
_CURSOR_KEY = sa.and_(
    _cursor.c.gateway_id == sa.bindparam("g"),
    _cursor.c.machine_id == sa.bindparam("m"),
    _cursor.c.boot_id == sa.bindparam("b"),
)
_LAST_SEQ = HotStatement(sa.select(_cursor.c.last_seq).where(_CURSOR_KEY))
_NEW_CURSOR = HotStatement(insert_into(_cursor))
_ADVANCE = HotStatement(_cursor.update().where(_CURSOR_KEY).values(last_seq=sa.bindparam("seq")))


def get_session_by_external(session: Session, machine_id: str, external_id: str) -> UsageSession | None:
    """The usage session with this wire id on the machine, or None."""
    return session.exec(
        select(UsageSession).where(
            UsageSession.machine_id == machine_id, UsageSession.external_id == external_id
        )
    ).first()


def open_sessions(session: Session) -> Sequence[UsageSession]:
    """Usage sessions not ended yet."""
    return session.exec(select(UsageSession).where(col(UsageSession.ended_at).is_(None))).all()


def list_sessions(session: Session, machine_id: str, limit: int = 100) -> Sequence[UsageSession]:
    """The machine's usage sessions, newest first."""
    return session.exec(
        select(UsageSession)
        .where(UsageSession.machine_id == machine_id)
        .order_by(col(UsageSession.started_at).desc())
        .limit(limit)
    ).all()


def sessions_started_between(
    session: Session, machine_id: str, start: datetime, end: datetime
) -> Sequence[UsageSession]:
    """The machine's usage sessions that started in [start, end), in no particular order."""
    return session.exec(
        select(UsageSession).where(
            UsageSession.machine_id == machine_id,
            col(UsageSession.started_at) >= start,
            col(UsageSession.started_at) < end,
        )
    ).all()
