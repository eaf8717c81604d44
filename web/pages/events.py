"""Events for people: the public calendar of the center and its partner labs, an event's page with
its seats left (live), registering in one click (members) or by name and e-mail (guests), my events,
calendar feeds. The managers' pages are in web/pages/manage_events.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.errors import DomainError
from booking.events import ical as events_ical
from booking.events import reading as events_reading
from booking.events import registrations as event_registrations
from booking.events import repository as events_repo
from booking.members.actors import Actor
from booking.models import (
    Event,
    EventSession,
    EventStatus,
    Registration,
    RegistrationStatus,
    Resource,
    Site,
)
from booking.schemas import RegistrationCreate
from booking.spans import zone
from web.deps import NowDep, ReadSessionDep, SessionDep
from web.errors import status_of
from web.i18n import say
from web.pages.common import (
    MaybeActor,
    PersonActor,
    flash,
    language_of,
    render,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)
# How often an event's page asks for its seats left.
SEATS_REFRESH_S = 10
# How far ahead the calendar looks.
CALENDAR_DAYS = 120


@dataclass(frozen=True, slots=True)
class Sitting:
    session: EventSession
    resource: Resource | None


@dataclass(frozen=True, slots=True)
class EventView:
    event: Event
    site: Site
    tz: ZoneInfo
    sittings: list[Sitting]
    waitlisted: int

    @property
    def seats_left(self) -> int:
        return max(0, self.event.capacity - self.event.registered)

    @property
    def cancelled(self) -> bool:
        return self.event.status is EventStatus.cancelled


def event_views(session: Session, found: list[Event]) -> list[EventView]:
    """Views of the events, each site and room loaded once."""
    sites = {s.id: s for s in catalogue_repo.list_sites(session)}
    resources = {r.id: r for r in catalogue_repo.list_resources(session)}
    ids = [e.id for e in found]
    sittings = events_repo.sessions_of(session, ids)
    waiting = events_repo.waitlisted_counts(session, ids)
    return [
        EventView(
            event=e,
            site=sites[e.site_id],
            tz=zone(sites[e.site_id].timezone),
            sittings=[Sitting(s, resources.get(s.resource_id)) for s in sittings[e.id]],
            waitlisted=waiting.get(e.id, 0),
        )
        for e in found
        if e.site_id in sites
    ]


def view_of(session: Session, actor: Actor | None, event_id: str) -> EventView:
    return event_views(session, [events_reading.get_event_or_raise(session, actor, event_id)])[0]


# --- the public calendar and an event's page --------------------------------------------------------


@router.get("/events")
def calendar(
    request: Request,
    session: SessionDep,
    now: NowDep,
    actor: MaybeActor,
    site: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The coming events of the whole network, or of one site; no sign-in needed for public ones."""
    sites = list(catalogue_repo.list_sites(session))
    chosen = [site] if site and any(s.id == site for s in sites) else None
    found = events_reading.list_events(
        session,
        actor,
        site_ids=chosen,
        start=now,
        end=now + timedelta(days=CALENDAR_DAYS),
        include_cancelled=False,
    )
    mine = event_registrations.my_registrations(session, actor.id) if actor is not None else []
    upcoming_mine = [(r, e) for r, e in mine if e.ends_at > now and e.status is EventStatus.scheduled]
    return render(
        request,
        "portal/events.html",
        actor,
        views=event_views(session, list(found)),
        sites=sites,
        site=site,
        mine=[
            (r, v)
            for (r, _e), v in zip(
                upcoming_mine, event_views(session, [e for _r, e in upcoming_mine]), strict=True
            )
        ],
        now=now,
    )


def _registration_of(session: Session, actor: Actor | None, event: Event) -> Registration | None:
    if actor is None:
        return None
    return events_repo.live_registration_of_member(session, event.id, actor.id)


def _event_page(
    request: Request,
    session: Session,
    actor: Actor | None,
    view: EventView,
    now: datetime,
    *,
    guest: Registration | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    registration = _registration_of(session, actor, view.event) if guest is None else guest
    position = (
        events_repo.waiting_ahead(session, registration) + 1
        if registration is not None and registration.status is RegistrationStatus.waitlisted
        else None
    )
    return render(
        request,
        "portal/event.html",
        actor,
        status=status,
        view=view,
        registration=registration,
        position=position,
        guest=guest is not None,
        open_now=_open_now(view, now),
        error=error,
        form=form or {"name": "", "email": ""},
        refresh_s=SEATS_REFRESH_S,
        now=now,
    )


def _open_now(view: EventView, now: datetime) -> bool:
    event = view.event
    closes = event.closes_at or event.starts_at
    return (
        event.status is EventStatus.scheduled
        and (event.opens_at is None or event.opens_at <= now)
        and now < closes
    )


@router.get("/events/{event_id}")
def event_page(
    request: Request, event_id: str, session: SessionDep, now: NowDep, actor: MaybeActor
) -> Response:
    """One event: its sessions, the seats left (live), and registering."""
    return _event_page(request, session, actor, view_of(session, actor, event_id), now)


@router.get("/events/{event_id}/seats")
def seats_fragment(request: Request, event_id: str, session: SessionDep, actor: MaybeActor) -> Response:
    """The seats left and the waitlist (polled by the event's page)."""
    return render(
        request,
        "portal/_seats.html",
        actor,
        view=view_of(session, actor, event_id),
        refresh_s=SEATS_REFRESH_S,
    )


@router.post("/events/{event_id}/register")
def register(
    request: Request,
    event_id: str,
    reader: ReadSessionDep,
    session: SessionDep,
    now: NowDep,
    actor: MaybeActor,
    name: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Register: a member in one click, a guest by name and e-mail; a refusal is told on the page,
    what was typed kept. The page shown after the commit (or the rollback) is read with a read-only
    session: on SQLite a read in the writing session would take the write slot again."""
    data = RegistrationCreate() if actor is not None else RegistrationCreate(name=name, email=email)
    try:
        registration = event_registrations.register(
            session, actor, event_id, data, now, language=language_of(request, actor)
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        view = view_of(reader, actor, event_id)
        message = say(exc.message, language_of(request, actor))
        return _event_page(
            request,
            reader,
            actor,
            view,
            now,
            error=message,
            status=status_of(exc),
            form={"name": name, "email": email},
        )
    if actor is None:
        # A guest has no account to come back to: the page shows their code now.
        return _event_page(request, reader, None, view_of(reader, None, event_id), now, guest=registration)
    if registration.status is RegistrationStatus.registered:
        flash(
            request,
            text(request, actor, "You are registered. Your code is %(code)s.", code=registration.code),
        )
    else:
        flash(request, text(request, actor, "The event is full: you are on the waitlist."))
    return see_other(f"/events/{event_id}")


@router.post("/events/{event_id}/registrations/{registration_id}/cancel")
def cancel_registration(
    request: Request,
    event_id: str,
    registration_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
) -> Response:
    """Give up my seat or waitlist place (a manager: anyone's)."""
    event_registrations.cancel_registration(session, actor, event_id, registration_id, now)
    session.commit()
    flash(request, text(request, actor, "The registration was cancelled."))
    back = (
        f"/manage/events/{event_id}"
        if request.query_params.get("from") == "manage"
        else f"/events/{event_id}"
    )
    return see_other(back)


@router.get("/sites/{site_id}/events.ics", name="site_events_feed")
def site_feed(
    request: Request, site_id: str, session: SessionDep, now: NowDep, actor: MaybeActor
) -> Response:
    """A site's public events as iCalendar, for anyone to subscribe to."""
    site = catalogue_repo.get_site(session, site_id)
    if site is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    return Response(
        events_ical.site_calendar(session, site, now, language_of(request, actor)),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'inline; filename="{site.id}-events.ics"',
            "Cache-Control": "public, max-age=300",
        },
    )
