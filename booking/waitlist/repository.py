"""Every query of the waitlist."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, func, select

from booking.models import WaitlistEntry, WaitlistStatus


def get_entry(session: Session, entry_id: str) -> WaitlistEntry | None:
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


def list_member_entries(session: Session, member_id: str) -> Sequence[WaitlistEntry]:
    """The member's waitlist entries, newest first."""
    return session.exec(
        select(WaitlistEntry)
        .where(WaitlistEntry.member_id == member_id)
        .order_by(col(WaitlistEntry.created_at).desc())
    ).all()


def member_waiting(session: Session, member_id: str, after: datetime) -> Sequence[WaitlistEntry]:
    """The member's entries still waiting for a slot that starts after the instant, soonest first."""
    return session.exec(
        select(WaitlistEntry)
        .where(
            WaitlistEntry.member_id == member_id,
            WaitlistEntry.status == WaitlistStatus.waiting,
            col(WaitlistEntry.start_at) > after,
        )
        .order_by(col(WaitlistEntry.start_at))
    ).all()


def stale_entries(session: Session, now: datetime, limit: int = 1000) -> Sequence[WaitlistEntry]:
    """Waiting entries whose span has already begun: at most `limit` of them."""
    return session.exec(
        select(WaitlistEntry)
        .where(WaitlistEntry.status == WaitlistStatus.waiting, col(WaitlistEntry.start_at) <= now)
        .limit(limit)
    ).all()
