"""The year's activity report (CONTRACT §3): JSON, or CSV with `Accept: text/csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

from devices import activity
from web.deps import ActorDep, NowDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["reports"])


def _site_json(site: activity.SiteActivity) -> dict[str, Any]:
    return {
        "site": site.site_id or None,
        "name": site.name or None,
        "events": [
            {**asdict(e), "kind": e.kind.value, "no_show_rate": _rate(e.no_show_rate)} for e in site.events
        ],
        "spaces": [
            {**asdict(s), "kind": s.kind.value, "no_show_rate": _rate(s.no_show_rate)} for s in site.spaces
        ],
        "machines": [asdict(m) for m in site.machines],
        "runtime_hours": site.runtime_hours,
        "jobs": site.jobs,
        "active_members": site.active_members,
    }


def _rate(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def report_json(report: activity.ActivityReport) -> dict[str, Any]:
    return {
        "year": report.year,
        "network": _site_json(report.network),
        "sites": [_site_json(s) for s in report.sites],
        "trainings": [asdict(t) for t in report.trainings],
        "new_members": report.new_members,
    }


def report_rows(report: activity.ActivityReport) -> Iterator[list[Any]]:
    """One figure per row (year, site, section, item, measure, value): easy to pivot in a spreadsheet."""
    yield ["year", "site", "section", "item", "measure", "value"]
    y = report.year
    for site in [*report.sites, report.network]:
        where = site.site_id or "network"
        for e in site.events:
            for measure in ("events", "sessions", "registered", "attended", "judged", "absent"):
                yield [y, where, "events", e.kind.value, measure, getattr(e, measure)]
        for s in site.spaces:
            for measure in ("bookings", "booked_hours", "used_hours", "no_shows", "judged"):
                yield [y, where, "spaces", s.kind.value, measure, getattr(s, measure)]
        if site.site_id:
            for m in site.machines:
                for measure in ("sessions", "runtime_hours", "jobs", "energy_kwh"):
                    yield [y, where, "machines", m.machine_id, measure, getattr(m, measure)]
        yield [y, where, "members", "active", "members", site.active_members]
    for t in report.trainings:
        yield [y, "network", "trainings", t.training_id, "granted", t.granted]
    yield [y, "network", "members", "new", "members", report.new_members]


def report_csv(report: activity.ActivityReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(report_rows(report))
    return buffer.getvalue()


@router.get("/reports/activity", response_model=None)
def activity_report(
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    year: Annotated[int | None, Query(ge=-1_000_000, le=1_000_000)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    accept: Annotated[str, Header(max_length=500)] = "",
) -> Response:
    """The year's activity per site and for the network (managers: their sites; admins: all)."""
    sites = activity.reported_sites(session, actor, site)
    chosen = year if year is not None else now.year
    report = activity.activity(session, sites, chosen, now)
    if "text/csv" in accept:
        name = f"fablab-activity-{chosen}{'-' + site if site else ''}.csv"
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(report_json(report))
