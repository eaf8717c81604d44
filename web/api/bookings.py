"""Bookings: create (one slot or a series), list, read, cancel, check in, approve; the waitlist."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from booking import idempotency
from booking.bookings import changes
from booking.bookings import service as bookings
from booking.members.actors import Actor
from booking.models import BookingStatus
from booking.schemas import (
    BookingCreate,
    BookingRead,
    BookingUpdate,
    DecisionCreate,
    SeriesChangeRead,
    SeriesRead,
    SeriesUpdate,
    WaitlistCreate,
    WaitlistRead,
    When,
)
from booking.series import service as series
from booking.sql import database_of_engine
from booking.waitlist import service as waitlist
from web import routes
from web.deps import (
    ActorDep,
    NowDep,
    SessionDep,
    SettingsDep,
    bearer_actor,
    group_writer,
    read_session,
    write_session,
)
from web.writer import GroupWriter

router = APIRouter(prefix="/api/v1", tags=["bookings"])


async def _create_booking_lean(request: Request) -> Response | None:
    """POST /bookings as nearly every call comes: JSON, the bearer token of a member in good standing
    (found in the actor cache, or read into it), a body that validates. Answered without FastAPI's
    per-call work (the route's six dependencies resolved, each parameter checked: half a millisecond,
    half the booking's own checks). None for anything else: the full route then answers, and words
    each refusal, as always.
    """
    if not request.headers.get("content-type", "").startswith("application/json"):
        return None
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        return None
    actor = await bearer_actor(request)
    if actor is None:
        return None
    try:
        data = BookingCreate.model_validate(json.loads(await request.body()))
    except ValueError:  # not JSON, or not a booking (pydantic's ValidationError is a ValueError)
        return None
    writer = group_writer(request)
    # SQLite: committed with the worker's next batch; PostgreSQL: its round trips shared with the
    # batch's other bookings (web/writer.py). A repeated key is answered by the route below there.
    if writer is not None and not data.rrule and (key is None or isinstance(writer, GroupWriter)):
        request.state.actor = actor  # the error handler words a refusal in the member's language
        now = request.app.state.clock()
        database = database_of_engine(writer.engine)
        if key is not None and isinstance(writer, GroupWriter):
            if bookings.needs_loading(database, actor, data):
                await run_in_threadpool(_load_for_booking, request, actor, data, now)
            outcome = await writer.run(
                lambda session: idempotency.book_idempotent(session, actor, data, now, key)
            )
            return _created(outcome)
        # Drafted before the batch (its rules, its row, its words), on the event loop when the
        # catalogue's snapshots hold all it reads: the batch holds the write slot only for its
        # statements. The answer is written once the batch's COMMIT is done, out of the write lock.
        if bookings.needs_loading(database, actor, data):
            drafted = await run_in_threadpool(_draft, request, actor, data, now)
        else:
            with read_session(request) as cached:  # not used to read: the snapshots are fresh
                drafted = bookings.draft(cached, actor, data, now)
        booking = await writer.run_steps(
            lambda session: bookings.write_steps(session, drafted), bookings.claim(drafted)
        )
        # The same bytes as JSONResponse makes of its model_dump, in a third of the time.
        answer = bookings.booking_read(booking).model_dump_json()
        return Response(answer, status_code=201, media_type="application/json")
    opener = write_session(request)
    if opener is None:
        return None
    request.state.actor = actor
    now = request.app.state.clock()
    # Closed here, in the event loop, as the session dependency closes it (web.deps.get_session).
    with opener as session:
        return await run_in_threadpool(_book, request, session, actor, data, now, key)


IDEMPOTENCY_KEY_MAX = 200


def _draft(request: Request, actor: Actor, data: BookingCreate, now: datetime) -> bookings.Draft:
    with read_session(request) as session:
        return bookings.draft(session, actor, data, now)


def _load_for_booking(request: Request, actor: Actor, data: BookingCreate, now: datetime) -> None:
    with read_session(request) as session:
        bookings.load_for_booking(session, actor, data, now)


@router.post(
    "/bookings",
    status_code=201,
    response_model=None,
    responses={201: {"model": BookingRead | SeriesRead, "description": "the booking, or the series"}},
)
@routes.lean(_create_booking_lean)
def create_booking(
    request: Request,
    data: BookingCreate,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    idempotency_key: Annotated[str | None, Header(max_length=IDEMPOTENCY_KEY_MAX)] = None,
) -> JSONResponse:
    """Book a slot, or with `rrule` a series; the same Idempotency-Key gives back the first result."""
    return _book(request, session, actor, data, now, idempotency_key)


def _book(
    request: Request, session: Session, actor: Actor, data: BookingCreate, now: datetime, key: str | None
) -> JSONResponse:
    # A series is expanded before the write transaction begins, in a session that only reads: rule
    # expansion holds no write slot. (A single booking, the common call, makes no second session.)
    occurrences = None
    if data.rrule:
        with read_session(request) as reader:
            occurrences = series.expand(reader, data, now)
    outcome = idempotency.book_idempotent(session, actor, data, now, key, occurrences)
    session.commit()
    return _created(outcome)


def _created(outcome: idempotency.BookOutcome) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=201, headers=headers)


@router.get("/bookings")
def list_bookings(
    session: SessionDep,
    actor: ActorDep,
    mine: bool = False,
    start: When | None = None,
    end: When | None = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    resource: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[list[BookingStatus] | None, Query()] = None,
) -> list[BookingRead]:
    """The member's bookings; a manager's sites' bookings unless `mine=true`."""
    found = bookings.list_bookings(
        session,
        actor,
        mine=mine,
        start=start,
        end=end,
        site_id=site,
        resource_id=resource,
        statuses=status,
    )
    return [bookings.booking_read(b, actor) for b in found]


@router.get("/bookings/{booking_id}")
def get_booking(booking_id: str, session: SessionDep, actor: ActorDep) -> BookingRead:
    """One booking (its member, the site's managers and kiosk)."""
    return bookings.booking_read(bookings.get_booking_or_raise(session, actor, booking_id), actor)


@router.patch("/bookings/{booking_id}")
def move_booking(
    booking_id: str, data: BookingUpdate, session: SessionDep, actor: ActorDep, now: NowDep
) -> BookingRead:
    """Move a booking that has not begun to another time or resource of the same kind, in one step:
    the old slot is given up only if the new one is won."""
    booking = changes.move(session, actor, booking_id, data, now)
    session.commit()
    return bookings.booking_read(booking)


@router.delete("/bookings/{booking_id}")
def cancel_booking(
    booking_id: str,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> BookingRead:
    """Cancel before the start, or release the rest of a booking under way; a manager's `reason` is
    told to the member."""
    booking = bookings.cancel(session, actor, booking_id, now, reason=reason)
    session.commit()
    return bookings.booking_read(booking)


@router.post("/bookings/{booking_id}/check-in")
def check_in(
    booking_id: str, session: SessionDep, actor: ActorDep, now: NowDep, settings: SettingsDep
) -> BookingRead:
    """Check in (its member, the site's managers, the site's kiosk)."""
    booking = bookings.check_in(
        session, actor, booking_id, now, check_in_opens_min=settings.check_in_opens_min
    )
    session.commit()
    return bookings.booking_read(booking, actor)


class CodeCheckIn(BaseModel):
    code: str = Field(min_length=4, max_length=16)


@router.post("/check-in")
def check_in_by_code(
    data: CodeCheckIn, session: SessionDep, actor: ActorDep, now: NowDep, settings: SettingsDep
) -> BookingRead:
    """Check in by the booking's code, as a kiosk does."""
    booking = bookings.check_in_by_code(
        session, actor, data.code, now, check_in_opens_min=settings.check_in_opens_min
    )
    session.commit()
    return bookings.booking_read(booking, actor)


@router.post("/bookings/{booking_id}/approve")
def approve(
    booking_id: str, session: SessionDep, actor: ActorDep, now: NowDep, data: DecisionCreate | None = None
) -> BookingRead:
    """A manager confirms a pending booking."""
    booking = bookings.approve(session, actor, booking_id, now, data.note if data else "")
    session.commit()
    return bookings.booking_read(booking)


@router.post("/bookings/{booking_id}/reject")
def reject(
    booking_id: str, session: SessionDep, actor: ActorDep, now: NowDep, data: DecisionCreate | None = None
) -> BookingRead:
    """A manager declines a pending booking."""
    booking = bookings.reject(session, actor, booking_id, now, data.note if data else "")
    session.commit()
    return bookings.booking_read(booking)


@router.get("/series/{series_id}")
def get_series(series_id: str, session: SessionDep, actor: ActorDep) -> list[BookingRead]:
    """The bookings of a series."""
    found = series.list_series_bookings(session, actor, series_id)
    return [bookings.booking_read(b) for b in found]


@router.patch("/series/{series_id}")
def move_series(
    series_id: str, data: SeriesUpdate, session: SessionDep, actor: ActorDep, now: NowDep
) -> SeriesChangeRead:
    """Move the occurrences of a series that have not begun to new times or another weekday."""
    change = series.move_series(session, actor, series_id, data, now)
    session.commit()
    return SeriesChangeRead(
        series_id=series_id,
        bookings=[bookings.booking_read(b) for b in change.moved],
        skipped=change.skipped,
    )


@router.delete("/series/{series_id}")
def cancel_series(series_id: str, session: SessionDep, actor: ActorDep, now: NowDep) -> list[BookingRead]:
    """Cancel every occurrence of the series that has not started yet."""
    cancelled = series.cancel_series(session, actor, series_id, now)
    session.commit()
    return [bookings.booking_read(b) for b in cancelled]


@router.post("/waitlist", status_code=201)
def join_waitlist(data: WaitlistCreate, session: SessionDep, actor: ActorDep, now: NowDep) -> WaitlistRead:
    """Wait for a taken slot: when it frees, the first eligible waiter is booked automatically."""
    entry = waitlist.join(session, actor, data, now)
    session.commit()
    return waitlist.waitlist_read(session, entry)


@router.get("/waitlist")
def my_waitlist(session: SessionDep, actor: ActorDep) -> list[WaitlistRead]:
    """The member's waitlist entries."""
    return [waitlist.waitlist_read(session, e) for e in waitlist.list_entries(session, actor)]


@router.delete("/waitlist/{entry_id}")
def leave_waitlist(entry_id: str, session: SessionDep, actor: ActorDep) -> WaitlistRead:
    """Stop waiting."""
    entry = waitlist.leave(session, actor, entry_id)
    session.commit()
    return waitlist.waitlist_read(session, entry)
