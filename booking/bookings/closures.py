"""Closing a site over existing bookings: the bookings a closure would hit are listed before it is
saved; on saving they are cancelled or kept as the manager chooses, and their members are told
either way, so no booking silently disappears from the grid while it stays confirmed. Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlmodel import Session

from booking.bookings import repository as repo
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.catalogue.rules import Acting, check_closure_span
from booking.errors import NotPermitted
from booking.members.actors import Actor
from booking.messages import Slot, message
from booking.models import ACTIVE_STATUSES, Booking, Closure
from booking.notifications import notify
from booking.schemas import ClosureCreate


@dataclass(slots=True)
class ClosureOutcome:
    """The closure saved, and the bookings it hit: cancelled, or kept at the manager's word."""

    closure: Closure
    cancelled: list[Booking] = field(default_factory=list)
    kept: list[Booking] = field(default_factory=list)


def bookings_hit(
    session: Session, actor: Acting, site_id: str, start: datetime, end: datetime, now: datetime
) -> list[Booking]:
    """The site's active bookings that a closure over [start, end) would cover and that have not
    ended, soonest first (the site's managers only)."""
    catalogue.get_site_or_raise(session, site_id)
    if not actor.manages(site_id):
        raise NotPermitted("only the site's managers can close it")
    check_closure_span(start, end)
    found = repo.list_bookings(
        session,
        site_ids=[site_id],
        start=max(start.astimezone(UTC), now),
        end=end.astimezone(UTC),
        statuses=sorted(ACTIVE_STATUSES),
        limit=10_000,
    )
    return list(found)


def close_site(
    session: Session, actor: Actor, site_id: str, data: ClosureCreate, now: datetime
) -> ClosureOutcome:
    """Save a closure; cancel or keep the bookings it covers (`data.on_bookings`), telling each member."""
    hit = bookings_hit(session, actor, site_id, data.start, data.end, now)
    closure = catalogue.add_closure(session, actor, site_id, data)
    outcome = ClosureOutcome(closure=closure)
    site = catalogue.get_site_or_raise(session, site_id)
    for booking in hit:
        resource = catalogue_repo.get_resource(session, booking.resource_id)
        name = resource.name if resource else booking.resource_id
        if data.on_bookings == "cancel":
            outcome.cancelled.append(bookings.cancel(session, actor, booking.id, now, reason=data.reason))
            continue
        outcome.kept.append(booking)
        notify(
            session,
            booking.member_id,
            "closure",
            message(
                "{site} is closed {closed} ({reason}); your booking of {resource} {slot} stands: the "
                "site's managers kept it",
                site=site.name,
                closed=Slot(closure.start_at, closure.end_at, site.timezone),
                reason=data.reason,
                resource=name,
                slot=Slot(booking.start_at, booking.end_at, site.timezone),
            ),
            booking=booking,
            now=now,
        )
    return outcome
