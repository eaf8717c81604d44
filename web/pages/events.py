"""Events for people: the public calendar of the center and its partner labs, an event's page with
its seats left (live), registering in one click (members) or by name and e-mail (guests), my events;
for managers, announcing an event, its registrations, attendance per session and a CSV export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.errors import DomainError, InvalidRequest, NotPermitted
from booking.events import ical as events_ical
from booking.events import repository as events_repo
from booking.events import rules
from booking.events import service as events
from booking.members.actors import Actor
from booking.models import (
    Event,
    EventKind,
    EventSession,
    EventStatus,
    Registration,
    RegistrationStatus,
    Resource,
    ResourceKind,
    Site,
)
from booking.schemas import AttendanceCreate, EventCreate, EventSessionCreate, EventUpdate, RegistrationCreate
from booking.spans import zone
from web.deps import NowDep, ReadSessionDep, SessionDep
from web.errors import status_of
from web.i18n import say
from web.pages.common import (
    ManagerActor,
    MaybeActor,
    PersonActor,
    flash,
    language_of,
    local_instant,
    local_today,
    parse_day,
    render,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)
# How often an event's page asks for its seats left.
SEATS_REFRESH_S = 10
# The fields of the form that announces an event (kept when a refusal shows the form again).
FORM_FIELDS = (
    "title",
    "kind",
    "resource_id",
    "day",
    "start",
    "end",
    "capacity",
    "weeks",
    "title_en",
    "description",
    "training_id",
    "members_only",
)
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


def _view(session: Session, actor: Actor | None, event_id: str) -> EventView:
    return event_views(session, [events.get_event_or_raise(session, actor, event_id)])[0]


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
    found = events.list_events(
        session,
        actor,
        site_ids=chosen,
        start=now,
        end=now + timedelta(days=CALENDAR_DAYS),
        include_cancelled=False,
    )
    mine = events.my_registrations(session, actor.id) if actor is not None else []
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
    return _event_page(request, session, actor, _view(session, actor, event_id), now)


@router.get("/events/{event_id}/seats")
def seats_fragment(request: Request, event_id: str, session: SessionDep, actor: MaybeActor) -> Response:
    """The seats left and the waitlist (polled by the event's page)."""
    return render(
        request, "portal/_seats.html", actor, view=_view(session, actor, event_id), refresh_s=SEATS_REFRESH_S
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
        registration = events.register(
            session, actor, event_id, data, now, language=language_of(request, actor)
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        view = _view(reader, actor, event_id)
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
        return _event_page(request, reader, None, _view(reader, None, event_id), now, guest=registration)
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
    events.cancel_registration(session, actor, event_id, registration_id, now)
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


# --- managers -------------------------------------------------------------------------------------


def _managed(session: Session, actor: Actor) -> list[Site]:
    return [s for s in catalogue_repo.list_sites(session) if actor.manages(s.id)]


def _manage_list(
    request: Request,
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, Any] | None = None,
) -> Response:
    sites = _managed(session, actor)
    found = events.list_events(session, actor, site_ids=[s.id for s in sites], start=now - timedelta(days=30))
    rooms = [
        r
        for r in catalogue_repo.list_resources(session)
        if r.active and r.kind is not ResourceKind.machine and actor.manages(r.site_id)
    ]
    return render(
        request,
        "manage/events.html",
        actor,
        status=status,
        views=event_views(session, list(found)),
        rooms=rooms,
        sites={s.id: s for s in sites},
        trainings=list(catalogue_repo.list_trainings(session)),
        kinds=list(EventKind),
        error=error,
        form={**dict.fromkeys(FORM_FIELDS, ""), **(form or {})},
        today=local_today(now, zone(sites[0].timezone)) if sites else now.date(),
        now=now,
    )


@router.get("/manage/events")
def manage_events(request: Request, session: SessionDep, now: NowDep, actor: ManagerActor) -> Response:
    """The events of my sites, and a form to announce one."""
    return _manage_list(request, session, actor, now)


@router.post("/manage/events")
def announce(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    title: Annotated[str, Form(max_length=200)],
    kind: Annotated[str, Form(max_length=16)],
    resource_id: Annotated[str, Form(max_length=64)],
    day: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    capacity: Annotated[str, Form(max_length=12)],
    weeks: Annotated[str, Form(max_length=4)] = "1",
    title_en: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    training_id: Annotated[str, Form(max_length=64)] = "",
    members_only: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Announce an event: a first session, repeated weekly for `weeks` weeks; its room is booked."""
    form = {
        "title": title,
        "kind": kind,
        "resource_id": resource_id,
        "day": day,
        "start": start,
        "end": end,
        "capacity": capacity,
        "weeks": weeks,
        "title_en": title_en,
        "description": description,
        "training_id": training_id,
        "members_only": members_only,
    }
    try:
        room = catalogue_repo.get_resource(session, resource_id)
        if room is None:
            raise InvalidRequest("there is no room '{resource_id}'", resource_id=resource_id)
        site = catalogue_repo.get_site(session, room.site_id)
        tz = zone(site.timezone if site else "Asia/Ho_Chi_Minh")
        first_day = parse_day(day, local_today(now, tz))
        repeat = _whole(weeks, "weeks")
        if not 1 <= repeat <= rules.MAX_SESSIONS:
            raise InvalidRequest(
                "an event has at most {most} sessions; {count} were given",
                most=rules.MAX_SESSIONS,
                count=repeat,
            )
        seats = _whole(capacity, "capacity")
        rules.check_capacity(seats)
        if not title.strip():
            raise InvalidRequest("give the event a title")
        data = EventCreate(
            site=room.site_id,
            kind=EventKind(kind) if kind in {k.value for k in EventKind} else EventKind.event,
            title=title.strip(),
            title_en=title_en.strip(),
            description=description.strip(),
            capacity=seats,
            public=not members_only,
            training_id=training_id or None,
            sessions=[
                EventSessionCreate(
                    resource_id=room.id,
                    start=local_instant(first_day, start, tz),
                    end=local_instant(first_day, end, tz),
                )
            ],
            rrule=f"FREQ=WEEKLY;COUNT={repeat}" if repeat > 1 else None,
        )
        event = events.create_event(session, actor, data, now)
        session.commit()
    except DomainError as exc:
        session.rollback()
        message = say(exc.message, language_of(request, actor))
        return _manage_list(request, reader, actor, now, error=message, status=status_of(exc), form=form)
    flash(request, text(request, actor, "The event was announced and its room booked."))
    return see_other(f"/manage/events/{event.id}")


def _whole(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a whole number ({field})", value=value, field=field) from exc


def _manager_view(session: Session, actor: Actor, event_id: str) -> EventView:
    view = _view(session, actor, event_id)
    if not actor.manages(view.event.site_id):
        raise NotPermitted("only the site's managers see an event's registrations")
    return view


@router.get("/manage/events/{event_id}")
def manage_event(
    request: Request, event_id: str, session: SessionDep, now: NowDep, actor: ManagerActor
) -> Response:
    """An event's registrations, waitlist and attendance per session."""
    view = _manager_view(session, actor, event_id)
    return render(
        request,
        "manage/event.html",
        actor,
        view=view,
        registrations=events.list_registrations(session, actor, event_id),
        now=now,
    )


@router.post("/manage/events/{event_id}/attendance")
def mark_attendance(
    request: Request,
    event_id: str,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    registration_id: Annotated[str, Form(max_length=32)],
    session_id: Annotated[str, Form(max_length=32)] = "",
    passed: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Tick a registrant present at a session (or passed, for a training)."""
    data = AttendanceCreate(
        registration_id=registration_id, session_id=session_id or None, passed=True if passed else None
    )
    events.record_attendance(session, actor, event_id, data, now)
    session.commit()
    return see_other(f"/manage/events/{event_id}")


@router.post("/manage/events/{event_id}/message")
def message_registrants(
    request: Request,
    event_id: str,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    text_: Annotated[str, Form(alias="text", max_length=1000)] = "",
) -> Response:
    """Write to everyone registered or waiting."""
    if not text_.strip():
        raise InvalidRequest("write the message first")
    told = events.message_registrants(session, actor, event_id, text_, now)
    session.commit()
    flash(request, text(request, actor, "The message went to %(count)s people.", count=told))
    return see_other(f"/manage/events/{event_id}")


@router.post("/manage/events/{event_id}/sessions/{session_id}/move")
def move_session(
    request: Request,
    event_id: str,
    session_id: str,
    session: SessionDep,
    now: NowDep,
    actor: ManagerActor,
    day: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
) -> Response:
    """Move one session to another day or time: its room booking moves with it, registrants are told."""
    view = _manager_view(session, actor, event_id)
    moved = False
    sittings = []
    for sitting in view.sittings:
        s = sitting.session
        if s.id == session_id:
            when = parse_day(day, local_today(now, view.tz))
            sittings.append(
                EventSessionCreate(
                    resource_id=s.resource_id,
                    start=local_instant(when, start, view.tz),
                    end=local_instant(when, end, view.tz),
                )
            )
            moved = True
        else:
            sittings.append(EventSessionCreate(resource_id=s.resource_id, start=s.start_at, end=s.end_at))
    if not moved:
        raise InvalidRequest(
            "{event} has no session '{session_id}'",
            event=events.event_name(view.event),
            session_id=session_id,
        )
    events.update_event(session, actor, event_id, EventUpdate(sessions=sittings), now)
    session.commit()
    flash(request, text(request, actor, "The session was moved and its room booked; registrants were told."))
    return see_other(f"/manage/events/{event_id}")


@router.post("/manage/events/{event_id}/cancel")
def cancel_event(
    request: Request, event_id: str, session: SessionDep, now: NowDep, actor: ManagerActor
) -> Response:
    """Call the event off: its rooms are released, its registrants told."""
    events.cancel_event(session, actor, event_id, now)
    session.commit()
    flash(request, text(request, actor, "The event was cancelled; its rooms are free again."))
    return see_other(f"/manage/events/{event_id}")


@router.get("/manage/events/{event_id}/registrations.csv")
def registrations_csv(event_id: str, session: SessionDep, actor: ManagerActor) -> Response:
    """The registrations as CSV (for a sign-in sheet or a spreadsheet)."""
    view = _manager_view(session, actor, event_id)
    rows = events.list_registrations(session, actor, event_id)
    emails = {r.id: r.email for r in events_repo.registrations(session, event_id)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["name", "email", "status", "waitlist_position", "code", "sessions_attended", "passed"])
    for r in rows:
        writer.writerow(
            [
                r.name,
                emails.get(r.id, ""),
                r.status.value,
                r.position or "",
                r.code,
                len(r.attended_sessions),
                r.passed,
            ]
        )
    filename = f"event-{view.event.id}-registrations.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
