"""The availability grid of a resource: its days cut into slots, each free, taken, closed, past or mine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.bookings import repository as repo
from booking.bookings.availability import availability
from booking.bookings.rules import Cell, grid_cell
from booking.catalogue import service as catalogue
from booking.catalogue.rules import opening_windows, parse_opening_hours
from booking.models import Resource, Site
from booking.spans import MINUTES_PER_DAY, Span, local_instant, zone

MAX_GRID_DAYS = 14


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
    resource = catalogue.get_resource_or_raise(session, resource_id)
    site = catalogue.get_site_or_raise(session, resource.site_id)
    tz = zone(site.timezone)
    hours = parse_opening_hours(site.opening_hours)
    slot = resource.slot_minutes
    dates = [first_day + timedelta(days=i) for i in range(days)]
    span = Span(local_instant(dates[0], 0, tz), local_instant(dates[-1], MINUTES_PER_DAY, tz))
    # Rows cover the earliest opening to the latest closing among the shown days, on the slot grid.
    windows = [w for d in dates for w in hours.get(d.weekday(), ())]
    rows: list[int] = []
    if windows:
        first = min(o for o, _ in windows) // slot * slot
        last = max(c for _, c in windows)
        rows = list(range(first, last, slot))
    free = availability(session, resource.id, span.start, span.end, now).free
    closures = catalogue.site_closures(session, site, span)
    mine = repo.member_spans(session, resource.id, member_id, span) if member_id is not None else []
    lead = now + timedelta(minutes=resource.lead_minutes)
    horizon = now + timedelta(days=resource.max_days_ahead)
    grid_days = []
    for day in dates:
        open_spans = opening_windows(day, hours, tz)
        cells = []
        for minute in rows:
            start = local_instant(day, minute, tz)
            end = local_instant(day, minute + slot, tz)
            cells.append(
                grid_cell(start, end, now, lead, horizon, open_spans, closures, free, mine, resource.kind)
            )
        grid_days.append(GridDay(day=day, cells=cells))
    return Grid(resource=resource, site=site, tz=tz, first_day=dates[0], days=grid_days, rows=rows)
