"""A member's bookings as an iCalendar feed (RFC 5545) that Google Calendar and Outlook subscribe to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from booking.bookings import repository as repo
from booking.calendar_text import Entry, calendar
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


def member_calendar(session: Session, member: Member, now: datetime, extra: Sequence[Entry] = ()) -> bytes:
    """The member's bookings from FEED_PAST_DAYS ago on, as one VCALENDAR in UTC; `extra` adds
    other entries of theirs (the events they registered for)."""
    rows = repo.member_feed(
        session, member.id, FEED_STATUSES, now - timedelta(days=FEED_PAST_DAYS), FEED_LIMIT
    )
    head: Entry = [
        ("prodid", "-//FabLab Hub//Bookings//VI"),
        ("version", "2.0"),
        ("calscale", "GREGORIAN"),
        ("x-wr-calname", f"FabLab Hub — {member.name}"),
        ("refresh-interval", REFRESH),
        ("x-published-ttl", REFRESH),
    ]
    events = [
        ("VEVENT", _event(booking, resource, site, now, member.language)) for booking, resource, site in rows
    ]
    return calendar(head, [*events, *(("VEVENT", entry) for entry in extra)])


def _event(
    booking: Booking,
    resource: Resource,
    site: Site,
    now: datetime,
    language: str,
    *,
    status: str | None = None,
) -> Entry:
    english = language == "en"
    resource_name = (resource.name_en or resource.name) if english else resource.name
    site_name = (site.name_en or site.name) if english else site.name
    code_label = "Check-in code" if english else "Mã check-in"
    description = f"{code_label}: {booking.code}"
    if booking.note:
        description += f"\n{booking.note}"
    # Pending bookings await a manager: TENTATIVE shows them as not yet certain.
    status = status or ("TENTATIVE" if booking.status is BookingStatus.pending else "CONFIRMED")
    return [
        # A stable UID lets a client update the event in place when the booking changes.
        ("uid", f"{booking.id}@fablab-hub"),
        ("dtstamp", now),
        ("dtstart", booking.start_at),
        ("dtend", booking.end_at),
        ("summary", resource_name),
        ("location", ", ".join(part for part in (site_name, site.address) if part)),
        ("description", description),
        ("status", status),
        ("last-modified", booking.updated_at),
    ]


def invitation(
    booking: Booking, resource: Resource, site: Site, now: datetime, language: str, *, cancel: bool = False
) -> bytes:
    """The booking as an e-mail's calendar invitation (METHOD:REQUEST; METHOD:CANCEL with the same UID
    when it was called off), so it lands in Google Calendar and Outlook and leaves them again."""
    entry = _event(booking, resource, site, now, language, status="CANCELLED" if cancel else None)
    # A sequence that grows with each change lets a calendar take the newest version.
    entry.append(("sequence", int(booking.updated_at.timestamp()) - int(booking.created_at.timestamp())))
    head: Entry = [
        ("prodid", "-//FabLab Hub//Bookings//VI"),
        ("version", "2.0"),
        ("method", "CANCEL" if cancel else "REQUEST"),
    ]
    return calendar(head, [("VEVENT", entry)])
