"""Notifications: what a member is told of a change, written in the transaction of the change, and
the e-mails that carry them, queued in the same transaction (the outbox) for a worker to send after
the commit.

One small subdomain in one module: the service functions every use case calls, and its queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from booking.messages import Message
from booking.models import Booking, Delivery, DeliveryStatus, Notification
from booking.security import new_id

_notification = Notification.__table__  # type: ignore[attr-defined]
_delivery = Delivery.__table__  # type: ignore[attr-defined]


def notify(
    session: Session,
    member_id: str,
    kind: str,
    message: str | Message,
    *,
    booking: Booking | None = None,
    now: datetime,
    link: str = "",
    email: bool = True,
) -> None:
    """Record a message for a member, in the transaction of the change that caused it, and queue its
    e-mail (sent after the commit, in the member's language at that time).

    Give a `Message` (an English template and typed values) so the member reads it in their
    language; a plain string is an older caller's English sentence. Both rows are written with one
    Core INSERT each: this runs inside a booking's transaction, where the ORM's unit of work would
    hold the write slot longer.
    """
    said = message if isinstance(message, Message) else Message(message)
    data = said.to_json()
    session.connection().execute(
        _notification.insert(),
        {
            "member_id": member_id,
            "kind": kind,
            "message": said.english()[:1000],
            "data": data,
            "booking_id": booking.id if booking else None,
            "created_at": now,
            "read_at": None,
        },
    )
    if email:
        _queue(
            session,
            kind,
            data,
            now,
            member_id=member_id,
            to_address=None,
            language="vi",
            link=link or _link_of(booking),
            booking_id=booking.id if booking else None,
        )


def queue_email(
    session: Session,
    kind: str,
    message: Message,
    now: datetime,
    *,
    member_id: str | None = None,
    to_address: str | None = None,
    language: str = "vi",
    link: str = "",
    booking_id: str | None = None,
) -> str:
    """Queue an e-mail to a member (or to a guest's address) in this transaction; returns its id."""
    return _queue(
        session,
        kind,
        message.to_json(),
        now,
        member_id=member_id,
        to_address=to_address,
        language=language,
        link=link,
        booking_id=booking_id,
    )


def _queue(
    session: Session,
    kind: str,
    message: dict[str, object],
    now: datetime,
    *,
    member_id: str | None,
    to_address: str | None,
    language: str,
    link: str,
    booking_id: str | None,
) -> str:
    delivery_id = new_id()
    session.connection().execute(
        _delivery.insert(),
        {
            "id": delivery_id,
            "channel": "email",
            "kind": kind,
            "member_id": member_id,
            "to_address": to_address,
            "language": language,
            "message": message,
            "link": link,
            "booking_id": booking_id,
            "status": DeliveryStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "sent_at": None,
            "created_at": now,
        },
    )
    return delivery_id


def _link_of(booking: Booking | None) -> str:
    return f"/bookings/{booking.id}" if booking is not None else ""


def list_notifications(session: Session, member_id: str, limit: int = 50) -> Sequence[Notification]:
    """The member's newest notifications."""
    return session.exec(
        select(Notification)
        .where(Notification.member_id == member_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    ).all()


def unread_count(session: Session, member_id: str) -> int:
    """How many of the member's notifications are not read yet."""
    return int(
        session.exec(
            select(func.count()).where(
                Notification.member_id == member_id, col(Notification.read_at).is_(None)
            )
        ).one()
    )


def mark_read(session: Session, member_id: str, now: datetime, notification_id: int | None = None) -> int:
    """Mark one of the member's notifications read (all of them without an id); how many changed."""
    query = update(Notification).where(
        col(Notification.member_id) == member_id, col(Notification.read_at).is_(None)
    )
    if notification_id is not None:
        query = query.where(col(Notification.id) == notification_id)
    result = session.connection().execute(query.values(read_at=now))
    return int(result.rowcount or 0)
