"""Utilisation per site, resource kind and month: booked hours, really used hours, no-show rate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session

from booking.bookings import repository as bookings_repo
from booking.catalogue import repository as catalogue_repo
from booking.errors import InvalidRequest
from booking.ledger import repository as ledger_repo
from booking.ledger.rules import period_bounds
from booking.models import BOOKED_STATUSES, JUDGED_STATUSES, BookingStatus, QuotaPeriod, ResourceKind
from booking.spans import Span, check_year, local_instant, zone


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
        first = date(year, month, 1)
    except ValueError as exc:
        raise InvalidRequest("'{text}' is not a month like 2027-03", text=text) from exc
    check_year(first)
    return first


def month_span(month: date, tz_name: str) -> Span:
    """The local calendar month holding `month`, as a UTC span."""
    tz = zone(tz_name)
    return period_bounds(local_instant(month.replace(day=1), 12 * 60, tz), QuotaPeriod.month, tz)


def utilisation(session: Session, site_ids: Sequence[str] | None, month: date, home_tz: str) -> Utilisation:
    """Per site and kind, over the site's local month: bookings, booked and used hours, no-shows.

    Booked hours are seat-hours (a desk-pool booking of 3 seats for 2 h is 6 h). Used hours are the
    runtime ledger entries machines reported, attributed to the site and kind of their booking.
    Runtime with no booking is listed apart, per quota group, over the month in `home_tz`.
    """
    sites = [s for s in catalogue_repo.list_sites(session) if site_ids is None or s.id in site_ids]
    rows: list[UtilisationRow] = []
    for site in sites:
        span = month_span(month, site.timezone)
        booked: dict[ResourceKind, list[float]] = {}
        counts: dict[ResourceKind, list[int]] = {}
        for start, end, seats, status, kind in bookings_repo.starting_in_by_kind(
            session, site.id, span, BOOKED_STATUSES
        ):
            hours = booked.setdefault(kind, [0.0])
            hours[0] += seats * (end - start).total_seconds() / 3600
            tally = counts.setdefault(kind, [0, 0, 0])  # bookings, no-shows, judged
            tally[0] += 1
            tally[1] += status is BookingStatus.no_show
            tally[2] += status in JUDGED_STATUSES
        used = ledger_repo.runtime_by_kind(session, site.id, span)
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


def _unbooked_runtime(session: Session, span: Span) -> list[UnbookedRuntime]:
    return [
        UnbookedRuntime(quota_group=group, used_hours=round(seconds / 3600, 2))
        for group, seconds in ledger_repo.unbooked_runtime(session, span)
        if seconds
    ]


def recent_months(today: date, count: int = 12) -> list[date]:
    """The first days of this month and the `count - 1` before it, newest first."""
    months, cursor = [], today.replace(day=1)
    for _ in range(count):
        months.append(cursor)
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    return months


def local_today(now: datetime, tz_name: str) -> date:
    """Today's date in the zone."""
    return now.astimezone(zone(tz_name)).date()
