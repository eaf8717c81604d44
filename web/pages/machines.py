"""The lab manager's machine pages: the live board, alerts, maintenance, and a machine's own page.

The board is a fragment the page polls (htmx, every few seconds): the live state lives in the database,
where the bridge writes it, so any web worker can answer and no connection is held open. Polling
needs no inline script, so it runs under the pages' Content-Security-Policy as it is.

A manager sees and acts on the machines of their sites only; another site's machine, alert or plan
answers 404, as if it did not exist.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.errors import InvalidRequest, NotFound
from booking.members.actors import Actor
from booking.messages import Term
from booking.models import Site
from booking.spans import zone
from devices import reports
from devices.alerts import service as alerts
from devices.maintenance import service as maintenance
from devices.problems import service as problems
from devices.schemas import MaintenancePlanCreate
from devices.sessions import service as sessions
from web.deps import MachineUnitDep, NowDep, SessionDep
from web.pages.charts import usage_chart
from web.pages.common import ManagerActor, done, flash, is_htmx, local_today, render, safe_next, text

router = APIRouter(prefix="/manage", include_in_schema=False)
# How often the board asks for the machines' state: quick enough to watch a job start, slow enough
# that a wall screen per site costs the server next to nothing.
BOARD_REFRESH_S = 5
CHART_DAYS = (14, 30)


def _my_sites(session: Session, actor: Actor, site: str = "") -> list[Site]:
    """The sites the actor manages, or the one asked for; NotFound for a site that is not theirs."""
    sites = [s for s in catalogue_repo.list_sites(session) if actor.manages(s.id)]
    if site:
        sites = [s for s in sites if s.id == site]
        if not sites:
            raise NotFound("there is no site '{site}' among yours", site=site)
    return sites


def _zones(sites: list[Site]) -> dict[str, ZoneInfo]:
    return {s.id: zone(s.timezone) for s in sites}


# --- the live board -------------------------------------------------------------------------------


def board_context(session: Session, actor: Actor, now: datetime, site: str = "") -> dict[str, Any]:
    """What the board fragment needs (the dashboard includes it too)."""
    sites = _my_sites(session, actor, site)
    return {
        "rows": reports.board(session, [s.id for s in sites], now),
        "board_sites": {s.id: s for s in sites},
        "board_zones": _zones(sites),
        "board_url": f"/manage/board?site={site}" if site else "/manage/board",
        "board_refresh_s": BOARD_REFRESH_S,
        "now": now,
    }


@router.get("/machines")
def machines_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The machine board of my sites, full width (for a wall screen too)."""
    return render(
        request,
        "manage/machines.html",
        actor,
        sites=_my_sites(session, actor),
        selected_site=site,
        **board_context(session, actor, now, site),
    )


@router.get("/board")
def board_fragment(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Every machine's live state, activity, member, time left and power (polled by the pages)."""
    return render(request, "manage/_board.html", actor, **board_context(session, actor, now, site))


# --- alerts ---------------------------------------------------------------------------------------


def alerts_context(
    session: Session,
    actor: Actor,
    *,
    show: str = "open",
    site: str = "",
    machine: str = "",
    back: str = "/manage/alerts",
) -> dict[str, Any]:
    """What the alerts fragment needs: the alerts of my sites (or one machine), open or all recent."""
    sites = _my_sites(session, actor, site)
    found = alerts.list_alerts(session, actor, open_only=show == "open", site_id=site or None)
    if machine:
        found = [a for a in found if a.machine == machine]
    return {
        "alerts": reports.alert_rows(session, found),
        "photo_alerts": problems.alerts_with_photos(session, [a.id for a in found]),
        "alert_zones": _zones(sites),
        "show": show,
        "alert_site": site,
        "alert_machine": machine,
        "alerts_back": back,
    }


@router.get("/alerts")
def alerts_page(
    request: Request,
    session: SessionDep,
    actor: ManagerActor,
    show: Annotated[str, Query(pattern="^(open|all)$")] = "open",
    site: Annotated[str, Query(max_length=64)] = "",
    machine: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Alerts of my sites: open ones to acknowledge and resolve, or all recent ones."""
    context = alerts_context(session, actor, show=show, site=site, machine=machine)
    if is_htmx(request):
        return render(request, "manage/_alerts.html", actor, **context)
    return render(
        request, "manage/alerts.html", actor, sites=_my_sites(session, actor), selected_site=site, **context
    )


@router.post("/alerts/{alert_id}/{decision}")
def decide_alert(
    request: Request,
    alert_id: str,
    decision: str,
    unit: MachineUnitDep,
    now: NowDep,
    actor: ManagerActor,
    note: Annotated[str, Form(max_length=1000)] = "",
    show: Annotated[str, Form(pattern="^(open|all)$")] = "open",
    site: Annotated[str, Form(max_length=64)] = "",
    machine: Annotated[str, Form(max_length=64)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/manage/alerts",
) -> Response:
    """Acknowledge an alert (I have seen it) or resolve it (it is over), with a note."""
    if decision == "acknowledge":
        alerts.acknowledge_alert(unit.session, actor, alert_id, note.strip(), now)
        message = text(request, actor, "Alert acknowledged.")
    elif decision == "resolve":
        alerts.resolve_alert(unit.session, unit.link, actor, alert_id, note.strip(), now)
        message = text(request, actor, "Alert resolved.")
    else:
        raise NotFound("there is nothing at {path}", path=request.url.path)
    unit.commit()
    target = safe_next(back, "/manage/alerts")
    if is_htmx(request):
        context = alerts_context(unit.session, actor, show=show, site=site, machine=machine, back=target)
        return render(request, "manage/_alerts.html", actor, notice=message, **context)
    flash(request, message)
    return done(request, target)


# --- maintenance ----------------------------------------------------------------------------------


@router.get("/maintenance")
def maintenance_page(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Maintenance plans of my sites' machines, most urgent first, and the log of what was done."""
    sites = _my_sites(session, actor, site)
    site_ids = [s.id for s in sites]
    return render(
        request,
        "manage/maintenance.html",
        actor,
        sites=_my_sites(session, actor),
        selected_site=site,
        zones=_zones(sites),
        plans=reports.plan_rows(session, now, site_ids=site_ids),
        log=reports.maintenance_log(session, site_ids=site_ids),
        machine_choices=reports.machine_choices(session, site_ids),
        back=f"/manage/maintenance?site={site}" if site else "/manage/maintenance",
    )


def _interval(value: str, what: str) -> str | None:
    """A positive number from a form field ('1,5' as Vietnamese write it too), or None when empty."""
    cleaned = value.strip().replace(",", ".")
    if not cleaned:
        return None
    try:
        number = float(cleaned)
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a number of {what}", value=value, what=Term(what)) from exc
    if not math.isfinite(number):
        raise InvalidRequest("'{value}' is not a number of {what}", value=value, what=Term(what))
    if number <= 0:
        raise InvalidRequest("the number of {what} must be more than 0", what=Term(what))
    return cleaned


@router.post("/maintenance/plans")
def add_plan(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    machine: Annotated[str, Form(min_length=1, max_length=64)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    every_runtime_h: Annotated[str, Form(max_length=20)] = "",
    every_jobs: Annotated[str, Form(max_length=20)] = "",
    every_days: Annotated[str, Form(max_length=20)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/manage/maintenance",
) -> Response:
    """Plan maintenance of a machine every N runtime hours, N jobs or N days, counted from now."""
    target = reports.managed_machine(session, actor, machine)
    if not name.strip():
        raise InvalidRequest("the plan needs a name: what is to be done")
    hours = _interval(every_runtime_h, "runtime hours")
    jobs = _interval(every_jobs, "jobs")
    days = _interval(every_days, "days")
    if (jobs and not float(jobs).is_integer()) or (days and not float(days).is_integer()):
        raise InvalidRequest("jobs and days are whole numbers")
    try:
        data = MaintenancePlanCreate(
            name=name.strip(),
            every_runtime_h=float(hours) if hours else None,
            every_jobs=int(float(jobs)) if jobs else None,
            every_days=int(float(days)) if days else None,
        )
    except ValidationError as exc:  # the checks above should leave nothing for it; never a 500
        raise InvalidRequest("this plan is not valid: {value}", value=exc.errors()[0]["msg"]) from exc
    maintenance.add_plan(session, actor, target.id, data, now)
    session.commit()
    flash(request, text(request, actor, "Maintenance plan %(name)s added.", name=data.name))
    return done(request, safe_next(back, "/manage/maintenance"))


@router.post("/maintenance/{plan_id}/done")
def mark_done(
    request: Request,
    plan_id: int,
    unit: MachineUnitDep,
    now: NowDep,
    actor: ManagerActor,
    note: Annotated[str, Form(max_length=1000)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/manage/maintenance",
) -> Response:
    """Record that the maintenance was done: its counters restart and the block it caused lifts."""
    plan = maintenance.mark_done(unit.session, unit.link, actor, plan_id, note.strip(), now)
    unit.commit()
    flash(request, text(request, actor, "Maintenance %(name)s recorded as done.", name=plan.name))
    return done(request, safe_next(back, "/manage/maintenance"))


# --- a machine's page -----------------------------------------------------------------------------


@router.get("/machines/{machine_id}")
def machine_page(
    request: Request,
    machine_id: str,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    days: Annotated[int, Query()] = CHART_DAYS[0],
) -> Response:
    """A machine: its live status, open alerts, use per day, maintenance, and its sessions."""
    if days not in CHART_DAYS:
        raise InvalidRequest(
            "the chart shows {value} or {value2} days", value=CHART_DAYS[0], value2=CHART_DAYS[1]
        )
    machine = reports.managed_machine(session, actor, machine_id)
    site = catalogue_repo.get_site(session, machine.site_id)
    assert site is not None  # a machine's site is a foreign key
    tz = zone(site.timezone)
    usage = reports.daily_usage(session, machine.id, tz, local_today(now, tz), days, now)
    used = sessions.list_sessions(session, actor, machine.id, limit=50)
    back = f"/manage/machines/{machine.id}"
    return render(
        request,
        "manage/machine.html",
        actor,
        site=site,
        tz=tz,
        row=reports.board_row(session, machine, now),
        counters=machine,
        days=days,
        chart_days=CHART_DAYS,
        chart=usage_chart(usage),
        sessions=used,
        names=reports.member_names(session, (s.member for s in used)),
        plans=reports.plan_rows(session, now, machine_id=machine.id),
        log=reports.maintenance_log(session, machine_id=machine.id),
        back=back,
        zones={site.id: tz},
        board_refresh_s=BOARD_REFRESH_S,
        now=now,
        **alerts_context(session, actor, site=site.id, machine=machine.id, back=back),
    )


@router.get("/machines/{machine_id}/status")
def machine_status(
    request: Request, machine_id: str, session: SessionDep, now: NowDep, actor: ManagerActor
) -> Response:
    """The machine's live status (polled by its page)."""
    machine = reports.managed_machine(session, actor, machine_id)
    site = catalogue_repo.get_site(session, machine.site_id)
    assert site is not None
    return render(
        request,
        "manage/_machine_status.html",
        actor,
        row=reports.board_row(session, machine, now),
        counters=machine,
        tz=zone(site.timezone),
        board_refresh_s=BOARD_REFRESH_S,
        now=now,
    )
