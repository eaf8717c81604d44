"""Reading events: an event and its sessions as a member or a manager may see them, the events of a
span, a site's day of sessions. Never writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import service as catalogue
from booking.errors import NotFound
from booking.events import repository as repo
from booking.events import rules
from booking.members.actors import Actor
from booking.messages import Name
from booking.models import Event, EventSession
from booking.schemas import EventRead, EventSessionRead


def event_name(event: Event) -> Name:
    return Name(event.title, event.title_en or None)


def get_event_or_raise(session: Session, actor: Actor | None, event_id: str) -> Event:
    """The event; a members-only event is not found for someone not signed in."""
    event = repo.get_event(session, event_id)
    if event is None or (actor is None and not event.public):
        raise NotFound("there is no event '{event_id}'", event_id=event_id)
    return event


def event_reads(session: Session, events: Sequence[Event]) -> list[EventRead]:
    """Events as the API gives them, with their sessions and waitlists read in two queries."""
    ids = [event.id for event in events]
    sessions = repo.sessions_of(session, ids)
    waiting = repo.waitlisted_counts(session, ids)
    return [
        EventRead(
            id=event.id,
            site=event.site_id,
            kind=event.kind,
            title=event.title,
            title_en=event.title_en,
            description=event.description,
            description_en=event.description_en,
            capacity=event.capacity,
            registered=event.registered,
            waitlisted=waiting.get(event.id, 0),
            seats_left=rules.seats_left(event.capacity, event.registered),
            training_id=event.training_id,
            required_plan_id=event.required_plan_id,
            required_training_id=event.required_training_id,
            public=event.public,
            opens_at=event.opens_at,
            closes_at=event.closes_at,
            start=event.starts_at,
            end=event.ends_at,
            sessions=[
                EventSessionRead(id=s.id, resource_id=s.resource_id, start=s.start_at, end=s.end_at)
                for s in sessions[event.id]
            ],
            status=event.status,
        )
        for event in events
    ]


def list_events(
    session: Session,
    actor: Actor | None,
    *,
    site_ids: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    include_cancelled: bool = True,
) -> Sequence[Event]:
    """Events touching [start, end): public ones for anyone, all of them for a signed-in member."""
    return repo.events_between(
        session,
        site_ids=site_ids,
        start=start.astimezone(UTC) if start else None,
        end=end.astimezone(UTC) if end else None,
        public_only=actor is None,
        include_cancelled=include_cancelled,
    )


def sessions_of(session: Session, event: Event) -> list[EventSession]:
    return repo.sessions_of(session, [event.id])[event.id]


def site_tz(session: Session, site_id: str) -> ZoneInfo:
    """The zone of the event's site."""
    return ZoneInfo(catalogue.get_site_or_raise(session, site_id).timezone)


def sessions_between(
    session: Session, site_id: str, start: datetime, end: datetime
) -> list[tuple[Event, EventSession]]:
    """The site's scheduled events' sessions touching [start, end), in time order (a kiosk's day)."""
    found = repo.events_between(
        session, site_ids=[site_id], start=start, end=end, public_only=False, include_cancelled=False
    )
    sittings = repo.sessions_of(session, [e.id for e in found])
    pairs = [
        (event, sitting)
        for event in found
        for sitting in sittings[event.id]
        if sitting.start_at < end and sitting.end_at > start
    ]
    return sorted(pairs, key=lambda pair: pair[1].start_at)
