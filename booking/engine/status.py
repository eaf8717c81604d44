"""A booking's status as a pure table: the status a new booking starts in, the moves allowed from
each status, and why a refused move is refused.

    pending ──approve──► confirmed ──check_in──► checked_in ──complete──► completed
       │                     │
       └──reject──► rejected └──no_show──► no_show

    pending, confirmed, checked_in ──cancel (before the start)──► cancelled
                                   ──release (once it began)───► released
    pending, confirmed ──move (before the start)──► pending (awaits approval again) or confirmed

Every change of a booking's status goes through `transition`; asking for a move already made (a
second check-in, a second cancel) changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from booking.errors import InvalidRequest
from booking.messages import Message, Term, Value, message
from booking.models import ACTIVE_STATUSES, BookingStatus

S = BookingStatus


class Move(enum.StrEnum):
    approve = "approve"
    reject = "reject"
    check_in = "check_in"
    cancel = "cancel"
    release = "release"
    no_show = "no_show"
    complete = "complete"
    move = "move"


TRANSITIONS: Mapping[tuple[BookingStatus, Move], BookingStatus] = {
    (S.pending, Move.approve): S.confirmed,
    (S.pending, Move.reject): S.rejected,
    (S.confirmed, Move.check_in): S.checked_in,
    (S.confirmed, Move.no_show): S.no_show,
    (S.checked_in, Move.complete): S.completed,
    **{(status, Move.cancel): S.cancelled for status in ACTIVE_STATUSES},
    **{(status, Move.release): S.released for status in ACTIVE_STATUSES},
    # Moving keeps the status; `moved_status` says when the new slot needs a manager's approval again.
    (S.pending, Move.move): S.pending,
    (S.confirmed, Move.move): S.confirmed,
}
# Moves already made: asking for them again leaves the booking as it is.
SETTLED: frozenset[tuple[BookingStatus, Move]] = frozenset(
    {
        (S.checked_in, Move.check_in),
        (S.cancelled, Move.cancel),
        (S.released, Move.cancel),
        (S.cancelled, Move.release),
        (S.released, Move.release),
    }
)


def initial_status(requires_approval: bool, by_manager: bool) -> BookingStatus:
    """A new booking awaits a manager where the resource asks for approval, unless a manager made it."""
    return S.pending if requires_approval and not by_manager else S.confirmed


def moved_status(requires_approval: bool, by_manager: bool) -> BookingStatus:
    """A moved booking is a new request for its new slot: it awaits approval where a new one would."""
    return initial_status(requires_approval, by_manager)


def can_move(status: BookingStatus, move: Move) -> bool:
    """Whether the move changes a booking in this status."""
    return (status, move) in TRANSITIONS


def transition(status: BookingStatus, move: Move, span: Value) -> BookingStatus:
    """The status after the move (the same one when the move was already made), or InvalidRequest
    saying why a booking in this status cannot make it; `span` names the booking in the sentence."""
    if (status, move) in SETTLED:
        return status
    after = TRANSITIONS.get((status, move))
    if after is None:
        raise InvalidRequest(_why_not(status, move, span))
    return after


def _why_not(status: BookingStatus, move: Move, span: Value) -> Message:
    state = Term(status.value)
    if move in (Move.approve, Move.reject):
        return message("the booking is {status}, not awaiting a decision", status=state)
    if move is Move.check_in:
        if status is S.pending:
            return message("the booking {span} still awaits a manager's approval", span=span)
        return message("the booking {span} is {status}; it cannot be checked in", span=span, status=state)
    if move in (Move.cancel, Move.release):
        return message("the booking {span} is {status} and cannot be cancelled", span=span, status=state)
    if move is Move.move:
        return message(
            "the booking {span} is {status}; only a booking that has not begun can be moved",
            span=span,
            status=state,
        )
    if move is Move.no_show:
        return message(
            "the booking {span} is {status}; only a confirmed booking can be a no-show",
            span=span,
            status=state,
        )
    return message(
        "the booking {span} is {status}; only a checked-in booking completes", span=span, status=state
    )
