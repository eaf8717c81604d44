"""Notifications: what a member is told of a change, written in the transaction of the change, and
the e-mails that carry them, queued in the same transaction (the outbox) for a worker to send after
the commit.

One small subdomain in one module: the service functions every use case calls, and its queries.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from booking.messages import Message
from booking.models import Booking, Delivery, DeliveryStatus, Notification, Webhook
from booking.security import new_id
from booking.sql import HotStatement, database_of, insert_into

_notification = Notification.__table__  # type: ignore[attr-defined]
_delivery = Delivery.__table__  # type: ignore[attr-defined]
_NOTIFICATION_COLUMNS = ["member_id", "kind", "message", "data", "booking_id", "created_at", "read_at"]
_INSERT_NOTIFICATION = HotStatement(insert_into(_notification, _NOTIFICATION_COLUMNS))
# An e-mail's row: the webhook's columns stay NULL.
_INSERT_DELIVERY = HotStatement(
    insert_into(_delivery, [c.key for c in _delivery.columns if c.key not in ("webhook_id", "payload")])
)


@dataclass(frozen=True, slots=True)
class Notice:
    """What a member is told, made ready to be written: its words rendered and the values of its
    notification row and of its e-mail's row set. Made before the change's transaction (no database
    is read), so that writing it there (`send`) costs only its INSERTs."""

    member_id: str
    kind: str
    said: Message
    now: datetime
    booking: Booking | None
    notification: dict[str, Any]
    email: dict[str, Any] | None


def notice(
    member_id: str,
    kind: str,
    message: str | Message,
    *,
    booking: Booking | None = None,
    now: datetime,
    link: str = "",
    email: bool = True,
) -> Notice:
    """A notification of `kind` for a member, with its e-mail unless `email` is False (sent after the
    commit, in the member's language at that time).

    Give a `Message` (an English template and typed values) so the member reads it in their
    language; a plain string is an older caller's English sentence."""
    said = message if isinstance(message, Message) else Message(message)
    data = said.to_json()
    booking_id = booking.id if booking else None
    return Notice(
        member_id=member_id,
        kind=kind,
        said=said,
        now=now,
        booking=booking,
        notification={
            "member_id": member_id,
            "kind": kind,
            "message": said.english()[:1000],
            "data": data,
            "booking_id": booking_id,
            "created_at": now,
            "read_at": None,
        },
        email=_email_row(
            kind,
            data,
            now,
            member_id=member_id,
            to_address=None,
            language="vi",
            link=link or _link_of(booking),
            booking_id=booking_id,
        )
        if email
        else None,
    )


def send(session: Session, told: Notice) -> None:
    """Write the notice in this transaction: its notification, its e-mail queued, the event for the
    webhooks that want it. Each row is one INSERT on the driver's cursor: this runs inside a
    booking's transaction, where the ORM's unit of work would hold the write slot longer."""
    _INSERT_NOTIFICATION.later(session, told.notification)
    publish(session, told.kind, told.said, told.now, booking=told.booking, member_id=told.member_id)
    if told.email is not None:
        _INSERT_DELIVERY.later(session, told.email)


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
    e-mail: `notice` and `send` in one step."""
    send(session, notice(member_id, kind, message, booking=booking, now=now, link=link, email=email))


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
    row = _email_row(
        kind,
        message.to_json(),
        now,
        member_id=member_id,
        to_address=to_address,
        language=language,
        link=link,
        booking_id=booking_id,
    )
    _INSERT_DELIVERY.later(session, row)
    return str(row["id"])


def _email_row(
    kind: str,
    message: dict[str, object],
    now: datetime,
    *,
    member_id: str | None,
    to_address: str | None,
    language: str,
    link: str,
    booking_id: str | None,
) -> dict[str, Any]:
    """The values of a queued e-mail's row (its id drawn now)."""
    return {
        "id": new_id(),
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
    }


def backlog(connection: sa.Connection) -> dict[str, tuple[int, datetime | None]]:
    """The messages waiting to be sent, by channel (email, webhook): how many, and since when the
    oldest has waited."""
    rows = connection.execute(
        sa.select(_delivery.c.channel, sa.func.count(), sa.func.min(_delivery.c.created_at))
        .where(_delivery.c.status == DeliveryStatus.pending.value)
        .group_by(_delivery.c.channel)
    )
    return {str(channel): (int(count), oldest) for channel, count, oldest in rows}


# --- webhooks ----------------------------------------------------------------------------------------

# The active webhooks and their kinds, read again at most this often (and at once after a change here).
HOOKS_TTL_S = 5.0
_hooks_lock = threading.Lock()
_hooks: dict[str, tuple[float, list[tuple[str, frozenset[str]]]]] = {}


def webhooks_changed() -> None:
    """Forget the cached webhooks: the next event reads them again."""
    with _hooks_lock:
        _hooks.clear()


def _subscribers(session: Session, kind: str) -> list[str]:
    bind = database_of(session)
    now = time.monotonic()
    with _hooks_lock:
        cached = _hooks.get(bind)
    if cached is None or now - cached[0] > HOOKS_TTL_S:
        rows = session.connection().execute(
            select(Webhook.id, Webhook.kinds).where(col(Webhook.active).is_(True))
        )
        hooks = [(hook_id, frozenset(kinds or [])) for hook_id, kinds in rows]
        with _hooks_lock:
            _hooks[bind] = (now, hooks)
    else:
        hooks = cached[1]
    return [hook_id for hook_id, kinds in hooks if kind in kinds or "*" in kinds]


def publish(
    session: Session,
    kind: str,
    message: Message,
    now: datetime,
    *,
    booking: Booking | None = None,
    member_id: str | None = None,
    data: dict[str, object] | None = None,
) -> None:
    """Queue the event for every webhook that wants its kind, in this transaction (sent after the
    commit, signed, by the web layer's worker). One event told to several people (an alert to each
    manager) is published once per transaction."""
    hooks = _subscribers(session, kind)
    if not hooks:
        return
    said = message.to_json()
    seen: set[str] = session.info.setdefault("published", set())
    key = f"{kind}|{now.isoformat()}|{json.dumps(said, sort_keys=True, default=str)}"
    if key in seen:
        return
    seen.add(key)
    payload: dict[str, object] = {"kind": kind, "created_at": now.isoformat(), **(data or {})}
    if booking is not None:
        payload["booking"] = {
            "id": booking.id,
            "resource_id": booking.resource_id,
            "site_id": booking.site_id,
            "start": booking.start_at.isoformat(),
            "end": booking.end_at.isoformat(),
            "status": str(booking.status),
            "member_id": booking.member_id,
        }
    elif member_id is not None:
        payload["member_id"] = member_id
    for hook_id in hooks:
        session.connection().execute(
            _delivery.insert(),
            {
                "id": new_id(),
                "channel": "webhook",
                "kind": kind,
                "member_id": None,
                "to_address": None,
                "language": "vi",
                "message": said,
                "link": _link_of(booking),
                "booking_id": booking.id if booking else None,
                "status": DeliveryStatus.pending.value,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "sent_at": None,
                "created_at": now,
                "webhook_id": hook_id,
                "payload": payload,
            },
        )


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
