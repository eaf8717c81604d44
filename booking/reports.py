"""Utilisation per site, resource kind and month: booked hours, really used hours, no-show rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from booking import repository as repo
from booking import rules
from booking.errors import InvalidRequest
from booking.models import (
    Booking,
    BookingStatus,
    LedgerEntry,
    LedgerKind,
    QuotaPeriod,
    Resource,
    ResourceKind,
)
from booking.rules import Span

# Bookings whose hours were held for the member (pending ones are not yet granted; called-off ones
# were given back). A released booking counts for the part it kept.
BOOKED_STATUSES: tuple[BookingStatus, ...] = (
    BookingStatus.confirmed,
    BookingStatus.checked_in,
    BookingStatus.completed,
    BookingStatus.no_show,
    BookingStatus.released,
)
# Bookings whose start has been judged: the member came (checked in, completed, released after the
# start) or did not (no_show). Confirmed bookings not yet judged by the no-show job are left out.
JUDGED_STATUSES: tuple[BookingStatus, ...] = (
    BookingStatus.checked_in,
    BookingStatus.completed,
    BookingStatus.no_show,
    BookingStatus.released,
)


@dataclass(frozen=True, slots=True)
class UtilisationRow:
    site_id: str
    site_name: str
    kind: ResourceKind
    bookings: int
    booked_hours: float
    used_hours: float
    no_shows: int
    judged: int

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among the bookings whose start has been judged; None when there are none yet."""
        return self.no_shows / self.judged if self.judged else None


@dataclass(frozen=True, slots=True)
class UnbookedRuntime:
    """Machine runtime not linked to a booking (walk-up use), which no site row can claim."""

    quota_group: str
    used_hours: float


@dataclass(frozen=True, slots=True)
class Utilisation:
    month: date
    rows: list[UtilisationRow]
    unbooked: list[UnbookedRuntime]


def parse_month(text: str) -> date:
    """'2027-03' as the first day of that month; InvalidRequest otherwise."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError as exc:
        raise InvalidRequest(f"'{text}' is not a month like 2027-03") from exc


def month_span(month: date, tz_name: str) -> Span:
    """The local calendar month holding `month`, as a UTC span."""
    return rules.period_bounds(
        rules.local_instant(month.replace(day=1), 12 * 60, rules.zone(tz_name)),
        QuotaPeriod.month,
        rules.zone(tz_name),
    )


def utilisation(session: Session, site_ids: Sequence[str] | None, month: date, home_tz: str) -> Utilisation:
    """Per site and kind, over the site's local month: bookings, booked and used hours, no-shows.

    Booked hours are seat-hours (a desk-pool booking of 3 seats for 2 h is 6 h). Used hours are the
    runtime ledger entries machines reported, attributed to the site and kind of their booking.
    Runtime with no booking is listed apart, per quota group, over the month in `home_tz`.
    """
    sites = [s for s in repo.list_sites(session) if site_ids is None or s.id in site_ids]
    rows: list[UtilisationRow] = []
    for site in sites:
        span = month_span(month, site.timezone)
        booked: dict[ResourceKind, list[float]] = {}
        counts: dict[ResourceKind, list[int]] = {}
        for start, end, seats, status, kind in session.execute(
            sa.select(
                col(Booking.start_at),
                col(Booking.end_at),
                col(Booking.seats),
                col(Booking.status),
                col(Resource.kind),
            )
            .join(Resource, col(Resource.id) == col(Booking.resource_id))
            .where(
                col(Booking.site_id) == site.id,
                col(Booking.start_at) >= span.start,
                col(Booking.start_at) < span.end,
                col(Booking.status).in_(BOOKED_STATUSES),
            )
        ).all():
            hours = booked.setdefault(kind, [0.0])
            hours[0] += seats * (end - start).total_seconds() / 3600
            tally = counts.setdefault(kind, [0, 0, 0])  # bookings, no-shows, judged
            tally[0] += 1
            tally[1] += status is BookingStatus.no_show
            tally[2] += status in JUDGED_STATUSES
        used = _runtime_by_kind(session, site.id, span)
        for kind in sorted(set(booked) | set(used), key=lambda k: list(ResourceKind).index(k)):
            bookings, no_shows, judged = counts.get(kind, [0, 0, 0])
            rows.append(
                UtilisationRow(
                    site_id=site.id,
                    site_name=site.name,
                    kind=kind,
                    bookings=bookings,
                    booked_hours=round(booked.get(kind, [0.0])[0], 2),
                    used_hours=round(used.get(kind, 0) / 3600, 2),
                    no_shows=no_shows,
                    judged=judged,
                )
            )
    return Utilisation(
        month=month, rows=rows, unbooked=_unbooked_runtime(session, month_span(month, home_tz))
    )


def _runtime_by_kind(session: Session, site_id: str, span: Span) -> dict[ResourceKind, int]:
    rows = session.exec(
        select(Resource.kind, func.coalesce(func.sum(LedgerEntry.seconds), 0))
        .join(Booking, col(Booking.id) == col(LedgerEntry.booking_id))
        .join(Resource, col(Resource.id) == col(Booking.resource_id))
        .where(
            LedgerEntry.kind == LedgerKind.runtime,
            Booking.site_id == site_id,
            col(LedgerEntry.at) >= span.start,
            col(LedgerEntry.at) < span.end,
        )
        .group_by(Resource.kind)
    ).all()
    return {ResourceKind(kind): int(seconds) for kind, seconds in rows}


def _unbooked_runtime(session: Session, span: Span) -> list[UnbookedRuntime]:
    rows = session.exec(
        select(LedgerEntry.quota_group, func.coalesce(func.sum(LedgerEntry.seconds), 0))
        .where(
            LedgerEntry.kind == LedgerKind.runtime,
            col(LedgerEntry.booking_id).is_(None),
            col(LedgerEntry.at) >= span.start,
            col(LedgerEntry.at) < span.end,
        )
        .group_by(LedgerEntry.quota_group)
        .order_by(LedgerEntry.quota_group)
    ).all()
    return [UnbookedRuntime(quota_group=group, used_hours=round(int(s) / 3600, 2)) for group, s in rows if s]


def recent_months(today: date, count: int = 12) -> list[date]:
    """The first days of this month and the `count - 1` before it, newest first."""
    months, cursor = [], today.replace(day=1)
    for _ in range(count):
        months.append(cursor)
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    return months


def local_today(now: datetime, tz_name: str) -> date:
    """Today's date in the zone."""
    return now.astimezone(rules.zone(tz_name)).date()
