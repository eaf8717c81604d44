"""Find a free room: every room or space free for a length of time on a day, by kind and size."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from booking.bookings import availability as bookings_availability
from booking.catalogue import repository as catalogue_repo
from booking.errors import DomainError
from booking.spans import zone
from web.deps import NowDep, SessionDep, SettingsDep
from web.i18n import say
from web.pages.common import (
    PersonActor,
    is_htmx,
    language_of,
    local_instant,
    local_today,
    parse_day,
    render,
)

router = APIRouter(include_in_schema=False)


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
            error = say(exc.message, language_of(request, actor))
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
        status=422 if error else 200,
    )


def _minutes_between(start: str, end: str) -> int:
    try:
        sh, sm = (int(p) for p in start.split(":"))
        eh, em = (int(p) for p in end.split(":"))
    except ValueError:
        return 0
    return (eh * 60 + em) - (sh * 60 + sm)
