"""Table-driven tests of the engine's pure rules: a slot's times and seats, buffers, who holds a slot."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from booking.catalogue.rules import BookingRules
from booking.engine import rules
from booking.errors import Conflict, InvalidRequest
from booking.events.rules import LONGEST_SESSION
from booking.messages import Slot
from booking.models import LONGEST_BOOKING, LONGEST_BOOKING_MINUTES, ResourceKind
from booking.schemas import ResourceCreate
from booking.spans import overlaps, zone
from tests.factories import at
from tests.words import en_day, en_slot

MON = en_day("2027-03-01")
HCM = zone("Asia/Ho_Chi_Minh")
LASER = BookingRules(
    name="Laser 1", slot_minutes=30, min_minutes=30, max_minutes=180, lead_minutes=60, max_days_ahead=14
)
NOW = at("2027-03-01 09:00")  # a Monday
T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def _t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class TestTimes:
    @pytest.mark.parametrize(
        ("start", "end", "message"),
        [
            ("2027-03-01 11:00", "2027-03-01 11:00", "the end must be after the start"),
            (
                "2027-03-01 11:00",
                "2027-03-01 11:20",
                f"at least 30 min; {en_slot('2027-03-01 11:00–11:20')} is 20 min",
            ),
            ("2027-03-01 11:00", "2027-03-01 14:30", "at most 180 min at a time"),
            ("2027-03-01 11:10", "2027-03-01 11:40", "slots of 30 min"),
            ("2027-03-01 11:00", "2027-03-01 11:45", "slots of 30 min"),
            ("2027-03-01 08:00", "2027-03-01 08:30", "has already begun or passed"),
            ("2027-03-01 09:30", "2027-03-01 10:00", "at least 60 min ahead"),
            ("2027-03-16 09:30", "2027-03-16 10:00", "at most 14 days ahead"),
        ],
    )
    def test_refuses(self, start: str, end: str, message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_times(at(start), at(end), LASER, NOW, HCM)
        assert message in caught.value.detail

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("2027-03-01 10:00", "2027-03-01 10:30"),  # exactly the lead time ahead
            ("2027-03-01 10:00", "2027-03-01 13:00"),  # exactly the longest
            ("2027-03-15 08:30", "2027-03-15 09:00"),  # 14 days ahead, not further
        ],
    )
    def test_accepts_boundaries(self, start: str, end: str) -> None:
        rules.check_times(at(start), at(end), LASER, NOW, HCM)

    def test_no_booking_spans_more_than_the_longest_whatever_the_rules_say(self) -> None:
        # A resource's rules cannot say more (ResourceCreate), and the listings rely on the bound.
        lax = dataclasses.replace(LASER, max_minutes=LONGEST_BOOKING_MINUTES * 2, max_days_ahead=60)
        start = at("2027-03-02 08:00")
        rules.check_times(start, start + LONGEST_BOOKING, lax, NOW, HCM)
        with pytest.raises(InvalidRequest, match="at most 20,160 min at a time"):
            rules.check_times(start, start + LONGEST_BOOKING + timedelta(minutes=30), lax, NOW, HCM)
        with pytest.raises(ValidationError, match="less than or equal to 20160"):
            ResourceCreate(
                id="desk-1",
                site_id="hub",
                name="Desk",
                kind=ResourceKind.room,
                max_minutes=LONGEST_BOOKING_MINUTES + 30,
            )
        assert LONGEST_SESSION <= LONGEST_BOOKING  # an event's session books its room like a booking

    def test_naive_times_are_refused(self) -> None:
        with pytest.raises(InvalidRequest, match="time zone offset"):
            rules.check_times(datetime(2027, 3, 1, 10), datetime(2027, 3, 1, 11), LASER, NOW, HCM)  # noqa: DTZ001


class TestSeats:
    @pytest.mark.parametrize(
        ("seats", "capacity", "exclusive", "message"),
        [
            (0, 10, False, "at least 1"),
            (2, 1, True, "booked as a whole"),
            (11, 10, False, "has 10 seats; 11 were asked for"),
        ],
    )
    def test_seats(self, seats: int, capacity: int, exclusive: bool, message: str) -> None:
        with pytest.raises(InvalidRequest, match=message):
            rules.check_seats(seats, capacity, exclusive, "Desks")

    @pytest.mark.parametrize(
        ("in_use", "seats", "message"),
        [
            (
                8,
                3,
                f"Desks has 2 of 10 seats free at its busiest during 10:00–11:00 {MON}; 3 were asked for",
            ),
            (
                12,
                1,
                f"Desks has 0 of 10 seats free at its busiest during 10:00–11:00 {MON}; 1 were asked for",
            ),
        ],
    )
    def test_refuses_more_seats_than_are_free(self, in_use: int, seats: int, message: str) -> None:
        with pytest.raises(Conflict) as caught:
            rules.check_free_seats(
                in_use, seats, 10, "Desks", Slot(at("2027-03-01 10:00"), at("2027-03-01 11:00"), HCM.key)
            )
        assert caught.value.detail == message

    def test_accepts_the_last_free_seats(self) -> None:
        rules.check_free_seats(
            7, 3, 10, "Desks", Slot(at("2027-03-01 10:00"), at("2027-03-01 11:00"), HCM.key)
        )


class TestBuffers:
    @pytest.mark.parametrize(
        ("existing", "new", "buffer", "clash"),
        [
            ((0, 60), (60, 120), 0, False),
            ((0, 60), (60, 120), 15, True),  # right after, within the buffer
            ((0, 60), (75, 120), 15, False),  # exactly the buffer apart
            ((60, 120), (0, 60), 15, True),  # right before, within the buffer
            ((60, 120), (0, 45), 15, False),
        ],
    )
    def test_buffers_keep_bookings_apart(
        self, existing: tuple[int, int], new: tuple[int, int], buffer: int, clash: bool
    ) -> None:
        a_end = rules.block_end(_t(existing[1]), buffer)
        b_end = rules.block_end(_t(new[1]), buffer)
        assert overlaps(_t(existing[0]), a_end, _t(new[0]), b_end) is clash


class TestTakenMessage:
    @pytest.mark.parametrize(
        ("holder", "mine", "buffer", "message"),
        [
            (("10:00", "11:00"), False, 0, f"Laser 1 is booked 10:00–11:00 {MON}"),
            (("10:00", "11:00"), True, 0, f"you already booked Laser 1 10:00–11:00 {MON}"),
            (
                ("09:00", "10:00"),
                False,
                15,
                f"Laser 1 is booked 09:00–10:00 {MON}, and it needs 15 min between bookings",
            ),
            (("10:00", "11:00"), False, 15, f"Laser 1 is booked 10:00–11:00 {MON}"),
        ],
    )
    def test_names_the_holder_and_the_buffer(
        self, holder: tuple[str, str], mine: bool, buffer: int, message: str
    ) -> None:
        start, end = at("2027-03-01 10:00"), at("2027-03-01 11:00")
        holder_start, holder_end = at(f"2027-03-01 {holder[0]}"), at(f"2027-03-01 {holder[1]}")
        assert (
            rules.taken_message("Laser 1", buffer, start, end, holder_start, holder_end, mine, HCM).english()
            == message
        )
