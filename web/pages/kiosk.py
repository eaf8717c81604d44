"""The kiosk screen of a site: now/next per room, check-in by code or card, walk-in bookings.

Only the site's own kiosk account opens these pages. The screen polls its fragments (htmx), shows a
banner while the server cannot be reached and clears it by itself on the next answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking import spans
from booking.bookings import kiosk
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.errors import DomainError, NotFound
from booking.events import attendance
from booking.events import reading as events_reading
from booking.members import repository as members_repo
from booking.members.rules import given_name
from booking.models import Booking, Event, Registration
from booking.spans import zone
from devices.registry import service as devices
from web.deps import NowDep, SessionDep, SettingsDep
from web.errors import status_of
from web.i18n import say
from web.pages.common import KioskActor, is_htmx, language_of, render

router = APIRouter(prefix="/kiosk/{site_id}", include_in_schema=False)
# How often the screen refreshes its rooms; short enough that a booking made at a desk shows at once.
REFRESH_S = 15
# Machines change by the second (a job starts, a session ends): their board refreshes more often.
MACHINE_REFRESH_S = 5


def _rooms_context(session: Session, site_id: str, now: datetime) -> dict[str, Any]:
    site = catalogue.get_site_or_raise(session, site_id)
    tz = zone(site.timezone)
    midnight = spans.local_instant(now.astimezone(tz).date() + timedelta(days=1), 0, tz)
    return {
        "site": site,
        "tz": tz,
        # Today's event sessions not yet over: what the screen shows under "Events today".
        "event_sessions": events_reading.sessions_between(session, site.id, now, midnight),
        "rooms": kiosk.now_and_next(session, site.id, now),
        "walk_ins": kiosk.walk_in_slots(session, site.id, now),
        "now": now,
        "refresh_s": REFRESH_S,
    }


def _machines_context(session: Session, site_id: str, now: datetime) -> dict[str, Any]:
    return {"machines": devices.list_machines(session, now, site_id), "machine_refresh_s": MACHINE_REFRESH_S}


@router.get("")
def kiosk_page(
    request: Request, site_id: str, session: SessionDep, now: NowDep, actor: KioskActor
) -> Response:
    """The full-screen kiosk page."""
    return render(
        request,
        "kiosk/page.html",
        actor,
        **_rooms_context(session, site_id, now),
        **_machines_context(session, site_id, now),
        site_id=site_id,
        problem_resources=catalogue_repo.list_resources(session, site_id=site_id),
    )


@router.get("/rooms")
def rooms_fragment(
    request: Request, site_id: str, session: SessionDep, now: NowDep, actor: KioskActor
) -> Response:
    """Now and next for every room, and the walk-in offers (polled by the screen)."""
    return render(request, "kiosk/_rooms.html", actor, **_rooms_context(session, site_id, now))


@router.get("/walk-ins")
def walk_ins_fragment(
    request: Request, site_id: str, session: SessionDep, now: NowDep, actor: KioskActor
) -> Response:
    """The rooms free for a walk-in booking of their next slot (polled by the screen)."""
    return render(request, "kiosk/_walkins.html", actor, **_rooms_context(session, site_id, now))


@router.get("/machines")
def machines_fragment(
    request: Request, site_id: str, session: SessionDep, now: NowDep, actor: KioskActor
) -> Response:
    """Every machine of the site: its state and until when (polled by the screen)."""
    site = catalogue.get_site_or_raise(session, site_id)
    return render(
        request,
        "kiosk/_machines.html",
        actor,
        site=site,
        tz=zone(site.timezone),
        **_machines_context(session, site.id, now),
    )


def _result(
    request: Request,
    session: Session,
    actor: KioskActor,
    site_id: str,
    now: datetime,
    booking: Booking | None,
    error: DomainError | None,
    action: str,
    attended: tuple[Registration, Event] | None = None,
) -> Response:
    site = catalogue.get_site_or_raise(session, site_id)
    resource = catalogue_repo.get_resource(session, booking.resource_id) if booking else None
    member = members_repo.get_member(session, booking.member_id) if booking else None
    context = {
        "site": site,
        "tz": zone(site.timezone),
        "booking": booking,
        "resource": resource,
        # A passer-by reads the kiosk too: the given name, never the full name, e-mail or note.
        "member_name": given_name(member.name) if member else "",
        "error": say(error.message, language_of(request, actor)) if error else None,
        "action": action,
        "event": attended[1] if attended else None,
        "attendee": given_name(attended[0].name) if attended else "",
    }
    status = status_of(error) if error else 200
    if is_htmx(request):
        # The rooms refresh too: a check-in or walk-in changes what the screen shows.
        return render(
            request,
            "kiosk/_result.html",
            actor,
            status=status,
            headers={"HX-Trigger": "kiosk-changed"},
            **context,
        )
    return render(
        request,
        "kiosk/page.html",
        actor,
        status=status,
        result=context,
        **_rooms_context(session, site_id, now),
        **_machines_context(session, site_id, now),
    )


@router.post("/check-in")
def check_in(
    request: Request,
    site_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: KioskActor,
    code: Annotated[str, Form(max_length=32)] = "",
    card: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Check a booking in by its code, or the card holder's booking here now by the card's UID; a
    registration code, or the card of someone registered for an event under way here, marks them
    present at the event."""
    try:
        attended = attendance.attend_at_kiosk(session, actor, site_id, now, code=code, card=card)
        if attended is not None:
            session.commit()
            return _result(request, session, actor, site_id, now, None, None, "attendance", attended)
        if card.strip():
            booking = kiosk.check_in_by_card(
                session, actor, site_id, card, now, opens_min=settings.check_in_opens_min
            )
        else:
            booking = bookings.check_in_by_code(
                session, actor, code, now, check_in_opens_min=settings.check_in_opens_min
            )
            if booking.site_id != site_id:  # a kiosk sees only its site; belt and braces
                raise NotFound("no booking has the code {text}", text=code.strip().upper())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _result(request, session, actor, site_id, now, None, exc, "check-in")
    return _result(request, session, actor, site_id, now, booking, None, "check-in")


@router.post("/walk-in")
def walk_in(
    request: Request,
    site_id: str,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: KioskActor,
    resource_id: Annotated[str, Form(max_length=64)],
    card: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Book a free room's next slot for the member whose card is presented."""
    try:
        booking = kiosk.walk_in(
            session, actor, site_id, resource_id, card, now, opens_min=settings.check_in_opens_min
        )
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _result(request, session, actor, site_id, now, None, exc, "walk-in")
    return _result(request, session, actor, site_id, now, booking, None, "walk-in")
