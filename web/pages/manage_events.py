"""Events for the site's managers: announcing an event (its rooms booked), its registrations and
waitlist, attendance per session, passing a trainee, moving a session, writing to the registrants, a
CSV export, cancelling."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.errors import DomainError, InvalidRequest, NotPermitted
from booking.events import attendance, rules
from booking.events import reading as events_reading
from booking.events import registrations as event_registrations
from booking.events import repository as events_repo
from booking.events import service as events
from booking.members.actors import Actor
from booking.models import (
    EventKind,
    ResourceKind,
    Site,
)
from booking.schemas import AttendanceCreate, EventCreate, EventSessionCreate, EventUpdate
from booking.spans import zone
from web.deps import NowDep, ReadSessionDep, SessionDep
from web.errors import status_of
from web.i18n import Gettext, say
from web.pages import csvwords
from web.pages.common import (
    ManagerActor,
    flash,
    language_of,
    local_instant,
    local_today,
    parse_day,
    render,
    see_other,
    text,
)
from web.pages.events import EventView, event_views, view_of

router = APIRouter(include_in_schema=False)

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
    found = events_reading.list_events(
        session, actor, site_ids=[s.id for s in sites], start=now - timedelta(days=30)
    )
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
    view = view_of(session, actor, event_id)
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
        registrations=event_registrations.list_registrations(session, actor, event_id),
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
    attendance.record_attendance(session, actor, event_id, data, now)
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
            event=events_reading.event_name(view.event),
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
def registrations_csv(request: Request, event_id: str, session: SessionDep, actor: ManagerActor) -> Response:
    """The registrations as CSV (for a sign-in sheet or a spreadsheet)."""
    view = _manager_view(session, actor, event_id)
    rows = event_registrations.list_registrations(session, actor, event_id)
    emails = {r.id: r.email for r in events_repo.registrations(session, event_id)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    gettext = Gettext(language_of(request, actor)).gettext
    headers = ["Name", "E-mail", "Status", "Place on the waiting list", "Code", "Sessions attended", "Passed"]
    writer.writerow([gettext(h) for h in headers])
    for r in rows:
        writer.writerow(
            [
                r.name,
                emails.get(r.id, ""),
                csvwords.word(csvwords.REGISTRATION_WORDS, r.status.value, gettext),
                r.position or "",
                r.code,
                len(r.attended_sessions),
                csvwords.yes_no(r.passed, gettext),
            ]
        )
    filename = f"event-{view.event.id}-registrations.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
