"""The availability grid of a resource: its days cut into slots, each free, taken, closed, past or mine."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from booking import rules, service
from booking.models import ACTIVE_STATUSES, Booking, Closure, Resource, ResourceKind, Site
from booking.rules import Span
from booking.schemas import FreeSpan

MAX_GRID_DAYS = 14


class CellState(enum.StrEnum):
    free = "free"
    taken = "taken"
    mine = "mine"
    closed = "closed"
    past = "past"


@dataclass(frozen=True, slots=True)
class Cell:
    start: datetime
    end: datetime
    state: CellState
    # Desk pools: the seats still free in this slot.
    seats_free: int | None = None


@dataclass(frozen=True, slots=True)
class GridDay:
    day: date
    cells: list[Cell]


@dataclass(frozen=True, slots=True)
class Grid:
    resource: Resource
    site: Site
    tz: ZoneInfo
    first_day: date
    days: list[GridDay]
    # Row labels: minutes after local midnight of each slot's start.
    rows: list[int]


def resource_grid(
    session: Session, resource_id: str, first_day: date, days: int, now: datetime, member_id: str | None
) -> Grid:
    """The slots of `days` local days from `first_day`, with the member's own bookings marked."""
    days = max(1, min(days, MAX_GRID_DAYS))
    resource = service.get_resource_or_raise(session, resource_id)
    site = service.get_site_or_raise(session, resource.site_id)
    tz = rules.zone(site.timezone)
    hours = rules.parse_opening_hours(site.opening_hours)
    slot = resource.slot_minutes
    dates = [first_day + timedelta(days=i) for i in range(days)]
    span = Span(
        rules.local_instant(dates[0], 0, tz), rules.local_instant(dates[-1], rules.MINUTES_PER_DAY, tz)
    )
    # Rows cover the earliest opening to the latest closing among the shown days, on the slot grid.
    windows = [w for d in dates for w in hours.get(d.weekday(), ())]
    rows: list[int] = []
    if windows:
        first = min(o for o, _ in windows) // slot * slot
        last = max(c for _, c in windows)
        rows = list(range(first, last, slot))
    free = service.availability(session, resource.id, span.start, span.end, now).free
    closures = closures_touching(session, site, span)
    mine = _member_spans(session, resource.id, member_id, span) if member_id is not None else []
    lead = now + timedelta(minutes=resource.lead_minutes)
    horizon = now + timedelta(days=resource.max_days_ahead)
    grid_days = []
    for day in dates:
        open_spans = rules.opening_windows(day, hours, tz)
        cells = []
        for minute in rows:
            start = rules.local_instant(day, minute, tz)
            end = rules.local_instant(day, minute + slot, tz)
            cells.append(
                _cell(start, end, now, lead, horizon, open_spans, closures, free, mine, resource.kind)
            )
        grid_days.append(GridDay(day=day, cells=cells))
    return Grid(resource=resource, site=site, tz=tz, first_day=dates[0], days=grid_days, rows=rows)


def closures_touching(session: Session, site: Site, span: Span) -> list[rules.ClosureSpan]:
    """The site's own closures and its country's public holidays that touch the span."""
    tz = rules.zone(site.timezone)
    closures = [
        rules.ClosureSpan(c.start_at, c.end_at, c.reason)
        for c in session.exec(
            select(Closure).where(
                Closure.site_id == site.id, col(Closure.start_at) < span.end, col(Closure.end_at) > span.start
            )
        ).all()
    ]
    if site.holiday_country:
        years = range(span.start.astimezone(tz).year, span.end.astimezone(tz).year + 1)
        closures.extend(
            h
            for h in rules.holiday_closures(site.holiday_country, years, tz)
            if rules.overlaps(h.start, h.end, span.start, span.end)
        )
    return closures


def _member_spans(session: Session, resource_id: str, member_id: str, span: Span) -> list[Span]:
    rows = session.exec(
        select(Booking.start_at, Booking.end_at).where(
            Booking.resource_id == resource_id,
            Booking.member_id == member_id,
            col(Booking.status).in_(ACTIVE_STATUSES),
            col(Booking.start_at) < span.end,
            col(Booking.end_at) > span.start,
        )
    ).all()
    return [Span(start, end) for start, end in rows]


def _cell(
    start: datetime,
    end: datetime,
    now: datetime,
    lead: datetime,
    horizon: datetime,
    open_spans: list[Span],
    closures: list[rules.ClosureSpan],
    free: list[FreeSpan],
    mine: list[Span],
    kind: ResourceKind,
) -> Cell:
    if not any(w.start <= start and end <= w.end for w in open_spans):
        return Cell(start, end, CellState.closed)
    if any(rules.overlaps(start, end, c.start, c.end) for c in closures):
        return Cell(start, end, CellState.closed)
    if start < now:
        return Cell(start, end, CellState.past)
    if any(rules.overlaps(start, end, m.start, m.end) for m in mine):
        return Cell(start, end, CellState.mine)
    for span in free:
        if span.start <= start and end <= span.end:
            seats = span.seats if kind is ResourceKind.desk_pool else None
            return Cell(start, end, CellState.free, seats)
    # Inside opening hours but not free: too soon, too far ahead, or booked by someone.
    if start < lead or start > horizon:
        return Cell(start, end, CellState.closed)
    return Cell(start, end, CellState.taken)
