"""Table-driven tests of the bookings' pure rules: the check-in window, the slot grid, releasing the
rest of a booking, who sees a booking, the grid's cells."""

from __future__ import annotations

from datetime import timedelta

import pytest

from booking.bookings import rules
from booking.bookings.rules import CellState
from booking.errors import InvalidRequest
from booking.members.actors import Actor, MemberInfo
from booking.models import Booking, BookingStatus, ResourceKind, Role
from booking.schemas import FreeSpan
from booking.spans import ClosureSpan, Span, zone
from tests.factories import at

HCM = zone("Asia/Ho_Chi_Minh")
BERLIN = zone("Europe/Berlin")
START, END = at("2027-03-01 10:00"), at("2027-03-01 11:00")
SPAN = "2027-03-01 10:00–11:00"


class TestCheckInWindow:
    @pytest.mark.parametrize(
        ("now", "open_"),
        [
            ("2027-03-01 09:44", False),
            ("2027-03-01 09:45", True),  # opens 15 min before the start
            ("2027-03-01 10:59", True),
            ("2027-03-01 11:00", False),  # closes at the end
        ],
    )
    def test_opens_before_the_start_and_closes_at_the_end(self, now: str, open_: bool) -> None:
        assert rules.check_in_is_open(START, END, at(now), 15) is open_

    @pytest.mark.parametrize(
        ("now", "message"),
        [
            ("2027-03-01 09:30", f"check-in for {SPAN} opens at 09:45, 15 min before the start"),
            ("2027-03-01 11:00", f"the booking {SPAN} has already ended"),
        ],
    )
    def test_refuses_outside_the_window_saying_when(self, now: str, message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_check_in_time(START, END, at(now), 15, HCM, SPAN)
        assert caught.value.detail == message

    def test_the_query_bound_is_the_same_window(self) -> None:
        now = at("2027-03-01 09:45")
        assert rules.latest_check_in_start(now, 15) == START
        assert rules.check_in_is_open(rules.latest_check_in_start(now, 15), END, now, 15)


class TestSlotGrid:
    @pytest.mark.parametrize(
        ("now", "ceil", "floor"),
        [
            ("2027-03-01 10:00", "2027-03-01 10:00", "2027-03-01 10:00"),
            ("2027-03-01 10:01", "2027-03-01 10:30", "2027-03-01 10:00"),
            ("2027-03-01 23:45", "2027-03-02 00:00", "2027-03-01 23:30"),
        ],
    )
    def test_ceil_and_floor_in_local_time(self, now: str, ceil: str, floor: str) -> None:
        assert rules.ceil_to_grid(at(now), HCM, 30) == at(ceil)
        assert rules.floor_to_grid(at(now), HCM, 30) == at(floor)

    def test_next_slot_has_the_shortest_bookable_length(self) -> None:
        assert rules.next_slot(at("2027-03-01 10:10"), HCM, 30, 60) == Span(
            at("2027-03-01 10:30"), at("2027-03-01 11:30")
        )

    def test_next_slot_lasts_its_minutes_across_a_dst_change(self) -> None:
        # Europe/Berlin springs forward at 02:00 on 28 March 2027: the slot still lasts 60 minutes.
        slot = rules.next_slot(at("2027-03-28 01:10", "Europe/Berlin"), BERLIN, 60, 60)
        assert slot.end - slot.start == timedelta(minutes=60)

    @pytest.mark.parametrize(
        ("now", "slot", "min_minutes", "span"),
        [
            ("2027-03-01 10:10", 30, 30, ("10:00", "10:30")),
            ("2027-03-01 10:10", 30, 60, ("10:00", "11:00")),
            ("2027-03-01 10:10", 30, 45, ("10:00", "11:00")),
        ],
    )
    def test_walk_in_books_the_slot_under_way(
        self, now: str, slot: int, min_minutes: int, span: tuple[str, str]
    ) -> None:
        got = rules.walk_in_span(at(now), HCM, slot, min_minutes)
        assert got == Span(at(f"2027-03-01 {span[0]}"), at(f"2027-03-01 {span[1]}"))


class TestRelease:
    def test_the_rest_after_the_slot_under_way_is_released(self) -> None:
        end = at("2027-03-01 13:00")
        assert rules.release_end(START, end, at("2027-03-01 11:10"), 30, SPAN) == at("2027-03-01 11:30")

    def test_nothing_is_left_in_the_last_slot(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.release_end(START, END, at("2027-03-01 10:40"), 30, SPAN)
        assert caught.value.detail == f"the booking {SPAN} is in its last slot; nothing is left to release"


def _actor(
    role: Role, *, member_id: str = "someone", managed: frozenset[str] = frozenset(), kiosk: str | None = None
) -> Actor:
    info = MemberInfo(member_id, "x@example.org", "X", role, None, None, "vi", kiosk, 1, True)
    return Actor(member=info, managed_sites=managed)


class TestCanSee:
    @pytest.mark.parametrize(
        ("actor", "sees"),
        [
            (_actor(Role.member, member_id="lan"), True),
            (_actor(Role.member), False),
            (_actor(Role.manager, managed=frozenset({"biic"})), True),
            (_actor(Role.manager, managed=frozenset({"other"})), False),
            (_actor(Role.admin), True),
            (_actor(Role.kiosk, kiosk="biic"), True),
            (_actor(Role.kiosk, kiosk="other"), False),
        ],
    )
    def test_its_member_its_sites_managers_and_kiosk(self, actor: Actor, sees: bool) -> None:
        booking = Booking(
            id="b",
            resource_id="room",
            site_id="biic",
            member_id="lan",
            start_at=START,
            end_at=END,
            block_end=END,
            status=BookingStatus.confirmed,
            code="ABCDEFGH",
            created_at=START,
            updated_at=START,
        )
        assert rules.can_see(actor, booking) is sees


class TestAvailability:
    def test_refuses_an_empty_or_too_wide_question(self) -> None:
        with pytest.raises(InvalidRequest, match="the end must be after the start"):
            rules.check_availability_span(END, START)
        with pytest.raises(InvalidRequest, match="ask for at most 62 days of availability at once"):
            rules.check_availability_span(START, START + timedelta(days=63))

    def test_fewest_free_seats_over_a_span(self) -> None:
        free = [
            FreeSpan(start=at("2027-03-01 10:00"), end=at("2027-03-01 10:30"), seats=4),
            FreeSpan(start=at("2027-03-01 10:30"), end=at("2027-03-01 11:00"), seats=2),
        ]
        assert rules.fewest_free_seats(free, START, END) == 2
        assert rules.fewest_free_seats(free[:1], START, END) == 0  # no span covers 10:30–11:00


GRID_NOW = at("2027-03-01 09:00")
OPEN = (Span(at("2027-03-01 08:00"), at("2027-03-01 17:00")),)


class TestGridCell:
    @pytest.mark.parametrize(
        ("start", "closures", "free", "mine", "state"),
        [
            ("2027-03-01 07:00", [], [], [], CellState.closed),  # before opening
            ("2027-03-01 12:00", [("11:00", "13:00")], [], [], CellState.closed),  # in a closure
            ("2027-03-01 08:00", [], [], [], CellState.past),
            ("2027-03-01 12:00", [], [], [("12:00", "13:00")], CellState.mine),
            ("2027-03-01 12:00", [], [("10:00", "14:00")], [], CellState.free),
            ("2027-03-01 12:00", [], [], [], CellState.taken),
            ("2027-03-01 09:30", [], [], [], CellState.closed),  # inside the lead time
        ],
    )
    def test_state(
        self,
        start: str,
        closures: list[tuple[str, str]],
        free: list[tuple[str, str]],
        mine: list[tuple[str, str]],
        state: CellState,
    ) -> None:
        def day(clock: str) -> str:
            return f"2027-03-01 {clock}"

        cell = rules.grid_cell(
            at(start),
            at(start) + timedelta(minutes=30),
            GRID_NOW,
            GRID_NOW + timedelta(hours=1),
            GRID_NOW + timedelta(days=14),
            OPEN,
            [ClosureSpan(at(day(a)), at(day(b)), "drill") for a, b in closures],
            [FreeSpan(start=at(day(a)), end=at(day(b))) for a, b in free],
            [Span(at(day(a)), at(day(b))) for a, b in mine],
            ResourceKind.room,
        )
        assert cell.state is state
