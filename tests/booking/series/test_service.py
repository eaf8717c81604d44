"""Series on a real database: strict or skipping, cumulative quota, cancelled as a whole."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.errors import Conflict
from booking.models import (
    Booking,
    BookingStatus,
    QuotaPeriod,
    ResourceKind,
    Site,
)
from booking.series import service as series
from tests.booking.helpers import ask, count_rows
from tests.conftest import NOW
from tests.factories import (
    actor,
    at,
    make_member,
    make_plan,
    make_resource,
    quota,
)
from tests.words import en_slot


class TestSeries:
    def test_strict_series_lists_every_conflict(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        other = actor(session, make_member(session))
        bookings.book(session, other, ask(room.id, "2027-03-09 14:00", "2027-03-09 15:00"), NOW)
        bookings.book(session, other, ask(room.id, "2027-03-23 14:30", "2027-03-23 15:30"), NOW)
        before = count_rows(session, Booking)
        with pytest.raises(Conflict) as caught:
            series.book_series(
                session,
                actor(session, make_member(session)),
                ask(room.id, "2027-03-02 14:00", "2027-03-02 15:00", rrule="FREQ=WEEKLY;COUNT=4"),
                NOW,
            )
        assert caught.value.detail == (
            f"2 of 4 dates cannot be booked — {en_slot('2027-03-09 14:00–15:00')}: Room is booked {en_slot('2027-03-09 14:00–15:00')}; "  # noqa: E501
            f"{en_slot('2027-03-23 14:00–15:00')}: Room is booked {en_slot('2027-03-23 14:30–15:30')}"
        )
        assert count_rows(session, Booking) == before

    def test_skip_conflicts_books_the_rest(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        bookings.book(
            session,
            actor(session, make_member(session)),
            ask(room.id, "2027-03-09 14:00", "2027-03-09 15:00"),
            NOW,
        )
        who = actor(session, make_member(session))
        result = series.book_series(
            session,
            who,
            ask(
                room.id,
                "2027-03-02 14:00",
                "2027-03-02 15:00",
                rrule="FREQ=WEEKLY;COUNT=4",
                skip_conflicts=True,
            ),
            NOW,
        )
        assert [b.start_at for b in result.bookings] == [
            at("2027-03-02 14:00"),
            at("2027-03-16 14:00"),
            at("2027-03-23 14:00"),
        ]
        assert [(s.start, s.reason) for s in result.skipped] == [
            (at("2027-03-09 14:00"), f"Room is booked {en_slot('2027-03-09 14:00–15:00')}")
        ]
        assert {b.series_id for b in result.bookings} == {result.series.id}
        # One message for the whole series, not one per occurrence.
        from sqlmodel import select

        from booking.models import Notification

        told = session.exec(select(Notification).where(Notification.member_id == who.id)).all()
        assert [n.kind for n in told] == ["series_booked"]
        assert told[0].message.startswith("3 bookings of Room were made, the first")
        assert told[0].message.endswith("; dates skipped: 1")
        # Cancel one occurrence, then the whole series.
        bookings.cancel(session, who, result.bookings[1].id, NOW)
        cancelled = series.cancel_series(session, who, result.series.id, NOW)
        assert len(cancelled) == 2
        assert {b.status for b in series.list_series_bookings(session, who, result.series.id)} == {
            BookingStatus.cancelled
        }

    def test_series_quota_is_cumulative(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        who = actor(
            session,
            make_member(session, plan=make_plan(session, quota(period=QuotaPeriod.month, max_hours=3))),
        )
        result = series.book_series(
            session,
            who,
            ask(
                laser.id,
                "2027-03-02 14:00",
                "2027-03-02 15:00",
                rrule="FREQ=WEEKLY;COUNT=5",
                skip_conflicts=True,
            ),
            NOW,
        )
        assert len(result.bookings) == 3
        assert all("your plan allows 3 h of laser per month" in s.reason for s in result.skipped)
