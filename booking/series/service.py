"""The series' use cases: book every occurrence of an RRULE, read a series, cancel what is left of it.
Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from booking.bookings import changes
from booking.bookings import service as bookings
from booking.bookings.rules import can_see
from booking.catalogue.cache import CATALOGUE
from booking.engine import service as engine
from booking.errors import DomainError, InvalidRequest, NotFound
from booking.members.actors import Actor
from booking.messages import Slot, message
from booking.models import Booking, BookingStatus, Series
from booking.notifications import notify
from booking.schemas import BookingCreate, SeriesRead, SeriesUpdate, SkippedOccurrence
from booking.security import new_id
from booking.series import repository as repo
from booking.series.rules import expand_rrule, expansion_horizon, moved_occurrence, series_refusal
from booking.spans import Span


@dataclass(slots=True)
class SeriesResult:
    series: Series
    bookings: list[Booking]
    skipped: list[SkippedOccurrence]

    def read(self) -> SeriesRead:
        return SeriesRead(
            series_id=self.series.id,
            rrule=self.series.rrule,
            bookings=[bookings.booking_read(b) for b in self.bookings],
            skipped=self.skipped,
        )


def expand(session: Session, data: BookingCreate, now: datetime) -> list[Span]:
    """The dates a series asks for, expanded in the site's time zone up to its horizon; InvalidRequest
    for a rule that gives none there.

    Rule expansion is CPU work: give a read-only session and call it before the write transaction
    begins (STYLE: nothing slow while a write slot or a row lock is held). It reads only the catalogue.
    """
    if not data.rrule:
        raise InvalidRequest("a recurring booking needs an rrule")
    resource = CATALOGUE.resource(session, data.resource_id)
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    horizon = expansion_horizon(data.rrule, now, resource.rules.max_days_ahead)
    occurrences = expand_rrule(data.rrule, start, end, resource.site.tz, horizon)
    if not occurrences:
        raise InvalidRequest("the rrule gives no occurrence")
    return occurrences


def book_series(
    session: Session,
    actor: Actor,
    data: BookingCreate,
    now: datetime,
    occurrences: Sequence[Span] | None = None,
) -> SeriesResult:
    """Book every occurrence of an RRULE expanded in the site's time zone (`occurrences`, from
    `expand` before the transaction; expanded here when not given).

    Without `skip_conflicts` the series is refused as a whole if any occurrence cannot be booked,
    listing every such date and why; with it, the others are booked and those are listed as skipped.
    """
    if not data.rrule:
        raise InvalidRequest("a recurring booking needs an rrule")
    if occurrences is None:
        occurrences = expand(session, data, now)
    if not occurrences:
        raise InvalidRequest("the rrule gives no occurrence")
    target = engine.load_target(session, actor, data.resource_id, data.member, now)
    engine.with_closures(session, target, occurrences[0].start, occurrences[-1].end)
    series = Series(
        id=new_id(),
        member_id=target.member.id,
        resource_id=target.resource.id,
        rrule=data.rrule,
        created_at=now,
    )
    booked: list[Booking] = []
    refused: list[tuple[Span, DomainError]] = []
    # One savepoint around the whole series: a refused series leaves nothing written behind.
    with session.begin_nested():
        session.add(series)
        session.flush()
        for occurrence in occurrences:
            try:
                with session.begin_nested():
                    booked.append(
                        engine.book_one(
                            session,
                            target,
                            occurrence.start,
                            occurrence.end,
                            data.seats,
                            now,
                            note=data.note,
                            series_id=series.id,
                        )
                    )
            except DomainError as exc:
                refused.append((occurrence, exc))
        if refused and (not data.skip_conflicts or not booked):
            raise series_refusal(refused, len(occurrences), target.tz)
    skipped = [SkippedOccurrence(start=span.start, end=span.end, reason=exc.detail) for span, exc in refused]
    # One message for the whole series, not one per occurrence.
    first = booked[0]
    notify(
        session,
        target.member.id,
        "series_booked",
        message(
            "{count} bookings of {resource} were made, the first {slot}; dates skipped: {skipped}",
            count=len(booked),
            resource=target.resource.name,
            slot=Slot(first.start_at, first.end_at, target.tz.key),
            skipped=len(skipped),
        ),
        now=now,
        link="/bookings",
    )
    return SeriesResult(series=series, bookings=booked, skipped=skipped)


def list_series_bookings(session: Session, actor: Actor, series_id: str) -> list[Booking]:
    """The bookings of a series the actor may see, or NotFound."""
    found = [b for b in repo.list_series_bookings(session, series_id) if can_see(actor, b)]
    if not found:
        raise NotFound("there is no series '{series_id}'", series_id=series_id)
    return found


def cancel_series(session: Session, actor: Actor, series_id: str, now: datetime) -> list[Booking]:
    """Cancel every occurrence of a series that has not started yet."""
    cancelled = []
    for booking in list_series_bookings(session, actor, series_id):
        if booking.status in (BookingStatus.pending, BookingStatus.confirmed) and booking.start_at > now:
            cancelled.append(bookings.cancel(session, actor, booking.id, now))
    return cancelled


@dataclass(frozen=True, slots=True)
class SeriesChange:
    """The occurrences a change moved, and those it could not move (they keep their time), with why."""

    moved: list[Booking]
    skipped: list[SkippedOccurrence]


def move_series(
    session: Session, actor: Actor, series_id: str, data: SeriesUpdate, now: datetime
) -> SeriesChange:
    """Move every occurrence of a series that has not begun to new local times and/or another weekday.

    Each occurrence is re-checked as a new booking would be. Without `skip_conflicts` the change is
    refused as a whole if any occurrence cannot move, listing every such date and why; with it, the
    others move and those are listed, keeping their old time.
    """
    if data.start_time is None and data.end_time is None and data.weekday is None:
        raise InvalidRequest("say what to change: a new start time, end time or weekday")
    ahead = [
        b
        for b in list_series_bookings(session, actor, series_id)
        if b.status in (BookingStatus.pending, BookingStatus.confirmed) and b.start_at > now
    ]
    if not ahead:
        raise InvalidRequest("the series has no booking ahead that could be changed")
    tz = CATALOGUE.resource(session, ahead[0].resource_id).site.tz
    plan = [
        (
            booking,
            moved_occurrence(
                booking.start_at,
                booking.end_at,
                tz,
                start_time=data.start_time,
                end_time=data.end_time,
                weekday=data.weekday,
            ),
        )
        for booking in ahead
    ]
    # Occurrences moving later are moved last-first (and earlier ones first-first), so one occurrence
    # does not stand in the way of its neighbour's new slot while that neighbour still holds its old one.
    if plan and plan[0][1].start > plan[0][0].start_at:
        plan.reverse()
    moved: list[Booking] = []
    refused: list[tuple[Span, DomainError]] = []
    with session.begin_nested():
        for booking, span in plan:
            slot = changes.NewSlot(booking.resource_id, span.start, span.end)
            try:
                with session.begin_nested():
                    moved.append(changes.move_booking(session, actor, booking, slot, now))
            except DomainError as exc:
                refused.append((span, exc))
        if refused and (not data.skip_conflicts or not moved):
            raise series_refusal(sorted(refused, key=lambda r: r[0].start), len(plan), tz)
    moved.sort(key=lambda b: b.start_at)
    skipped = [
        SkippedOccurrence(start=span.start, end=span.end, reason=exc.detail)
        for span, exc in sorted(refused, key=lambda r: r[0].start)
    ]
    return SeriesChange(moved=moved, skipped=skipped)
