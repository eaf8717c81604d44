"""How the outbox's workers (e-mail and webhooks) lease a delivery and wait between tries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from booking.models import Delivery, DeliveryStatus

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
    session: Session, engine: Engine, channel: str, now: datetime, batch: int, lease: timedelta = LEASE
) -> list[Delivery]:
    """The channel's due deliveries, oldest first, each leased (its attempt counted) in the caller's
    transaction: PostgreSQL skips rows another worker holds; SQLite's write slot serialises workers."""
    query = (
        select(Delivery)
        .where(
            Delivery.channel == channel,
            Delivery.status == DeliveryStatus.pending,
            col(Delivery.next_attempt_at) <= now,
        )
        .order_by(col(Delivery.next_attempt_at))
        .limit(batch)
    )
    if engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.exec(query).all())
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = now + lease
        session.add(row)
    return rows
