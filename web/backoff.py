"""How the outbox's workers (e-mail and webhooks) lease a delivery and wait between tries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.models import Delivery, DeliveryStatus

_delivery: sa.Table = Delivery.__table__  # type: ignore[attr-defined]

# A claimed delivery is leased this long: a worker killed mid-send leaves it to be sent again after.
LEASE = timedelta(minutes=5)
# Given up after this many tries (about a day at the longest wait).
MAX_ATTEMPTS = 30
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def retry_after(attempts: int) -> timedelta:
    """The wait before the next try: 30 s after the first failure, doubling, at most an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** min(max(0, attempts - 1), 20))
    return min(wait, LONGEST_WAIT)


def take_due(
    session: Session,
    engine: Engine,
    channel: str,
    now: datetime,
    batch: int,
    lease: timedelta = LEASE,
    columns: Sequence[sa.ColumnElement[Any]] = (),
) -> Sequence[sa.Row[Any]]:
    """The channel's due deliveries, oldest first, each leased (its attempt counted) in the caller's
    transaction: PostgreSQL skips rows another worker holds; SQLite's write slot serialises workers.

    Each row holds its `id`, `attempts` as counted for this try, and the `columns` asked for; one
    UPDATE leases the batch (ORM rows and a flush per row cost a third of each e-mail)."""
    query = (
        sa.select(_delivery.c.id, (_delivery.c.attempts + 1).label("attempts"), *columns)
        .where(
            _delivery.c.channel == channel,
            _delivery.c.status == DeliveryStatus.pending,
            _delivery.c.next_attempt_at <= now,
        )
        .order_by(_delivery.c.next_attempt_at)
        .limit(batch)
    )
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    connection = session.connection()
    rows = connection.execute(query).all()
    if rows:
        connection.execute(
            _delivery.update()
            .where(_delivery.c.id.in_([row.id for row in rows]))
            .values(attempts=_delivery.c.attempts + 1, next_attempt_at=now + lease)
        )
    return rows


def settle(
    session: Session,
    ids: Sequence[str],
    status: DeliveryStatus,
    last_error: str = "",
    sent_at: datetime | None = None,
) -> None:
    """Mark the deliveries `ids` with `status` (and why, or when sent), in one UPDATE of the caller's
    transaction."""
    if ids:
        values: dict[str, Any] = {"status": status, "last_error": last_error}
        if sent_at is not None:
            values["sent_at"] = sent_at
        session.connection().execute(_delivery.update().where(_delivery.c.id.in_(list(ids))).values(values))
