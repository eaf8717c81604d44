"""Events: announce, list, read and cancel; register and cancel a registration; take attendance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from booking.events import attendance
from booking.events import reading as events_reading
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.schemas import (
    AttendanceCreate,
    EventCreate,
    EventMessage,
    EventRead,
    EventUpdate,
    RegistrationCreate,
    RegistrationRead,
    When,
)
from web.deps import ActorDep, MaybeActorDep, NowDep, SessionDep
from web.i18n import accept_language as accept_language_of

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events")
def list_events(
    session: SessionDep,
    actor: MaybeActorDep,
    site: Annotated[list[str] | None, Query(max_length=64)] = None,
    start: When | None = None,
    end: When | None = None,
) -> list[EventRead]:
    """Events touching [start, end): public ones for anyone, all of them when signed in."""
    found = events_reading.list_events(session, actor, site_ids=site, start=start, end=end)
    return events_reading.event_reads(session, found)


@router.post("/events", status_code=201)
def create_event(data: EventCreate, session: SessionDep, actor: ActorDep, now: NowDep) -> EventRead:
    """Announce an event; every session books its room or space (409 naming a taken slot)."""
    event = events.create_event(session, actor, data, now)
    # Read inside the transaction: after the commit a new one would queue for SQLite's write slot
    # while the response still waits for a thread (see STYLE: nothing after the commit).
    read = events_reading.event_reads(session, [event])[0]
    session.commit()
    return read


@router.get("/events/{event_id}")
def get_event(event_id: str, session: SessionDep, actor: MaybeActorDep) -> EventRead:
    """One event (a members-only one needs a signed-in member)."""
    return events_reading.event_reads(session, [events_reading.get_event_or_raise(session, actor, event_id)])[
        0
    ]


@router.patch("/events/{event_id}")
def update_event(
    event_id: str, data: EventUpdate, session: SessionDep, actor: ActorDep, now: NowDep
) -> EventRead:
    """Change an event; a new list of sessions moves its room bookings (409 naming a taken slot, and
    nothing changes); registrants are told of new times."""
    event = events.update_event(session, actor, event_id, data, now)
    read = events_reading.event_reads(session, [event])[0]
    session.commit()
    return read


@router.post("/events/{event_id}/messages")
def message_registrants(
    event_id: str, data: EventMessage, session: SessionDep, actor: ActorDep, now: NowDep
) -> dict[str, int]:
    """Write to everyone registered or waiting (the site's managers)."""
    told = events.message_registrants(session, actor, event_id, data.text, now)
    session.commit()
    return {"told": told}


@router.delete("/events/{event_id}")
def cancel_event(event_id: str, session: SessionDep, actor: ActorDep, now: NowDep) -> EventRead:
    """Cancel the event: its rooms are released, its registrants told."""
    event = events.cancel_event(session, actor, event_id, now)
    read = events_reading.event_reads(session, [event])[0]
    session.commit()
    return read


@router.post("/events/{event_id}/registrations", status_code=201)
def register(
    event_id: str,
    session: SessionDep,
    actor: MaybeActorDep,
    now: NowDep,
    data: RegistrationCreate | None = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> RegistrationRead:
    """Register (a member, or a guest by name and e-mail for a public event): a seat while there are
    seats, then a place on the waitlist."""
    # A guest's confirmation e-mail is written in the language their client asks for.
    language = accept_language_of(accept_language, default="vi")
    registration = event_registrations.register(
        session, actor, event_id, data or RegistrationCreate(), now, language=language
    )
    read = event_registrations.registration_read(session, registration)
    session.commit()
    return read


@router.get("/events/{event_id}/registrations")
def list_registrations(event_id: str, session: SessionDep, actor: ActorDep) -> list[RegistrationRead]:
    """The event's registrations with their attendance (the site's managers)."""
    return event_registrations.list_registrations(session, actor, event_id)


@router.delete("/events/{event_id}/registrations/{registration_id}")
def cancel_registration(
    event_id: str, registration_id: str, session: SessionDep, actor: ActorDep, now: NowDep
) -> RegistrationRead:
    """Cancel a registration; a freed seat goes to the first waiter."""
    registration = event_registrations.cancel_registration(session, actor, event_id, registration_id, now)
    read = event_registrations.registration_read(session, registration)
    session.commit()
    return read


@router.post("/events/{event_id}/attendance")
def record_attendance(
    event_id: str, data: AttendanceCreate, session: SessionDep, actor: ActorDep, now: NowDep
) -> RegistrationRead:
    """Mark a registrant present (by code or registration id) at the session under way, or the one
    named; a training event grants its training to whoever completed it."""
    registration = attendance.record_attendance(session, actor, event_id, data, now)
    read = event_registrations.registration_read(session, registration)
    session.commit()
    return read
