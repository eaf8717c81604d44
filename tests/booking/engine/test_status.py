"""The booking status table: every status against every move, the status it leads to, and the
sentence of a refused move."""

from __future__ import annotations

import pytest

from booking.engine.status import Move, can_move, initial_status, transition
from booking.errors import InvalidRequest
from booking.models import BookingStatus as S

SPAN = "2027-03-02 10:00–11:00"

# The whole table: (status, move) -> the status after it, or the sentence that refuses it.
# None marks a move already made: the booking stays as it is.
TABLE: dict[tuple[S, Move], S | str | None] = {
    (S.pending, Move.approve): S.confirmed,
    (S.pending, Move.reject): S.rejected,
    (S.pending, Move.check_in): f"the booking {SPAN} still awaits a manager's approval",
    (S.pending, Move.cancel): S.cancelled,
    (S.pending, Move.release): S.released,
    (S.pending, Move.no_show): f"the booking {SPAN} is pending; only a confirmed booking can be a no-show",
    (S.pending, Move.complete): f"the booking {SPAN} is pending; only a checked-in booking completes",
    (S.confirmed, Move.approve): "the booking is confirmed, not awaiting a decision",
    (S.confirmed, Move.reject): "the booking is confirmed, not awaiting a decision",
    (S.confirmed, Move.check_in): S.checked_in,
    (S.confirmed, Move.cancel): S.cancelled,
    (S.confirmed, Move.release): S.released,
    (S.confirmed, Move.no_show): S.no_show,
    (S.confirmed, Move.complete): f"the booking {SPAN} is confirmed; only a checked-in booking completes",
    (S.checked_in, Move.approve): "the booking is checked_in, not awaiting a decision",
    (S.checked_in, Move.reject): "the booking is checked_in, not awaiting a decision",
    (S.checked_in, Move.check_in): None,
    (S.checked_in, Move.cancel): S.cancelled,
    (S.checked_in, Move.release): S.released,
    (
        S.checked_in,
        Move.no_show,
    ): f"the booking {SPAN} is checked_in; only a confirmed booking can be a no-show",
    (S.checked_in, Move.complete): S.completed,
    (S.cancelled, Move.cancel): None,
    (S.cancelled, Move.release): None,
    (S.released, Move.cancel): None,
    (S.released, Move.release): None,
}
for _status in (S.completed, S.no_show, S.rejected):
    TABLE[(_status, Move.cancel)] = f"the booking {SPAN} is {_status.value} and cannot be cancelled"
    TABLE[(_status, Move.release)] = f"the booking {SPAN} is {_status.value} and cannot be cancelled"
for _status in (S.completed, S.cancelled, S.no_show, S.released, S.rejected):
    TABLE[(_status, Move.approve)] = f"the booking is {_status.value}, not awaiting a decision"
    TABLE[(_status, Move.reject)] = f"the booking is {_status.value}, not awaiting a decision"
    TABLE[(_status, Move.check_in)] = f"the booking {SPAN} is {_status.value}; it cannot be checked in"
    TABLE[(_status, Move.no_show)] = (
        f"the booking {SPAN} is {_status.value}; only a confirmed booking can be a no-show"
    )
    TABLE[(_status, Move.complete)] = (
        f"the booking {SPAN} is {_status.value}; only a checked-in booking completes"
    )
TABLE[(S.pending, Move.move)] = S.pending
TABLE[(S.confirmed, Move.move)] = S.confirmed
for _status in (S.checked_in, S.completed, S.cancelled, S.no_show, S.released, S.rejected):
    TABLE[(_status, Move.move)] = (
        f"the booking {SPAN} is {_status.value}; only a booking that has not begun can be moved"
    )


def test_the_table_covers_every_status_and_move() -> None:
    assert set(TABLE) == {(status, move) for status in S for move in Move}


class TestTransition:
    @pytest.mark.parametrize(("status", "move", "after"), [(s, m, a) for (s, m), a in TABLE.items()])
    def test_leads_to_its_status_or_says_why_not(self, status: S, move: Move, after: S | str | None) -> None:
        if after is None:
            assert transition(status, move, SPAN) is status
            assert not can_move(status, move)
        elif isinstance(after, S):
            assert transition(status, move, SPAN) is after
            assert can_move(status, move)
        else:
            with pytest.raises(InvalidRequest) as caught:
                transition(status, move, SPAN)
            assert caught.value.detail == after
            assert not can_move(status, move)


class TestInitialStatus:
    @pytest.mark.parametrize(
        ("requires_approval", "by_manager", "status"),
        [
            (False, False, S.confirmed),
            (True, False, S.pending),
            (True, True, S.confirmed),
            (False, True, S.confirmed),
        ],
    )
    def test_awaits_approval_only_where_asked_and_not_from_a_manager(
        self, requires_approval: bool, by_manager: bool, status: S
    ) -> None:
        assert initial_status(requires_approval, by_manager) is status
