"""The member portal's own use cases: bookings split in time, the iCal token, language, repeat rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from booking.errors import InvalidRequest, NotFound
from booking.models import ACTIVE_STATUSES, Booking, Member, WaitlistEntry, WaitlistStatus
from booking.rules import MAX_OCCURRENCES
from booking.security import new_token

LANGUAGES: tuple[str, ...] = ("vi", "en")
# RFC 5545 weekday codes, Monday first like date.weekday().
WEEKDAY_CODES: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# How far back "my bookings" shows the past; older ones stay in the API and the iCal feed's range.
PAST_DAYS = 90


@dataclass(frozen=True, slots=True)
class MyBookings:
    """A member's bookings: those still ahead or under way, and the ended or called-off ones."""

    upcoming: list[Booking]
    past: list[Booking]


def split_bookings(session: Session, member_id: str, now: datetime, *, limit: int = 500) -> MyBookings:
    """Upcoming (active, not ended; soonest first) and past (ended or inactive; newest first)."""
    rows = session.exec(
        select(Booking)
        .where(Booking.member_id == member_id, col(Booking.end_at) > now - timedelta(days=PAST_DAYS))
        .order_by(col(Booking.start_at), col(Booking.id))
        .limit(limit)
    ).all()
    upcoming = [b for b in rows if b.status in ACTIVE_STATUSES and b.end_at > now]
    past = [b for b in rows if not (b.status in ACTIVE_STATUSES and b.end_at > now)]
    past.reverse()
    return MyBookings(upcoming=upcoming, past=past)


def waiting_entries(session: Session, member_id: str, now: datetime) -> list[WaitlistEntry]:
    """The member's waitlist entries still waiting for a slot that has not begun, soonest first."""
    return list(
        session.exec(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.member_id == member_id,
                WaitlistEntry.status == WaitlistStatus.waiting,
                col(WaitlistEntry.start_at) > now,
            )
            .order_by(col(WaitlistEntry.start_at))
        ).all()
    )


def regenerate_ical_token(session: Session, member: Member) -> str:
    """Give the member a new secret feed token; the old feed URL stops working at once."""
    member.ical_token = new_token()
    session.add(member)
    session.flush()
    return member.ical_token


def member_by_ical_token(session: Session, token: str) -> Member:
    """The active member whose feed token this is, or NotFound (never a hint about which part failed)."""
    member = (
        session.exec(select(Member).where(Member.ical_token == token)).first()
        if 16 <= len(token) <= 64
        else None
    )
    if member is None or not member.active:
        raise NotFound("there is no calendar at this address")
    return member


def set_language(session: Session, member: Member, language: str) -> None:
    """Remember the member's language for every page and device they use."""
    if language not in LANGUAGES:
        raise InvalidRequest(
            f"'{language}' is not a language of FabLab Hub; use one of {', '.join(LANGUAGES)}"
        )
    if member.language != language:
        member.language = language
        session.add(member)
        session.flush()


def weekly_rrule(weekdays: Sequence[int], *, until: date | None = None, count: int | None = None) -> str:
    """An RRULE repeating weekly on the given weekdays (0 = Monday) until a local date or N times.

    UNTIL is written as the last instant of that local day, without a zone: the booking core expands
    the rule in the site's local time, where a floating UNTIL means exactly that day.
    """
    days = sorted(set(weekdays))
    if not days:
        raise InvalidRequest("choose at least one weekday to repeat on")
    if any(d not in range(7) for d in days):
        raise InvalidRequest("weekdays are numbered 0 (Monday) to 6 (Sunday)")
    if (until is None) == (count is None):
        raise InvalidRequest("a repeat ends either on a date or after a number of times; give one of them")
    rule = "FREQ=WEEKLY;BYDAY=" + ",".join(WEEKDAY_CODES[d] for d in days)
    if count is not None:
        if not 1 <= count <= MAX_OCCURRENCES:
            raise InvalidRequest(f"a series has 1 to {MAX_OCCURRENCES} bookings; {count} were asked for")
        return f"{rule};COUNT={count}"
    assert until is not None
    return f"{rule};UNTIL={until:%Y%m%d}T235959"
