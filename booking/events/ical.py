"""Events as iCalendar (RFC 5545): a site's public events as a feed anyone can subscribe to, and the
sessions of the events a member registered for, which join their own booking feed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from booking.bookings.ical import REFRESH
from booking.calendar_text import Entry, calendar
from booking.catalogue import repository as catalogue_repo
from booking.events import repository as repo
from booking.models import Event, EventSession, EventStatus, RegistrationStatus, Site

FEED_PAST_DAYS = 60
FEED_AHEAD_DAYS = 366


def _entry(event: Event, sitting: EventSession, site: Site, now: datetime, english: bool, note: str) -> Entry:
    site_name = (site.name_en or site.name) if english else site.name
    about = (event.description_en or event.description) if english else event.description
    return [
        # One UID per session, stable: a client updates the entry in place when the event changes.
        ("uid", f"{sitting.id}@fablab-hub-events"),
        ("dtstamp", now),
        ("dtstart", sitting.start_at),
        ("dtend", sitting.end_at),
        ("summary", (event.title_en or event.title) if english else event.title),
        ("location", ", ".join(part for part in (site_name, site.address) if part)),
        ("description", "\n".join(part for part in (note, about) if part)),
        ("status", "CANCELLED" if event.status is EventStatus.cancelled else "CONFIRMED"),
        ("last-modified", event.updated_at),
    ]


def member_entries(session: Session, member_id: str, language: str, now: datetime) -> list[Entry]:
    """The sessions of the events the member holds a seat at (or waits for), recent and ahead."""
    english = language == "en"
    entries = []
    sites = {s.id: s for s in catalogue_repo.list_sites(session)}
    for registration in repo.member_registrations(session, member_id):
        event = repo.get_event(session, registration.event_id)
        if (
            event is None
            or event.ends_at < now - timedelta(days=FEED_PAST_DAYS)
            or event.site_id not in sites
        ):
            continue
        waiting = registration.status is RegistrationStatus.waitlisted
        label = (
            ("Waitlisted" if waiting else "Registration code")
            if english
            else ("Đang chờ chỗ" if waiting else "Mã đăng ký")
        )
        note = f"{label}: {registration.code}"
        for sitting in repo.sessions_of(session, [event.id])[event.id]:
            entries.append(_entry(event, sitting, sites[event.site_id], now, english, note))
    return entries


def site_calendar(session: Session, site: Site, now: datetime, language: str = "vi") -> bytes:
    """The site's public events, from FEED_PAST_DAYS ago to a year ahead, as one VCALENDAR."""
    english = language == "en"
    head: Entry = [
        ("prodid", "-//FabLab Hub//Events//VI"),
        ("version", "2.0"),
        ("calscale", "GREGORIAN"),
        ("x-wr-calname", f"{(site.name_en or site.name) if english else site.name} — FabLab Hub"),
        ("refresh-interval", REFRESH),
        ("x-published-ttl", REFRESH),
    ]
    found = repo.events_between(
        session,
        site_ids=[site.id],
        start=now - timedelta(days=FEED_PAST_DAYS),
        end=now + timedelta(days=FEED_AHEAD_DAYS),
        public_only=True,
    )
    sittings = repo.sessions_of(session, [e.id for e in found])
    return calendar(
        head,
        [
            ("VEVENT", _entry(event, sitting, site, now, english, ""))
            for event in found
            for sitting in sittings[event.id]
        ],
    )
