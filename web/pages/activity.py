"""The year's activity report as a page that prints like a report: per site and for the network,
with charts where people would rather look than read, and the same figures as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.errors import InvalidRequest
from devices import activity
from web.api.reports import report_rows
from web.deps import NowDep, SessionDep
from web.i18n import Gettext
from web.pages import csvwords
from web.pages.charts import pair_chart
from web.pages.common import ManagerActor, language_of, render

router = APIRouter(include_in_schema=False)

SPACE_WORDS = {
    "room": "Meeting rooms",
    "desk_pool": "Co-working",
    "stem_space": "STEM spaces",
    "training_room": "Training rooms",
    "online_room": "Online-meeting rooms",
    "machine": "Machines",
}
EVENT_WORDS = {
    "workshop": "Workshop",
    "class": "Class",
    "training": "Machine-safety training",
    "event": "Event",
}


def worded_csv(session: Session, report: activity.ActivityReport, language: str) -> str:
    """The API's rows (one figure each) with words a person reads: the columns, sites, machines and
    trainings by name, sections and measures in the reader's language; numbers as they are."""
    gettext = Gettext(language).gettext

    def named(rows: Sequence[Any]) -> dict[str, str]:
        return {r.id: r.name_en if language == "en" and r.name_en else r.name for r in rows}

    sites = {**named(catalogue_repo.list_sites(session)), "network": gettext("The whole network")}
    items = {
        **named(catalogue_repo.list_trainings(session)),
        **{r.id: r.name for r in catalogue.list_all_resources(session)},
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    rows = iter(report_rows(report))
    next(rows)
    writer.writerow([gettext(h) for h in ("Year", "Site", "Section", "Item", "Measure", "Value")])
    for year, site, section, item, measure, value in rows:
        writer.writerow(
            [
                year,
                sites.get(site, site),
                csvwords.word(csvwords.SECTION_WORDS, section, gettext),
                items.get(item) or csvwords.word(csvwords.ITEM_WORDS, item, gettext),
                csvwords.word(csvwords.MEASURE_WORDS, measure, gettext),
                value,
            ]
        )
    return buffer.getvalue()


def _year(value: str, default: int) -> int:
    if not value:
        return default
    try:
        year = int(value)
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a year like 2027", value=value) from exc
    activity.check_year(year)
    return year


@router.get("/manage/activity")
def activity_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    year: Annotated[str, Query(max_length=8)] = "",
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The year's activity of my sites (all sites for an admin), or of one."""
    chosen = _year(year, now.year)
    sites = activity.reported_sites(session, actor, site or None)
    report = activity.activity(session, sites, chosen, now)
    words = Gettext(language_of(request, actor)).gettext
    network = report.network
    spaces_chart = pair_chart(
        [(words(SPACE_WORDS[s.kind.value]), s.booked_hours, s.used_hours) for s in network.spaces]
    )
    events_chart = pair_chart(
        [(words(EVENT_WORDS[e.kind.value]), float(e.registered), float(e.attended)) for e in network.events]
    )
    return render(
        request,
        "manage/activity.html",
        actor,
        report=report,
        spaces_chart=spaces_chart,
        events_chart=events_chart,
        all_sites=[s for s in catalogue_repo.list_sites(session) if actor.manages(s.id)],
        site=site,
        years=list(range(now.year, now.year - 6, -1)),
    )


@router.get("/manage/activity.csv")
def activity_csv(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    year: Annotated[str, Query(max_length=8)] = "",
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The same figures as CSV, one per row."""
    chosen = _year(year, now.year)
    report = activity.activity(session, activity.reported_sites(session, actor, site or None), chosen, now)
    name = f"fablab-activity-{chosen}{'-' + site if site else ''}.csv"
    return Response(
        "\ufeff" + worded_csv(session, report, language_of(request, actor)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
