"""Changing a booking from the portal: move it (another day, time or resource of the same kind), change
the times or the weekday of a whole series. A refused change shows why beside the form, in the
reader's language, and keeps what was typed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from booking.bookings import changes
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.engine.status import Move, can_move
from booking.errors import DomainError
from booking.members.actors import Actor
from booking.models import Booking
from booking.schemas import BookingUpdate, SeriesUpdate
from booking.series import service as series
from booking.spans import zone
from web.deps import NowDep, SessionDep
from web.errors import status_of
from web.i18n import say
from web.pages.common import (
    PersonActor,
    flash,
    language_of,
    local_instant,
    parse_day,
    render,
    see_other,
    text,
)

router = APIRouter(include_in_schema=False)


def can_change(booking: Booking, now: datetime) -> bool:
    """Whether the portal offers to move the booking: it is active and has not begun."""
    return can_move(booking.status, Move.move) and booking.start_at > now


def _form(session: Session, booking: Booking, tz: ZoneInfo) -> dict[str, Any]:
    """The change form's values as the booking stands."""
    local_start, local_end = booking.start_at.astimezone(tz), booking.end_at.astimezone(tz)
    return {
        "day": local_start.date().isoformat(),
        "start": f"{local_start:%H:%M}",
        "end": f"{local_end:%H:%M}",
        "resource_id": booking.resource_id,
        "weekday": str(local_start.weekday()),
        "skip_conflicts": False,
    }


def _page(
    request: Request,
    session: Session,
    actor: Actor,
    booking: Booking,
    *,
    form: dict[str, Any] | None = None,
    error: str = "",
    series_error: str = "",
    status: int = 200,
) -> Response:
    resource = catalogue.get_resource_or_raise(session, booking.resource_id)
    site = catalogue.get_site_or_raise(session, booking.site_id)
    tz = zone(site.timezone)
    alternatives = [
        r for r in catalogue_repo.list_resources(session, site_id=site.id, kind=resource.kind) if r.active
    ]
    return render(
        request,
        "portal/change.html",
        actor,
        status=status,
        booking=booking,
        resource=resource,
        site=site,
        tz=tz,
        alternatives=alternatives,
        form=form or _form(session, booking, tz),
        error=error,
        series_error=series_error,
    )


@router.get("/bookings/{booking_id}/change")
def change_page(
    request: Request, booking_id: str, session: SessionDep, now: NowDep, actor: PersonActor
) -> Response:
    """The form that moves a booking (and, for a series, all its bookings ahead)."""
    booking = bookings.get_booking_or_raise(session, actor, booking_id)
    if not can_change(booking, now):
        flash(request, text(request, actor, "This booking can no longer be changed."))
        return see_other(f"/bookings/{booking.id}")
    return _page(request, session, actor, booking)


@router.post("/bookings/{booking_id}/change")
def move(
    request: Request,
    booking_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    day: Annotated[str, Form(max_length=10)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    resource_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Move the booking; on a refusal, the form again with the reason and what was typed."""
    booking = bookings.get_booking_or_raise(session, actor, booking_id)
    tz = _zone_of(session, booking)
    typed = {**_form(session, booking, tz), "day": day, "start": start, "end": end}
    typed["resource_id"] = resource_id or booking.resource_id
    try:
        first = parse_day(day, booking.start_at.astimezone(tz).date())
        begin = local_instant(first, start, tz)
        finish = local_instant(first, end, tz)
        if finish <= begin:
            # An end at or before the start on the same day means the booking runs past midnight.
            finish = local_instant(first + timedelta(days=1), end, tz)
        data = BookingUpdate(start=begin, end=finish, resource_id=resource_id or None)
        changes.move(session, actor, booking.id, data, now)
        session.commit()
    except DomainError as exc:
        session.rollback()
        booking = bookings.get_booking_or_raise(session, actor, booking_id)
        error = say(exc.message, language_of(request, actor))
        return _page(request, session, actor, booking, form=typed, error=error, status=status_of(exc))
    flash(request, text(request, actor, "The booking was moved."))
    return see_other(f"/bookings/{booking_id}")


@router.post("/series/{series_id}/change")
def move_series(
    request: Request,
    series_id: str,
    session: SessionDep,
    now: NowDep,
    actor: PersonActor,
    booking_id: Annotated[str, Form(max_length=32)],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    weekday: Annotated[str, Form(max_length=1)] = "",
    skip_conflicts: Annotated[bool, Form()] = False,
) -> Response:
    """Move every booking of the series ahead to new times and/or another weekday."""
    booking = bookings.get_booking_or_raise(session, actor, booking_id)
    typed = {
        **_form(session, booking, _zone_of(session, booking)),
        "start": start,
        "end": end,
        "weekday": weekday,
        "skip_conflicts": skip_conflicts,
    }
    try:
        data = SeriesUpdate.model_validate(
            {
                "start_time": start or None,
                "end_time": end or None,
                "weekday": int(weekday) if weekday.isdigit() else None,
                "skip_conflicts": skip_conflicts,
            }
        )
        result = series.move_series(session, actor, series_id, data, now)
        session.commit()
    except DomainError as exc:
        session.rollback()
        booking = bookings.get_booking_or_raise(session, actor, booking_id)
        error = say(exc.message, language_of(request, actor))
        return _page(request, session, actor, booking, form=typed, series_error=error, status=status_of(exc))
    except ValueError:
        session.rollback()
        error = text(request, actor, "Give the times as HH:MM, for example 14:30.")
        return _page(request, session, actor, booking, form=typed, series_error=error, status=422)
    message = text(request, actor, "%(num)s bookings of the series were moved.", num=len(result.moved))
    if result.skipped:
        message += " " + text(
            request, actor, "%(num)s kept their time because the new one is taken.", num=len(result.skipped)
        )
    flash(request, message)
    return see_other(f"/bookings/{booking_id}")


def _zone_of(session: Session, booking: Booking) -> ZoneInfo:
    site = catalogue_repo.get_site(session, booking.site_id)
    return zone(site.timezone if site else "UTC")
