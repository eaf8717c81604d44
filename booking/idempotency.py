"""A booking request with an Idempotency-Key: the same key from the same member gets the first answer.

It sits above bookings and series because one request books either; its table and queries live here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.errors import Conflict, InvalidRequest
from booking.members.actors import Actor
from booking.models import IdempotencyKey
from booking.schemas import BookingCreate
from booking.series import service as series
from booking.spans import Span

_key_table: sa.Table = IdempotencyKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class BookOutcome:
    """The JSON body of a booking request's result, and whether it is a replay of an earlier one."""

    body: dict[str, Any]
    replayed: bool


def book_idempotent(
    session: Session,
    actor: Actor,
    data: BookingCreate,
    now: datetime,
    key: str | None,
    occurrences: Sequence[Span] | None = None,
) -> BookOutcome:
    """Book (one slot or a series, whose dates `series.expand` gave before the transaction); with a
    key, the same key from the same member gives the first result."""
    if key is not None:
        if not 1 <= len(key) <= 200:
            raise InvalidRequest("an Idempotency-Key has 1 to 200 characters")
        request_hash = _request_hash(data)
        if not claim_key(session, actor.id, key, request_hash, now):
            earlier = get_key(session, actor.id, key)
            if earlier is None:  # pragma: no cover - claim failed, so the row exists
                raise Conflict("this Idempotency-Key is being used by a request still running")
            if earlier.request_hash != request_hash:
                raise InvalidRequest("this Idempotency-Key was already used for a different booking request")
            return BookOutcome(body=earlier.response, replayed=True)
    if data.rrule:
        body = series.book_series(session, actor, data, now, occurrences).read().model_dump(mode="json")
    else:
        body = bookings.booking_read(bookings.book(session, actor, data, now)).model_dump(mode="json")
    if key is not None:
        store_response(session, actor.id, key, body)
    return BookOutcome(body=body, replayed=False)


def _request_hash(data: BookingCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- queries ------------------------------------------------------------------------------------


def get_key(session: Session, member_id: str, key: str) -> IdempotencyKey | None:
    """The stored result for this member's key, or None."""
    return session.get(IdempotencyKey, (member_id, key))


def claim_key(session: Session, member_id: str, key: str, request_hash: str, now: datetime) -> bool:
    """Claim the key for this transaction; False when another transaction already holds it.

    On PostgreSQL the insert waits for a concurrent transaction holding the same key to end, so the
    loser then reads the winner's stored result (READ COMMITTED takes a fresh snapshot per statement).
    """
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

        statement: Any = (
            pg_insert(_key_table).values(values).on_conflict_do_nothing().returning(_key_table.c.key)
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = (
            sqlite_insert(_key_table).values(values).on_conflict_do_nothing().returning(_key_table.c.key)
        )
    return session.execute(statement).first() is not None


def store_response(session: Session, member_id: str, key: str, response: dict[str, Any]) -> None:
    """Record the result to replay for this key."""
    session.execute(
        sa.update(_key_table)
        .where(_key_table.c.member_id == member_id, _key_table.c.key == key)
        .values(response=response)
    )
