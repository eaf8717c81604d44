"""What every page shares: templates, language, the signed-in actor by role, CSRF, redirects.

Pages authenticate by the signed session cookie only (never a bearer token), and every page or
fragment declares who may see it with one of the dependencies below:

- not signed in → a redirect to the sign-in page (htmx: `HX-Redirect`);
- signed in with the wrong role → 403;
- someone else's booking, or another site's kiosk → 404, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session

from booking import spans
from booking.errors import InvalidRequest, NotFound, NotPermitted
from booking.members import repository as members_repo
from booking.members.actors import Actor
from booking.members.service import load_actor
from booking.models import Role
from web.csrf import csrf_token
from web.deps import ReadSessionDep
from web.headers import SECURITY_HEADERS
from web.i18n import Formatter, Gettext, normalise, say

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # The templates ship with the code and change with it (a restart): not looked up on disk again
    # at each render (a stat of each template, in every page and every e-mail).
    auto_reload=False,
)


class SignInRequired(Exception):
    """The page needs a signed-in person; answered by a redirect to the sign-in page."""


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it wants a fragment, not a page)."""
    return request.headers.get("HX-Request") == "true"


def language_of(request: Request, actor: Actor | None) -> str:
    """The member's language when signed in, else the one chosen on this browser, else Vietnamese."""
    if actor is not None:
        return normalise(actor.member.language)
    return normalise(request.session.get("lang"))


def render(
    request: Request,
    template: str,
    actor: Actor | None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page or fragment in the request's language, with the CSRF token and the formatters."""
    language = language_of(request, actor)
    gettext = Gettext(language)
    # A form sent by the pages' script reads the answer only to see where it leads; the notices
    # wait for the page the browser then opens (X-Keep-Flash).
    keep = is_htmx(request) or request.headers.get("X-Keep-Flash") == "1"
    flashes = request.session.pop("flash", []) if not keep else []
    html = env.get_template(template).render(
        request=request,
        me=actor,
        lang=language,
        _=gettext.markup,
        gettext=gettext.markup,
        ngettext=gettext.nmarkup,
        fmt=Formatter(language),
        say=lambda said: say(said, language),
        csrf=csrf_token(request.session),
        path=request.url.path,
        flashes=flashes,
        Role=Role,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def text(request: Request, actor: Actor | None, message: str, **values: Any) -> str:
    """A message of a route in the request's language (for flashes and plain-text answers)."""
    return Gettext(language_of(request, actor)).gettext(message, **values)


def flash(request: Request, message: str) -> None:
    """A notice shown once on the next full page."""
    request.session.setdefault("flash", []).append(message)


def see_other(url: str) -> RedirectResponse:
    """A 303 redirect: after a form's POST, the browser GETs the result (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303)


def done(request: Request, url: str, fragment: Response | None = None) -> Response:
    """After a state change: htmx gets the fragment (or is sent to `url`), a plain form a 303."""
    if is_htmx(request):
        return fragment if fragment is not None else Response(status_code=204, headers={"HX-Redirect": url})
    return see_other(url)


def safe_next(target: str | None, fallback: str = "/") -> str:
    """A local path to go to after signing in; anything pointing off-site falls back."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


def sign_in_url(request: Request) -> str:
    """The sign-in page, coming back to this page after."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/signin?next={quote(here, safe='/')}"


def signed_in_actor(request: Request, session: Session) -> Actor | None:
    """The member of the session cookie, if it still holds (active, same token version)."""
    data = request.session
    member_id, version = data.get("member"), data.get("v")
    if not isinstance(member_id, str) or not isinstance(version, int):
        return None
    member = members_repo.get_member(session, member_id)
    if member is None or not member.active or member.token_version != version:
        return None
    actor = load_actor(session, member)
    # The error handler tells a refusal in the signed-in member's language.
    request.state.actor = actor
    return actor


def optional_actor(request: Request, session: ReadSessionDep) -> Actor | None:
    """The signed-in actor, or None."""
    return signed_in_actor(request, session)


def any_actor(request: Request, session: ReadSessionDep) -> Actor:
    """Anyone signed in (kiosks too)."""
    actor = signed_in_actor(request, session)
    if actor is None:
        raise SignInRequired()
    return actor


def person(actor: Annotated[Actor, Depends(any_actor)]) -> Actor:
    """A member, manager or admin; a kiosk device account is refused."""
    if actor.member.role is Role.kiosk:
        raise NotPermitted("a kiosk cannot open member or manager pages")
    return actor


def manager(actor: Annotated[Actor, Depends(person)]) -> Actor:
    """A manager of at least one site, or an admin."""
    if not (actor.is_admin or actor.managed_sites):
        raise NotPermitted("only the center's managers can open this page")
    return actor


def admin(actor: Annotated[Actor, Depends(person)]) -> Actor:
    """An administrator."""
    if not actor.is_admin:
        raise NotPermitted("only administrators can open this page")
    return actor


def kiosk(site_id: str, actor: Annotated[Actor, Depends(any_actor)]) -> Actor:
    """The kiosk account of this very site; another site's kiosk finds nothing here."""
    if actor.member.role is not Role.kiosk:
        raise NotPermitted("the kiosk pages are for the kiosk screens of the center")
    if actor.member.kiosk_site_id != site_id:
        raise NotFound("there is nothing at /kiosk/{site_id}", site_id=site_id)
    return actor


MaybeActor = Annotated[Actor | None, Depends(optional_actor)]
AnyActor = Annotated[Actor, Depends(any_actor)]
PersonActor = Annotated[Actor, Depends(person)]
ManagerActor = Annotated[Actor, Depends(manager)]
AdminActor = Annotated[Actor, Depends(admin)]
KioskActor = Annotated[Actor, Depends(kiosk)]


def home_of(actor: Actor) -> str:
    """Where a role lands after signing in."""
    if actor.member.role is Role.kiosk:
        return f"/kiosk/{actor.member.kiosk_site_id}"
    return "/"


# --- parsing what forms send ---------------------------------------------------------------------


def parse_day(value: str | None, default: date) -> date:
    """A YYYY-MM-DD form value, or the default when empty; InvalidRequest when malformed."""
    if not value:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a date like 2027-03-01", value=value) from exc
    spans.check_year(day)
    return day


def parse_clock(value: str) -> int:
    """A HH:MM form value as minutes after midnight (24:00 allowed)."""
    try:
        hours, minutes = (int(part) for part in value.split(":")[:2])
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a time of day like 14:30", value=value) from exc
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise InvalidRequest("'{value}' is not a time of day like 14:30", value=value)
    return hours * 60 + minutes


def local_instant(day: date, clock: str, tz: ZoneInfo) -> datetime:
    """A local date and HH:MM in the zone, as an aware UTC instant."""
    return spans.local_instant(day, parse_clock(clock), tz)


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant with an offset (as the grid's links carry), in UTC."""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest("'{value}' is not a date and time", value=value) from exc
    if instant.tzinfo is None:
        raise InvalidRequest("'{value}' needs a time zone offset", value=value)
    spans.check_year(instant)
    return instant.astimezone(UTC)


def local_today(now: datetime, tz: ZoneInfo) -> date:
    """Today's date in the zone."""
    return now.astimezone(tz).date()


def clock_of(instant: datetime, tz: ZoneInfo) -> str:
    """HH:MM of an instant in the zone."""
    local: time = instant.astimezone(tz).time()
    return f"{local:%H:%M}"
