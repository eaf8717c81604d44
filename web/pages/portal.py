"""The member portal: the catalogue, a resource's availability grid, booking in two clicks, joining a
waitlist. My bookings and account are in `mine`, finding a free room in `search`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.bookings import availability as bookings_availability
from booking.bookings import grid
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.errors import Conflict, DomainError
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor
from booking.models import Resource, ResourceKind, Role, Site
from booking.schemas import BookingCreate, WaitlistCreate
from booking.series import service as series
from booking.series.rules import weekly_rrule
from booking.spans import zone
from booking.waitlist import service as waitlist
from devices.registry import repository as devices_repo
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.errors import status_of
from web.i18n import say
from web.pages.common import (
    AnyActor,
    PersonActor,
    done,
    flash,
    is_htmx,
    language_of,
    local_instant,
    local_today,
    parse_day,
    parse_instant,
    render,
    see_other,
    text,
)
from web.pages.mine import booking_views

router = APIRouter(include_in_schema=False)
KIND_ORDER: tuple[ResourceKind, ...] = tuple(ResourceKind)


# --- catalogue ------------------------------------------------------------------------------------


@router.get("/")
def home(
    request: Request,
    session: SessionDep,
    actor: AnyActor,
    site: Annotated[str | None, Query(max_length=64)] = None,
    kind: ResourceKind | None = None,
) -> Response:
    """Sites and their resources by kind, as cards (a kiosk goes to its own screen)."""
    if actor.member.role is Role.kiosk:
        return see_other(f"/kiosk/{actor.member.kiosk_site_id}")
    sites = list(catalogue_repo.list_sites(session))
    resources = catalogue_repo.list_resources(session, site_id=site, kind=kind)
    trainings = {t.id: t for t in catalogue_repo.list_trainings(session)}
    held = members_repo.trainings_held(session, actor.id)
    groups: list[tuple[Site, list[tuple[ResourceKind, list[Resource]]]]] = []
    for s in sites:
        mine = [r for r in resources if r.site_id == s.id]
        if not mine:
            continue
        by_kind = [(k, [r for r in mine if r.kind is k]) for k in KIND_ORDER]
        groups.append((s, [(k, rs) for k, rs in by_kind if rs]))
    return render(
        request,
        "portal/home.html",
        actor,
        sites=sites,
        groups=groups,
        trainings=trainings,
        held=held,
        selected_site=site or "",
        selected_kind=kind.value if kind else "",
        kinds=KIND_ORDER,
        # The machines' live state, for a badge on their cards.
        machines={m.id: m for m in devices_repo.list_machines(session, site)},
    )


# --- a resource: availability grid and the booking panel ----------------------------------------


def _grid(
    session: Session, resource_id: str, day: str | None, view: str, now: datetime, actor: Actor
) -> grid.Grid:
    resource = catalogue.get_resource_or_raise(session, resource_id)
    site = catalogue.get_site_or_raise(session, resource.site_id)
    tz = zone(site.timezone)
    shown = parse_day(day, local_today(now, tz))
    if view == "day":
        return grid.resource_grid(session, resource.id, shown, 1, now, actor.id)
    monday = shown - timedelta(days=shown.weekday())
    return grid.resource_grid(session, resource.id, monday, 7, now, actor.id)


def _nav_days(g: grid.Grid, view: str) -> tuple[date, date]:
    step = timedelta(days=1 if view == "day" else 7)
    return g.first_day - step, g.first_day + step


@router.get("/resources/{resource_id}")
def resource_page(
    request: Request,
    resource_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    day: Annotated[str | None, Query(max_length=10)] = None,
    view: Annotated[str, Query(pattern="^(week|day)$")] = "week",
    start: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """A resource with its rules, its week (or day) of slots, and the booking panel for a chosen slot."""
    g = _grid(session, resource_id, day, view, now, actor)
    panel = _panel_context(session, g.resource, g.site, parse_instant(start), now, actor) if start else None
    return render(
        request,
        "portal/resource.html",
        actor,
        **_resource_context(session, g, view, actor),
        panel=panel,
    )


def _resource_context(session: Session, g: grid.Grid, view: str, actor: Actor) -> dict[str, Any]:
    earlier, later = _nav_days(g, view)
    training = (
        catalogue_repo.get_training(session, g.resource.training_id) if g.resource.training_id else None
    )
    held = members_repo.trainings_held(session, actor.id)
    return {
        "g": g,
        "resource": g.resource,
        "site": g.site,
        "tz": g.tz,
        "view": view,
        "earlier": earlier,
        "later": later,
        "training": training,
        "holds_training": training is not None and training.id in held,
    }


@router.get("/resources/{resource_id}/grid")
def grid_fragment(
    request: Request,
    resource_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    day: Annotated[str | None, Query(max_length=10)] = None,
    view: Annotated[str, Query(pattern="^(week|day)$")] = "week",
) -> Response:
    """The grid alone (htmx: previous/next week, or a refresh after booking)."""
    g = _grid(session, resource_id, day, view, now, actor)
    return render(request, "portal/_grid.html", actor, **_resource_context(session, g, view, actor))


def _panel_context(
    session: Session, resource: Resource, site: Site, start: datetime, now: datetime, actor: Actor
) -> dict[str, Any]:
    tz = zone(site.timezone)
    default = max(resource.min_minutes, resource.slot_minutes)
    durations = list(range(resource.min_minutes, resource.max_minutes + 1, resource.slot_minutes))
    durations = [d for d in durations if d % resource.slot_minutes == 0][:48] or [default]
    taken = not any(
        s.start <= start and start + timedelta(minutes=default) <= s.end
        for s in bookings_availability.availability(
            session, resource.id, start, start + timedelta(minutes=default), now
        ).free
    )
    local = start.astimezone(tz)
    return {
        "resource": resource,
        "site": site,
        "tz": tz,
        "start": start,
        "day": local.date().isoformat(),
        "clock": f"{local:%H:%M}",
        "minutes": default,
        "durations": durations,
        "taken": taken,
        "weekday": local.weekday(),
        "error": None,
        "error_kind": None,
        "end": start + timedelta(minutes=default),
        "typed": None,
        "for_members": actor.manages(site.id),
    }


@router.get("/resources/{resource_id}/slot")
def slot_panel(
    request: Request,
    resource_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    start: Annotated[str, Query(max_length=40)],
) -> Response:
    """Click one: the booking panel for a slot (or the waitlist offer when it is taken)."""
    resource = catalogue.get_resource_or_raise(session, resource_id)
    site = catalogue.get_site_or_raise(session, resource.site_id)
    panel = _panel_context(session, resource, site, parse_instant(start), now, actor)
    return render(request, "portal/_panel.html", actor, panel=panel)


@router.post("/bookings")
def book(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
    resource_id: Annotated[str, Form(max_length=64)],
    day: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=5)],
    minutes: Annotated[int, Form(ge=1, le=14 * 1440)],
    seats: Annotated[int, Form(ge=1, le=10_000)] = 1,
    note: Annotated[str, Form(max_length=500)] = "",
    repeat: Annotated[str, Form(pattern="^(none|weekly)$")] = "none",
    weekdays: Annotated[list[int] | None, Form()] = None,
    ends: Annotated[str, Form(pattern="^(until|count)$")] = "count",
    until: Annotated[str, Form(max_length=10)] = "",
    count: Annotated[int, Form(ge=1, le=200)] = 4,
    skip_conflicts: Annotated[bool, Form()] = False,
    member: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    """Click two: book the slot (or a weekly series); every refusal is shown in the panel, in words,
    with what was typed kept. A site's manager may book for a member (by e-mail), charged to them."""
    # What the booking needs is read, and a series expanded, before the write transaction begins.
    resource = catalogue.get_resource_or_raise(reader, resource_id)
    site = catalogue.get_site_or_raise(reader, resource.site_id)
    tz = zone(site.timezone)
    first_day = parse_day(day, local_today(now, tz))
    begin = local_instant(first_day, start, tz)
    end = begin + timedelta(minutes=minutes)
    typed = {
        "seats": seats,
        "note": note,
        "repeat": repeat,
        "weekdays": weekdays or [],
        "ends": ends,
        "until": until,
        "count": count,
        "skip_conflicts": skip_conflicts,
        "member": member,
    }
    try:
        member_id = members.find_member(reader, member.strip()).id if member.strip() else None
        if repeat == "weekly":
            rrule = weekly_rrule(
                weekdays or [first_day.weekday()],
                until=parse_day(until, first_day) if ends == "until" else None,
                count=count if ends == "count" else None,
            )
            data = BookingCreate(
                resource_id=resource.id,
                start=begin,
                end=end,
                seats=seats,
                note=note,
                rrule=rrule,
                skip_conflicts=skip_conflicts,
                member=member_id,
            )
            occurrences = series.expand(reader, data, now)
            result = series.book_series(session, actor, data, now, occurrences)
            made, skipped = result.bookings, result.skipped
        else:
            data = BookingCreate(
                resource_id=resource.id, start=begin, end=end, seats=seats, note=note, member=member_id
            )
            made, skipped = [bookings.book(session, actor, data, now)], []
        session.commit()
    except DomainError as exc:
        session.rollback()
        panel = _panel_context(session, resource, site, begin, now, actor)
        panel.update(
            minutes=minutes,
            end=end,
            error=say(exc.message, language_of(request, actor)),
            error_kind=exc.kind,
            # A taken slot can still be waited for (one slot, not a series).
            taken=isinstance(exc, Conflict) and repeat == "none",
            typed=typed,
        )
        status = status_of(exc)
        if is_htmx(request):
            return render(request, "portal/_panel.html", actor, status=status, panel=panel)
        g = grid.resource_grid(
            session, resource.id, first_day - timedelta(days=first_day.weekday()), 7, now, actor.id
        )
        return render(
            request,
            "portal/resource.html",
            actor,
            status=status,
            **_resource_context(session, g, "week", actor),
            panel=panel,
        )
    views = booking_views(session, made, now, settings.check_in_opens_min)
    if is_htmx(request):
        return render(
            request,
            "portal/_booked.html",
            actor,
            status=201,
            headers={"HX-Trigger": "booked"},
            views=views,
            skipped=skipped,
            tz=tz,
        )
    flash(request, text(request, actor, "Booked: %(count)s booking(s).", count=len(made)))
    return see_other("/bookings")


@router.post("/waitlist")
def join_waitlist(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    resource_id: Annotated[str, Form(max_length=64)],
    start: Annotated[str, Form(max_length=40)],
    end: Annotated[str, Form(max_length=40)],
    seats: Annotated[int, Form(ge=1, le=10_000)] = 1,
) -> Response:
    """Queue for a taken slot; booked automatically, first come first served, when it frees."""
    resource = catalogue.get_resource_or_raise(session, resource_id)
    data = WaitlistCreate(
        resource_id=resource.id, start=parse_instant(start), end=parse_instant(end), seats=seats
    )
    entry = waitlist.join(session, actor, data, now)
    session.commit()
    position = waitlist.waitlist_read(session, entry).position
    site = catalogue.get_site_or_raise(session, resource.site_id)
    fragment = render(
        request,
        "portal/_waitlisted.html",
        actor,
        status=201,
        resource=resource,
        entry=entry,
        position=position,
        tz=zone(site.timezone),
    )
    return done(request, "/bookings", fragment)
