"""My bookings and my account: upcoming and past bookings with cancel and check-in, one booking's
page, my waitlist places, my quotas and trainings, my calendar feed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlmodel import Session

from booking import accounts, notifications
from booking.bookings import ical
from booking.bookings import service as bookings
from booking.bookings.rules import check_in_is_open
from booking.catalogue import repository as catalogue_repo
from booking.engine.status import Move, can_move
from booking.errors import DomainError, InvalidRequest, NotFound
from booking.events import ical as events_ical
from booking.ledger import service as ledger
from booking.members import service as members
from booking.members.actors import Actor
from booking.members.rules import looks_like_email
from booking.models import ACTIVE_STATUSES, Booking, BookingStatus, Resource, Site
from booking.series import service as series
from booking.spans import zone
from booking.waitlist import service as waitlist
from web import notices
from web.api.auth import address_link
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.errors import status_of
from web.i18n import normalise, say
from web.pages.common import (
    MaybeActor,
    PersonActor,
    flash,
    is_htmx,
    language_of,
    render,
    see_other,
    text,
)
from web.settings import Settings
from web.tokens import UnsubscribeCodec

router = APIRouter(include_in_schema=False)


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


# --- my account: quotas, trainings, calendar feed, language ---------------------------------------


@router.get("/me")
def my_account(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep, actor: PersonActor
) -> Response:
    """Quota meters per quota group (booked and really used), my trainings, my calendar feed."""
    return _my_account(request, session, settings, now, actor)


def _my_account(
    request: Request,
    session: Session,
    settings: Settings,
    now: datetime,
    actor: Actor,
    *,
    address_form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
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
        email_choices=[
            (kind, notices.title(kind, normalise(actor.member.language))) for kind in notices.OPTIONAL
        ],
        tz=zone(settings.timezone),
        address_form=address_form,
        status=status,
    )


@router.post("/me/address")
def change_address(
    request: Request,
    session: SessionDep,
    reader: ReadSessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: PersonActor,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Send a link to the new address; the account's address changes once it is opened there."""
    member = members.get_member_or_raise(session, actor.id)
    try:
        if not looks_like_email(email):
            raise InvalidRequest("this does not look like an e-mail address (name@example.com)")
        accounts.request_address_change(
            session,
            member,
            email,
            now,
            address_link(request, "address"),
            address=request.client.host if request.client else "",
            window=timedelta(seconds=settings.login_window_s),
            max_per_address=settings.login_max_per_address,
        )
    except DomainError as exc:
        session.rollback()
        problem = {"email": email, "error": say(exc.message, language_of(request, actor))}
        return _my_account(
            request, session, settings, now, actor, address_form=problem, status=status_of(exc)
        )
    session.commit()
    flash(
        request, text(request, actor, "A link was sent to the new address; open it there to make the change.")
    )
    return see_other("/me")


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
        ical.member_calendar(
            session, member, now, events_ical.member_entries(session, member.id, member.language, now)
        ),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="fablab-hub.ics"',
            "Cache-Control": "private, max-age=300",
            "X-Robots-Tag": "noindex",
            "Referrer-Policy": "no-referrer",
        },
    )


# --- my notifications -----------------------------------------------------------------------------

# How often the bell in the header asks for the unread count.
BELL_REFRESH_S = 30


@router.get("/notifications")
def my_notifications(
    request: Request, session: SessionDep, settings: SettingsDep, actor: PersonActor
) -> Response:
    """My notifications, newest first, in my language; the unread ones stand out."""
    language = normalise(actor.member.language)
    rows = [
        (n, notices.title(n.kind, language), notices.body(n, language))
        for n in notifications.list_notifications(session, actor.id, limit=100)
    ]
    return render(request, "portal/notifications.html", actor, rows=rows, tz=zone(settings.timezone))


@router.get("/notifications/bell")
def bell(request: Request, session: SessionDep, actor: PersonActor) -> Response:
    """The bell of the header with the unread count (polled)."""
    return render(
        request,
        "portal/_bell.html",
        actor,
        unread=notifications.unread_count(session, actor.id),
        refresh_s=BELL_REFRESH_S,
    )


@router.post("/notifications/read")
def read_all(request: Request, session: SessionDep, now: NowDep, actor: PersonActor) -> Response:
    """Mark all my notifications read."""
    notifications.mark_read(session, actor.id, now)
    session.commit()
    return see_other("/notifications")


@router.post("/notifications/{notification_id}/read")
def read_one(
    request: Request, notification_id: int, session: SessionDep, now: NowDep, actor: PersonActor
) -> Response:
    """Mark one of my notifications read."""
    notifications.mark_read(session, actor.id, now, notification_id)
    session.commit()
    return see_other("/notifications")


# --- e-mail preferences -------------------------------------------------------------------------------


def _set_email(session: Session, member_id: str, kind: str, wanted: bool) -> None:
    member = members.get_member_or_raise(session, member_id)
    off = set(member.email_off or [])
    if wanted:
        off.discard(kind)
    else:
        off.add(kind)
    member.email_off = sorted(off)
    session.add(member)
    session.flush()


@router.post("/me/email")
async def email_preferences(request: Request, session: SessionDep, actor: PersonActor) -> Response:
    """Which kinds of notification come by e-mail too (the others: in the app only)."""
    form = await request.form()
    wanted = {kind for kind in notices.OPTIONAL if form.get(f"email_{kind}")}
    await run_in_threadpool(_save_email_preferences, session, actor.id, wanted)
    flash(request, text(request, actor, "Your e-mail choices were saved."))
    return see_other("/me")


def _save_email_preferences(session: Session, member_id: str, wanted: set[str]) -> None:
    member = members.get_member_or_raise(session, member_id)
    member.email_off = sorted(set(notices.OPTIONAL) - wanted)
    session.add(member)
    session.commit()


def _unsubscribe_claims(request: Request, token: str) -> tuple[str, str] | None:
    codec = UnsubscribeCodec(request.app.state.settings.secret_key)
    claims = codec.read(token)
    if claims is None or claims[1] not in notices.OPTIONAL:
        return None
    return claims


@router.get("/unsubscribe")
def unsubscribe_page(request: Request, actor: MaybeActor, token: str = "") -> Response:
    """An e-mail's 'stop e-mails of this kind' link: no sign-in needed, one button to confirm."""
    claims = _unsubscribe_claims(request, token)
    language = language_of(request, actor)
    return render(
        request,
        "portal/unsubscribe.html",
        actor,
        status=200 if claims else 400,
        token=token,
        title=notices.title(claims[1], language) if claims else "",
        done=False,
        valid=claims is not None,
    )


@router.post("/unsubscribe")
def unsubscribe(
    request: Request,
    session: SessionDep,
    actor: MaybeActor,
    token: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Stop e-mails of the link's kind for the link's member."""
    claims = _unsubscribe_claims(request, token)
    if claims is not None:
        _set_email(session, claims[0], claims[1], wanted=False)
        session.commit()
    language = language_of(request, actor)
    return render(
        request,
        "portal/unsubscribe.html",
        actor,
        status=200 if claims else 400,
        token=token,
        title=notices.title(claims[1], language) if claims else "",
        done=claims is not None,
        valid=claims is not None,
    )
