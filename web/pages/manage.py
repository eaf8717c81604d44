"""The lab manager's pages: today at my sites, approvals, bookings, trainings, utilisation reports.

The machine board, alerts and maintenance pages live in web/pages/machines.py; the dashboard shows
the live board and the open alerts from there.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking import accounts, reports, spans
from booking.bookings import repository as bookings_repo
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.errors import NotFound
from booking.members import repository as members_repo
from booking.members import service as members_service
from booking.members.actors import Actor
from booking.models import ACTIVE_STATUSES, BookingStatus, Member, Role, Site
from web.deps import NowDep, SessionDep, SettingsDep
from web.i18n import Gettext
from web.pages import csvwords
from web.pages.common import (
    ManagerActor,
    done,
    flash,
    is_htmx,
    language_of,
    local_today,
    parse_day,
    render,
    safe_next,
    see_other,
    text,
)
from web.pages.machines import alerts_context, board_context
from web.pages.mine import booking_views

router = APIRouter(prefix="/manage", include_in_schema=False)


def managed_sites(session: Session, actor: Actor) -> list[Site]:
    """The sites the actor manages (every site for an admin)."""
    return [s for s in catalogue_repo.list_sites(session) if actor.manages(s.id)]


def _site_filter(session: Session, actor: Actor, site: str) -> list[Site]:
    sites = managed_sites(session, actor)
    if site:
        chosen = [s for s in sites if s.id == site]
        if not chosen:
            # Not one of theirs: as if it did not exist.
            raise NotFound("there is no site '{site}' among yours", site=site)
        return chosen
    return sites


def _member_names(session: Session, member_ids: set[str]) -> dict[str, Member]:
    members = {}
    for member_id in member_ids:
        member = members_repo.get_member(session, member_id)
        if member is not None:
            members[member_id] = member
    return members


@router.get("")
def dashboard(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, actor: ManagerActor
) -> Response:
    """Today at my sites, and what awaits me."""
    sites = managed_sites(session, actor)
    site_ids = [s.id for s in sites]
    tz = spans.zone(settings.timezone)
    today = local_today(now, tz)
    day_start = spans.local_instant(today, 0, tz)
    bookings = bookings_repo.list_bookings(
        session,
        site_ids=site_ids,
        start=day_start,
        end=day_start + timedelta(days=1),
        statuses=list(ACTIVE_STATUSES),
    )
    pending = bookings_repo.list_bookings(
        session, site_ids=site_ids, start=now, statuses=[BookingStatus.pending]
    )
    views = booking_views(session, bookings, now, settings.check_in_opens_min)
    return render(
        request,
        "manage/dashboard.html",
        actor,
        sites=sites,
        today=today,
        views=views,
        members=_member_names(session, {b.member_id for b in bookings}),
        pending_count=len(pending),
        **board_context(session, actor, now),
        **alerts_context(session, actor, back="/manage"),
    )


# --- approvals ------------------------------------------------------------------------------------


def _approvals_context(session: Session, actor: Actor, now: datetime, opens_min: int) -> dict[str, Any]:
    site_ids = [s.id for s in managed_sites(session, actor)]
    pending = bookings_repo.list_bookings(
        session, site_ids=site_ids, start=now, statuses=[BookingStatus.pending]
    )
    return {
        "views": booking_views(session, pending, now, opens_min),
        "members": _member_names(session, {b.member_id for b in pending}),
    }


@router.get("/approvals")
def approvals(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, actor: ManagerActor
) -> Response:
    """Bookings of my sites that await my decision, soonest first."""
    context = _approvals_context(session, actor, now, settings.check_in_opens_min)
    template = "manage/_approvals.html" if is_htmx(request) else "manage/approvals.html"
    return render(
        request,
        template,
        actor,
        newcomers=accounts.members_awaiting_approval(session, actor),
        tz=spans.zone(settings.timezone),
        **context,
    )


@router.get("/members")
def newcomers(request: Request) -> Response:
    """Members awaiting approval are listed with the bookings that do."""
    return see_other("/manage/approvals#members")


@router.post("/members/{member_id}/{decision}")
def decide_member(
    request: Request,
    member_id: str,
    decision: str,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    note: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Approve a member who signed up (they may book) or decline them (the account closes); they are
    told by e-mail."""
    if decision not in ("approve", "decline"):
        raise NotFound("there is nothing at {path}", path=request.url.path)
    accounts.decide_member(session, actor, member_id, decision == "approve", now, reason=note)
    session.commit()
    request.app.state.actors.forget(member_id)
    flash(
        request,
        text(request, actor, "Approved.") if decision == "approve" else text(request, actor, "Declined."),
    )
    return see_other("/manage/approvals#members")


@router.post("/bookings/{booking_id}/{decision}")
def decide(
    request: Request,
    booking_id: str,
    decision: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: ManagerActor,
    note: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "/manage/approvals",
) -> Response:
    """Approve, reject, cancel or check in a booking of one of my sites."""
    if decision == "approve":
        bookings.approve(session, actor, booking_id, now, note)
        message = text(request, actor, "Approved.")
    elif decision == "reject":
        bookings.reject(session, actor, booking_id, now, note)
        message = text(request, actor, "Declined.")
    elif decision == "cancel":
        bookings.cancel(session, actor, booking_id, now, reason=note)
        message = text(request, actor, "The booking was cancelled.")
    elif decision == "check-in":
        bookings.check_in(session, actor, booking_id, now, check_in_opens_min=settings.check_in_opens_min)
        message = text(request, actor, "Checked in.")
    else:
        raise NotFound("there is nothing at {path}", path=request.url.path)
    session.commit()
    target = safe_next(back, "/manage/approvals")
    if is_htmx(request) and target.startswith("/manage/approvals"):
        context = _approvals_context(session, actor, now, settings.check_in_opens_min)
        return render(request, "manage/_approvals.html", actor, notice=message, **context)
    flash(request, message)
    return done(request, target)


# --- bookings of my sites -------------------------------------------------------------------------


@router.get("/bookings")
def site_bookings(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: ManagerActor,
    site: Annotated[str, Query(max_length=64)] = "",
    day: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """Every booking of my sites on a day (all states), with cancel and check-in."""
    sites = _site_filter(session, actor, site)
    tz = spans.zone(sites[0].timezone if sites else settings.timezone)
    shown = parse_day(day, local_today(now, tz))
    start = spans.local_instant(shown, 0, tz)
    bookings = bookings_repo.list_bookings(
        session, site_ids=[s.id for s in sites], start=start, end=start + timedelta(days=1)
    )
    return render(
        request,
        "manage/bookings.html",
        actor,
        sites=managed_sites(session, actor),
        selected_site=site,
        day=shown,
        earlier=shown - timedelta(days=1),
        later=shown + timedelta(days=1),
        views=booking_views(session, bookings, now, settings.check_in_opens_min),
        members=_member_names(session, {b.member_id for b in bookings}),
    )


# --- trainings ------------------------------------------------------------------------------------


@router.get("/trainings")
def trainings(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Members and the trainings they hold; grant and revoke."""
    members = [m for m in members_service.members_in_my_care(session, actor, q) if m.role is not Role.kiosk]
    mine = members_service.trainings_in_my_care(session, actor)
    held = {
        m.id: [
            g
            for g in members_repo.list_member_trainings(session, m.id)
            if mine is None or g.training_id in mine
        ]
        for m in members
    }
    return render(
        request,
        "manage/trainings.html",
        actor,
        q=q,
        members=members,
        held=held,
        trainings=[t for t in catalogue_repo.list_trainings(session) if mine is None or t.id in mine],
        trainings_by_id={t.id: t for t in catalogue_repo.list_trainings(session)},
        now=now,
    )


@router.post("/trainings/grant")
def grant(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    member: Annotated[str, Form(min_length=1, max_length=320)],
    training: Annotated[str, Form(min_length=1, max_length=64)],
    q: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Record that a member (by e-mail or id) holds a training."""
    grant = members_service.grant_training(session, actor, member.strip(), training, now)
    session.commit()
    flash(request, text(request, actor, "Training %(training)s granted.", training=grant.training_id))
    return done(request, f"/manage/trainings?q={q}" if q else "/manage/trainings")


@router.post("/trainings/revoke")
def revoke(
    request: Request,
    session: SessionDep,
    actor: ManagerActor,
    member: Annotated[str, Form(min_length=1, max_length=320)],
    training: Annotated[str, Form(min_length=1, max_length=64)],
    q: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Withdraw a member's training."""
    members_service.revoke_training(session, actor, member, training)
    session.commit()
    flash(request, text(request, actor, "Training %(training)s revoked.", training=training))
    return done(request, f"/manage/trainings?q={q}" if q else "/manage/trainings")


# --- utilisation report ---------------------------------------------------------------------------


def _report(
    session: Session, actor: Actor, site: str, month: str, now: datetime, home_tz: str
) -> reports.Utilisation:
    sites = _site_filter(session, actor, site)
    first = reports.parse_month(month) if month else reports.local_today(now, home_tz).replace(day=1)
    return reports.utilisation(session, [s.id for s in sites], first, home_tz)


@router.get("/reports")
def report(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: ManagerActor,
    site: Annotated[str, Query(max_length=64)] = "",
    month: Annotated[str, Query(max_length=7)] = "",
) -> Response:
    """Booked against really used hours and the no-show rate, per site, resource kind and month."""
    result = _report(session, actor, site, month, now, settings.timezone)
    return render(
        request,
        "manage/reports.html",
        actor,
        sites=managed_sites(session, actor),
        selected_site=site,
        result=result,
        months=reports.recent_months(reports.local_today(now, settings.timezone)),
        csv_query=f"site={site}&month={result.month:%Y-%m}",
        quota_groups=catalogue_repo.quota_groups(session),
    )


@router.get("/reports.csv")
def report_csv(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: ManagerActor,
    site: Annotated[str, Query(max_length=64)] = "",
    month: Annotated[str, Query(max_length=7)] = "",
) -> Response:
    """The same report as CSV (dot decimals, for spreadsheets and scripts)."""
    result = _report(session, actor, site, month, now, settings.timezone)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    language = language_of(request, actor)
    gettext = Gettext(language).gettext
    headers = ["Month", "Site", "Kind", "Bookings", "Booked hours", "Used hours", "No-shows", "Judged"]
    writer.writerow([gettext(h) for h in [*headers, "No-show rate"]])
    names = {
        s.id: s.name_en if language == "en" and s.name_en else s.name for s in managed_sites(session, actor)
    }
    for row in result.rows:
        rate = f"{row.no_show_rate:.4f}" if row.no_show_rate is not None else ""
        writer.writerow(
            [
                f"{result.month:%Y-%m}",
                names.get(row.site_id, row.site_id),
                csvwords.word(csvwords.KIND_WORDS, row.kind.value, gettext),
                row.bookings,
                f"{row.booked_hours:.2f}",
                f"{row.used_hours:.2f}",
                row.no_shows,
                row.judged,
                rate,
            ]
        )
    filename = f"fablab-utilisation-{result.month:%Y-%m}{'-' + site if site else ''}.csv"
    # A byte-order mark lets Excel open the UTF-8 file with Vietnamese names intact.
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
