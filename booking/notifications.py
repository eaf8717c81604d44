"""Notifications: what a member is told of a change, written in the transaction of the change.

One small subdomain in one module: the service function every use case calls, and its queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from booking.messages import Message
from booking.models import Booking, Notification


def notify(
    session: Session,
    member_id: str,
    kind: str,
    message: str | Message,
    *,
    booking: Booking | None = None,
    now: datetime,
) -> Notification:
    """Record a message for a member, in the transaction of the change that caused it.

    Give a `Message` (an English template and typed values) so the member reads it in their
    language; a plain string is an older caller's English sentence.
    """
    notification = Notification(
        member_id=member_id,
        kind=kind,
        message=message.english() if isinstance(message, Message) else message,
        booking_id=booking.id if booking else None,
        created_at=now,
    )
    session.add(notification)
    return notification


def list_notifications(session: Session, member_id: str, limit: int = 50) -> Sequence[Notification]:
    """The member's newest notifications."""
    return session.exec(
        select(Notification)
        .where(Notification.member_id == member_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    ).all()
