"""Availability on a real database: free spans, free seats, from now on the slot grid."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.bookings.availability import availability
from booking.errors import InvalidRequest
from booking.models import (
    ResourceKind,
    Site,
)
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.factories import (
    actor,
    at,
    make_member,
    make_resource,
    make_site,
)


class TestAvailability:
    def test_free_spans_skip_bookings_with_buffers(self, session: Session) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "12:00"]]})
        cnc = make_resource(session, site, buffer_minutes=15, slot_minutes=15, min_minutes=15)
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(cnc.id, "2027-03-02 09:00", "2027-03-02 10:00"),
            NOW,
        )
        free = availability(session, cnc.id, at("2027-03-02 00:00"), at("2027-03-03 00:00"), NOW).free
        assert [(f.start, f.end) for f in free] == [
            (at("2027-03-02 08:00"), at("2027-03-02 08:45")),
            (at("2027-03-02 10:15"), at("2027-03-02 12:00")),
        ]

    def test_pool_reports_free_seats(self, session: Session) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "12:00"]]})
        desks = make_resource(session, site, kind=ResourceKind.desk_pool, capacity=4, quota_group=None)
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(desks.id, "2027-03-02 09:00", "2027-03-02 10:00", seats=4),
            NOW,
        )
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(desks.id, "2027-03-02 10:00", "2027-03-02 11:00", seats=1),
            NOW,
        )
        free = availability(session, desks.id, at("2027-03-02 00:00"), at("2027-03-03 00:00"), NOW).free
        assert [(f.start, f.end, f.seats) for f in free] == [
            (at("2027-03-02 08:00"), at("2027-03-02 09:00"), 4),
            (at("2027-03-02 10:00"), at("2027-03-02 11:00"), 3),
            (at("2027-03-02 11:00"), at("2027-03-02 12:00"), 4),
        ]

    def test_starts_from_now_on_the_slot_grid(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        free = availability(
            session, room.id, at("2027-03-01 00:00"), at("2027-03-02 00:00"), at("2027-03-01 09:07")
        ).free
        assert (free[0].start, free[-1].end) == (at("2027-03-01 09:30"), at("2027-03-01 21:00"))

    def test_too_wide_a_range(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        with pytest.raises(InvalidRequest, match="at most 62 days"):
            availability(session, room.id, at("2027-03-01 00:00"), at("2027-06-01 00:00"), NOW)
