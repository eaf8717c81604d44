"""The engine's guarded insert on a real database (SQLite and PostgreSQL): check-in code collisions
are told by the unique constraint's name, retried, and refused after five in a row."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlmodel import Session

from booking.engine import service as engine
from booking.errors import Conflict
from booking.models import Booking, LedgerEntry, Site
from tests.booking.helpers import ask, count_rows
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_plan, make_resource, quota
from tests.words import en_slot


def _codes(*codes: str) -> Callable[[], str]:
    drawn: Iterator[str] = iter(codes)
    return lambda: next(drawn)


class TestCheckInCodes:
    def test_a_taken_code_is_drawn_again(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site, name="Laser 1")
        first = engine.book_one(
            session,
            engine.load_target(session, actor(session, make_member(session)), laser.id, None, NOW),
            at("2027-03-02 10:00"),
            at("2027-03-02 11:00"),
            1,
            NOW,
            new_code=_codes("TAKEN222"),
        )
        target = engine.load_target(session, actor(session, make_member(session)), laser.id, None, NOW)
        second = engine.book_one(
            session,
            target,
            at("2027-03-02 12:00"),
            at("2027-03-02 13:00"),
            1,
            NOW,
            new_code=_codes(first.code, "FRESH333"),
        )
        assert second.code == "FRESH333"
        assert session.get(Booking, second.id) is second

    def test_five_taken_codes_in_a_row_refuse_the_booking_and_write_nothing(
        self, session: Session, site: Site
    ) -> None:
        laser = make_resource(session, site, name="Laser 1")
        member = make_member(session, plan=make_plan(session, quota(max_hours=10)))
        taken = engine.book_one(
            session,
            engine.load_target(session, actor(session, member), laser.id, None, NOW),
            at("2027-03-02 10:00"),
            at("2027-03-02 11:00"),
            1,
            NOW,
        )
        before = count_rows(session, Booking), count_rows(session, LedgerEntry)
        target = engine.load_target(session, actor(session, member), laser.id, None, NOW)
        request = ask(laser.id, "2027-03-02 12:00", "2027-03-02 13:00")
        with pytest.raises(Conflict) as caught:
            engine.book_one(session, target, request.start, request.end, 1, NOW, new_code=lambda: taken.code)
        assert caught.value.detail == (
            f"5 check-in codes in a row were already taken, so Laser 1 {en_slot('2027-03-02 12:00–13:00')} "
            "was not booked; please try again"
        )
        assert (count_rows(session, Booking), count_rows(session, LedgerEntry)) == before
