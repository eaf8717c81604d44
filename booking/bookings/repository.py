"""Every query of the bookings beyond the engine's hot path: by id and code, listings, what the jobs,
the kiosk, the grid, the member's pages, the iCal feed and the reports read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from booking.models import (
    ACTIVE_STATUSES,
    LONGEST_BOOKING,
    Booking,
    BookingStatus,
    Resource,
    ResourceKind,
    Site,
)
from booking.spans import Span
from booking.sql import among


def get_booking(session: Session, booking_id: str) -> Booking | None:
    """The booking with this id, or None."""
    return session.get(Booking, booking_id)


def lock_booking(session: Session, booking_id: str) -> Booking | None:
    """The booking re-read and locked until the transaction ends (PostgreSQL; SQLite's writer holds
    the whole database already): two changes of one booking queue instead of both acting on what
    they read before."""
    return session.get(Booking, booking_id, with_for_update=True, populate_existing=True)


def get_booking_by_code(session: Session, code: str) -> Booking | None:
    """The booking with this check-in code, or None."""
    return session.exec(select(Booking).where(Booking.code == code.strip().upper())).first()


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
        query = query.where(*_ending_after(start))
    if end is not None:
        query = query.where(col(Booking.start_at) < end)
    if statuses is not None:
        query = query.where(col(Booking.status).in_(statuses))
    return session.exec(query.order_by(col(Booking.start_at), col(Booking.id)).limit(limit)).all()


def _ending_after(instant: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """Bookings that end after the instant, as conditions an index on start reads as a bounded range:
    none started more than LONGEST_BOOKING before it (without that bound, a listing from today read
    every booking ever made before today, to keep the few still running)."""
    return (col(Booking.start_at) > instant - LONGEST_BOOKING, col(Booking.end_at) > instant)


# --- jobs ---------------------------------------------------------------------------------------


def due_for_no_show(session: Session, started_before: datetime, limit: int = 500) -> Sequence[Booking]:
    """Confirmed, not checked-in bookings that started before the instant: the oldest `limit` of them."""
    return session.exec(
        select(Booking)
        .where(
            Booking.status == BookingStatus.confirmed,
            col(Booking.start_at) < started_before,
            col(Booking.event_id).is_(None),
        )
        .order_by(col(Booking.start_at))
        .limit(limit)
    ).all()


def due_for_reminder(session: Session, now: datetime, until: datetime, limit: int = 500) -> Sequence[Booking]:
    """Confirmed bookings (not an event's room) starting in (now, until] whose member was not reminded."""
    return session.exec(
        select(Booking)
        .where(
            Booking.status == BookingStatus.confirmed,
            col(Booking.start_at) > now,
            col(Booking.start_at) <= until,
            col(Booking.reminded_at).is_(None),
            col(Booking.event_id).is_(None),
        )
        .order_by(col(Booking.start_at))
        .limit(limit)
    ).all()


def ended(session: Session, before: datetime, limit: int = 1000) -> Sequence[Booking]:
    """Checked-in bookings whose end has passed: the oldest `limit` of them."""
    return session.exec(
        select(Booking)
        .where(Booking.status == BookingStatus.checked_in, col(Booking.end_at) <= before)
        .order_by(col(Booking.end_at))
        .limit(limit)
    ).all()


# --- a resource's bookings ------------------------------------------------------------------------


def _held() -> sa.ColumnElement[bool]:
    """The booking holds its slot (pending, confirmed, checked in), written as the partial index
    `ix_booking_held` is: a resource's queries then read only what it holds, not its whole history."""
    column: sa.ColumnElement[str] = Booking.__table__.c.status  # type: ignore[attr-defined]
    return among(column, [status.value for status in ACTIVE_STATUSES])


def active_between(session: Session, resource_id: str, start: datetime, end: datetime) -> Sequence[Booking]:
    """Active bookings of the resource touching [start, end), by start."""
    return session.exec(
        select(Booking)
        .where(
            Booking.resource_id == resource_id,
            _held(),
            col(Booking.start_at) < end,
            col(Booking.end_at) > start,
        )
        .order_by(col(Booking.start_at))
    ).all()


def upcoming_bookings(session: Session, resource_id: str, after: datetime) -> Sequence[Booking]:
    """Active bookings of the resource that have not ended by the instant."""
    return session.exec(
        select(Booking).where(
            Booking.resource_id == resource_id,
            _held(),
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
            _held(),
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
            _held(),
            col(Booking.status).in_((BookingStatus.confirmed, BookingStatus.checked_in)),
            col(Booking.start_at) <= early,
            col(Booking.end_at) > instant,
        )
        .order_by(col(Booking.start_at))
        .limit(1)
    ).first()


def member_spans(session: Session, resource_id: str, member_id: str, span: Span) -> list[Span]:
    """The spans of the member's active bookings of the resource touching the span."""
    rows = session.exec(
        select(Booking.start_at, Booking.end_at).where(
            Booking.resource_id == resource_id,
            Booking.member_id == member_id,
            _held(),
            col(Booking.start_at) < span.end,
            col(Booking.end_at) > span.start,
        )
    ).all()
    return [Span(start, end) for start, end in rows]


# --- a member's bookings --------------------------------------------------------------------------


def check_in_candidates(
    session: Session, member_id: str, site_id: str, latest_start: datetime, now: datetime
) -> Sequence[Booking]:
    """The member's confirmed or checked-in bookings at the site starting by `latest_start` and not
    ended at `now`, by start."""
    return session.exec(
        select(Booking)
        .where(
            Booking.member_id == member_id,
            Booking.site_id == site_id,
            col(Booking.status).in_((BookingStatus.confirmed, BookingStatus.checked_in)),
            col(Booking.start_at) <= latest_start,
            *_ending_after(now),
        )
        .order_by(col(Booking.start_at))
    ).all()


def member_bookings_ending_after(
    session: Session, member_id: str, after: datetime, *, limit: int = 500
) -> Sequence[Booking]:
    """The member's bookings (any status) that end after the instant, by start."""
    return session.exec(
        select(Booking)
        .where(Booking.member_id == member_id, *_ending_after(after))
        .order_by(col(Booking.start_at), col(Booking.id))
        .limit(limit)
    ).all()


def member_feed(
    session: Session, member_id: str, statuses: Sequence[BookingStatus], after: datetime, limit: int
) -> Sequence[tuple[Booking, Resource, Site]]:
    """The member's bookings in the statuses that end after the instant, with resource and site."""
    return session.exec(
        select(Booking, Resource, Site)
        .join(Resource, col(Resource.id) == col(Booking.resource_id))
        .join(Site, col(Site.id) == col(Booking.site_id))
        .where(
            Booking.member_id == member_id,
            col(Booking.status).in_(statuses),
            *_ending_after(after),
        )
        .order_by(col(Booking.start_at))
        .limit(limit)
    ).all()


# --- reports --------------------------------------------------------------------------------------


def starting_in_by_kind(
    session: Session, site_id: str, span: Span, statuses: Sequence[BookingStatus]
) -> Sequence[tuple[datetime, datetime, int, BookingStatus, ResourceKind]]:
    """(start, end, seats, status, resource kind) of the site's bookings in the statuses starting in
    the span."""
    rows = session.execute(
        sa.select(
            col(Booking.start_at),
            col(Booking.end_at),
            col(Booking.seats),
            col(Booking.status),
            col(Resource.kind),
        )
        .join(Resource, col(Resource.id) == col(Booking.resource_id))
        .where(
            col(Booking.site_id) == site_id,
            col(Booking.start_at) >= span.start,
            col(Booking.start_at) < span.end,
            col(Booking.status).in_(statuses),
        )
    ).all()
    return [(start, end, seats, status, kind) for start, end, seats, status, kind in rows]
