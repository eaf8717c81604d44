"""A member's bookings as an iCalendar feed (RFC 5545) that Google Calendar and Outlook subscribe to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import Session

from booking.bookings import repository as repo
from booking.models import Booking, BookingStatus, Member, Resource, Site

# What a subscribed calendar shows: recent history and everything ahead that still stands.
FEED_STATUSES: tuple[BookingStatus, ...] = (
    BookingStatus.pending,
    BookingStatus.confirmed,
    BookingStatus.checked_in,
    BookingStatus.completed,
)
FEED_PAST_DAYS = 60
FEED_LIMIT = 1000
# Calendar clients poll a subscription; one hour is the shortest interval Outlook and Google honour.
REFRESH = timedelta(hours=1)


def member_calendar(session: Session, member: Member, now: datetime, extra: Sequence[Event] = ()) -> bytes:
    """The member's bookings from FEED_PAST_DAYS ago on, as one VCALENDAR in UTC; `extra` adds
    other entries of theirs (the events they registered for)."""
    rows = repo.member_feed(
        session, member.id, FEED_STATUSES, now - timedelta(days=FEED_PAST_DAYS), FEED_LIMIT
    )
    calendar = Calendar()
    calendar.add("prodid", "-//FabLab Hub//Bookings//VI")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"FabLab Hub — {member.name}")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for booking, resource, site in rows:
        calendar.add_component(_event(booking, resource, site, now, member.language))
    for entry in extra:
        calendar.add_component(entry)
    data: bytes = calendar.to_ical()
    return data


def _event(booking: Booking, resource: Resource, site: Site, now: datetime, language: str) -> Event:
    english = language == "en"
    resource_name = (resource.name_en or resource.name) if english else resource.name
    site_name = (site.name_en or site.name) if english else site.name
    event = Event()
    # A stable UID lets a client update the event in place when the booking changes.
    event.add("uid", f"{booking.id}@fablab-hub")
    event.add("dtstamp", now)
    event.add("dtstart", booking.start_at)
    event.add("dtend", booking.end_at)
    event.add("summary", resource_name)
    event.add("location", ", ".join(part for part in (site_name, site.address) if part))
    code_label = "Check-in code" if english else "Mã check-in"
    description = f"{code_label}: {booking.code}"
    if booking.note:
        description += f"\n{booking.note}"
    event.add("description", description)
    # Pending bookings await a manager: TENTATIVE shows them as not yet certain.
    event.add("status", "TENTATIVE" if booking.status is BookingStatus.pending else "CONFIRMED")
    event.add("last-modified", booking.updated_at)
    return event


def invitation(
    booking: Booking, resource: Resource, site: Site, now: datetime, language: str, *, cancel: bool = False
) -> bytes:
    """The booking as an e-mail's calendar invitation (METHOD:REQUEST; METHOD:CANCEL with the same UID
    when it was called off), so it lands in Google Calendar and Outlook and leaves them again."""
    calendar = Calendar()
    calendar.add("prodid", "-//FabLab Hub//Bookings//VI")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "REQUEST")
    entry = _event(booking, resource, site, now, language)
    if cancel:
        entry["status"] = "CANCELLED"
    # A sequence that grows with each change lets a calendar take the newest version.
    entry.add("sequence", int(booking.updated_at.timestamp()) - int(booking.created_at.timestamp()))
    calendar.add_component(entry)
    data: bytes = calendar.to_ical()
    return data
