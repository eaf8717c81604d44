"""The member portal: catalogue, availability grid, booking in two clicks, my bookings, my account, iCal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.bookings import availability as bookings_availability
from booking.bookings import grid, ical
from booking.bookings import service as bookings
from booking.bookings.rules import check_in_is_open
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.engine.status import Move, can_move
from booking.errors import Conflict, DomainError, NotFound
from booking.ledger import service as ledger
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor
from booking.models import ACTIVE_STATUSES, Booking, BookingStatus, Resource, ResourceKind, Role, Site
from booking.schemas import BookingCreate, WaitlistCreate
from booking.series import service as series
from booking.series.rules import weekly_rrule
from booking.spans import zone
from booking.waitlist import service as waitlist
from devices.registry import repository as devices_repo
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.errors import status_of
from web.pages.common import (
    AnyActor,
    PersonActor,
    done,
    flash,
    is_htmx,
    local_instant,
    local_today,
    parse_day,
    parse_instant,
    render,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)
KIND_ORDER: tuple[ResourceKind, ...] = tuple(ResourceKind)


@dataclass(frozen=True, slots=True)
class BookingView:
    """A booking with what a page needs to show it: its resource, site, zone and allowed actions."""

    booking: Booking
    resource: Resource
    site: Site
    tz: ZoneInfo
    can_cancel: bool
    can_check_in: bool
    can_change: bool = False


def booking_views(
    session: Session, bookings: Sequence[Booking], now: datetime, opens_min: int
) -> list[BookingView]:
    """Views of the bookings, loading each resource and site once."""
    resources: dict[str, Resource] = {}
    sites: dict[str, Site] = {}
    views = []
    for b in bookings:
        resource = resources.get(b.resource_id) or catalogue_repo.get_resource(session, b.resource_id)
        site = sites.get(b.site_id) or catalogue_repo.get_site(session, b.site_id)
        if resource is None or site is None:
            continue
        resources[resource.id], sites[site.id] = resource, site
        active = b.status in ACTIVE_STATUSES and b.end_at > now
        views.append(
            BookingView(
                booking=b,
                resource=resource,
                site=site,
                tz=zone(site.timezone),
                can_cancel=active,
                can_check_in=can_move(b.status, Move.check_in)
                and check_in_is_open(b.start_at, b.end_at, now, opens_min),
                can_change=can_move(b.status, Move.move) and b.start_at > now,
            )
        )
    return views


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
            error=exc.detail,
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


# --- my bookings ----------------------------------------------------------------------------------


def _my_bookings_context(session: Session, actor: Actor, now: datetime, opens_min: int) -> dict[str, Any]:
    mine = bookings.split_bookings(session, actor.id, now)
    waiting = waitlist.waiting_entries(session, actor.id, now)
    resources = {r.id: r for r in catalogue_repo.list_resources(session)}
    sites = {s.id: s for s in catalogue_repo.list_sites(session)}
    return {
        "now": now,
        "upcoming": booking_views(session, mine.upcoming, now, opens_min),
        "past": booking_views(session, mine.past, now, opens_min),
        "waiting": [
            (
                e,
                resources.get(e.resource_id),
                zone(sites[resources[e.resource_id].site_id].timezone)
                if e.resource_id in resources
                else None,
                waitlist.waitlist_read(session, e).position,
            )
            for e in waiting
        ],
    }


@router.get("/bookings")
def my_bookings(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, actor: PersonActor
) -> Response:
    """My bookings: upcoming with cancel and check-in, the past, and my waitlist places."""
    context = _my_bookings_context(session, actor, now, settings.check_in_opens_min)
    template = "portal/_bookings.html" if is_htmx(request) else "portal/bookings.html"
    return render(request, template, actor, **context)


def _after_booking_action(
    request: Request, session: Session, actor: Actor, now: datetime, opens_min: int, message: str
) -> Response:
    if is_htmx(request):
        context = _my_bookings_context(session, actor, now, opens_min)
        return render(request, "portal/_bookings.html", actor, notice=message, **context)
    flash(request, message)
    return see_other("/bookings")


@router.get("/bookings/{booking_id}")
def booking_page(
    request: Request,
    booking_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
) -> Response:
    """One booking: its slot, code and status (404 for anyone but its member and its site's managers)."""
    booking = bookings.get_booking_or_raise(session, actor, booking_id)
    view = booking_views(session, [booking], now, settings.check_in_opens_min)[0]
    return render(request, "portal/booking.html", actor, view=view)


@router.post("/bookings/{booking_id}/cancel")
def cancel(
    request: Request,
    booking_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
) -> Response:
    """Cancel before the start, or release the rest once it has begun."""
    booking = bookings.cancel(session, actor, booking_id, now)
    session.commit()
    message = (
        text(request, actor, "The rest of the booking was released.")
        if booking.status is BookingStatus.released
        else text(request, actor, "The booking was cancelled.")
    )
    return _after_booking_action(request, session, actor, now, settings.check_in_opens_min, message)


@router.post("/bookings/{booking_id}/check-in")
def check_in(
    request: Request,
    booking_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
) -> Response:
    """Check in (from a little before the start until the end)."""
    bookings.check_in(session, actor, booking_id, now, check_in_opens_min=settings.check_in_opens_min)
    session.commit()
    message = text(request, actor, "You are checked in.")
    return _after_booking_action(request, session, actor, now, settings.check_in_opens_min, message)


@router.post("/series/{series_id}/cancel")
def cancel_series(
    request: Request,
    series_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
) -> Response:
    """Cancel every booking of a series that has not started yet."""
    cancelled = series.cancel_series(session, actor, series_id, now)
    session.commit()
    message = text(request, actor, "%(count)s booking(s) of the series were cancelled.", count=len(cancelled))
    return _after_booking_action(request, session, actor, now, settings.check_in_opens_min, message)


@router.post("/waitlist/{entry_id}/leave")
def leave_waitlist(
    request: Request,
    entry_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
) -> Response:
    """Stop waiting for a slot."""
    waitlist.leave(session, actor, entry_id)
    session.commit()
    message = text(request, actor, "You left the waitlist.")
    return _after_booking_action(request, session, actor, now, settings.check_in_opens_min, message)


# --- find a free room -----------------------------------------------------------------------------


@router.get("/search")
def find_room(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
    site: Annotated[str, Query(max_length=64)] = "",
    people: Annotated[int, Query(ge=1, le=10_000)] = 1,
    day: Annotated[str, Query(max_length=10)] = "",
    start: Annotated[str, Query(max_length=5)] = "",
    end: Annotated[str, Query(max_length=5)] = "",
) -> Response:
    """Find me a free room for N people on a date from–to: the rooms that fit and are free."""
    sites = list(catalogue_repo.list_sites(session))
    tz = zone(next((s.timezone for s in sites if s.id == site), settings.timezone))
    today = local_today(now, tz)
    searched = bool(day and start and end)
    results: list[bookings_availability.FreeRoom] = []
    error = None
    if searched:
        try:
            shown = parse_day(day, today)
            begin, finish = local_instant(shown, start, tz), local_instant(shown, end, tz)
            results = bookings_availability.find_free_rooms(
                session, start=begin, end=finish, people=people, now=now, site_id=site or None
            )
        except DomainError as exc:
            error = exc.detail
    next_hour = (now.astimezone(tz) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    form: dict[str, Any] = {
        "site": site,
        "people": people,
        "day": day or next_hour.date().isoformat(),
        "start": start or f"{next_hour:%H:%M}",
        "end": end or f"{next_hour + timedelta(hours=2):%H:%M}",
    }
    template = "portal/_results.html" if is_htmx(request) else "portal/search.html"
    return render(
        request,
        template,
        actor,
        sites=sites,
        form=form,
        searched=searched,
        results=results,
        error=error,
        minutes=_minutes_between(form["start"], form["end"]),
    )


def _minutes_between(start: str, end: str) -> int:
    try:
        sh, sm = (int(p) for p in start.split(":"))
        eh, em = (int(p) for p in end.split(":"))
    except ValueError:
        return 0
    return (eh * 60 + em) - (sh * 60 + sm)


# --- my account: quotas, trainings, calendar feed, language ---------------------------------------


@router.get("/me")
def my_account(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, actor: PersonActor
) -> Response:
    """Quota meters per quota group (booked and really used), my trainings, my calendar feed."""
    member = members.get_member_or_raise(session, actor.id)
    plan = catalogue_repo.get_plan(session, member.plan_id) if member.plan_id else None
    feed = str(request.url_for("ical_feed", token=member.ical_token)) if member.ical_token else None
    return render(
        request,
        "portal/me.html",
        actor,
        member=member,
        plan=plan,
        quotas=ledger.my_quotas(session, actor.member, now, settings.timezone),
        trainings=members.list_member_trainings(session, actor.member, now),
        feed=feed,
        webcal=feed.replace("https://", "webcal://").replace("http://", "webcal://") if feed else None,
        tz=zone(settings.timezone),
    )


@router.post("/me/ical")
def regenerate_feed(request: Request, session: SessionDep, actor: PersonActor) -> Response:
    """A new secret feed address; calendars subscribed to the old one stop receiving updates."""
    member = members.get_member_or_raise(session, actor.id)
    members.regenerate_ical_token(session, member)
    session.commit()
    flash(
        request, text(request, actor, "Your calendar address was changed; subscribe again with the new one.")
    )
    return see_other("/me")


@router.get("/ical/{token}.ics", name="ical_feed")
def ical_feed(token: str, session: SessionDep, now: NowDep) -> Response:
    """The member's bookings as iCalendar; the secret token in the address is the only key."""
    try:
        member = members.member_by_ical_token(session, token)
    except NotFound:
        return Response("not found\n", status_code=404, media_type="text/plain")
    return Response(
        ical.member_calendar(session, member, now),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="fablab-hub.ics"',
            "Cache-Control": "private, max-age=300",
            "X-Robots-Tag": "noindex",
            "Referrer-Policy": "no-referrer",
        },
    )
