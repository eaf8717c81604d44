"""A resource's queries of what it holds read the index of held bookings (SQLite does, PostgreSQL can):
a machine's tap and a day's schedule cost the same after years of bookings as on the first day;
listings read a range bounded by the longest booking, not the history before their window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from booking.bookings import repository as repo
from booking.models import LONGEST_BOOKING, LONGEST_BOOKING_MINUTES, Booking, BookingStatus, ResourceKind
from booking.spans import Span
from tests.factories import at, booking_row, fill_history, make_member, make_resource, make_site

INSTANT = at("2027-03-02 10:00")


@contextmanager
def _plans(session: Session) -> Iterator[list[str]]:
    """The query plan of each statement on the booking table run inside the block."""
    plans: list[str] = []
    engine = session.get_bind().engine
    postgresql = engine.dialect.name == "postgresql"

    def explain(_conn: Any, cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.startswith("SELECT") and "FROM booking" in statement:
            prefix = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
            rows = cursor.connection.execute(prefix + statement, parameters).fetchall()
            plans.append(" | ".join(str(row[-1]) for row in rows))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(engine, "before_cursor_execute", explain)


QUERIES: dict[str, Callable[[Session], object]] = {
    "booking_at": lambda s: repo.booking_at(s, "r", INSTANT, early=INSTANT),
    "active_between": lambda s: repo.active_between(s, "r", INSTANT, INSTANT),
    "upcoming_bookings": lambda s: repo.upcoming_bookings(s, "r", INSTANT),
    "member_spans": lambda s: repo.member_spans(s, "r", "m", Span(INSTANT, INSTANT)),
    # A card tap at a machine: the member's booking there now.
    "member_booking_at": lambda s: repo.member_booking_at(s, "r", "m", INSTANT, INSTANT),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_reads_the_index_of_held_bookings(session: Session, name: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Its planner weighs statistics: behind a long history, as in production.
        site = make_site(session)
        resource = make_resource(session, site, id="r")
        fill_history(session, resource, make_member(session), INSTANT, 20_000)
    with _plans(session) as plans:
        QUERIES[name](session)
    assert len(plans) == 1, plans
    assert "ix_booking_held" in plans[0], plans[0]


JOB_QUERIES: dict[str, Callable[[Session], object]] = {
    "due_for_no_show": lambda s: repo.due_for_no_show(s, INSTANT),
    "due_for_reminder": lambda s: repo.due_for_reminder(s, INSTANT, INSTANT),
}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", sorted(JOB_QUERIES))
def test_a_job_reads_its_oldest_due_bookings_in_order(session: Session, name: str) -> None:
    """The no-show and reminder jobs run every minute inside a write transaction: they read the due
    bookings of one status from the oldest, not every booking of that status sorted afterwards."""
    with _plans(session) as plans:
        JOB_QUERIES[name](session)
    assert len(plans) == 1, plans
    assert "ix_booking_status_start (status=? AND start_at" in plans[0], plans[0]
    assert "TEMP B-TREE" not in plans[0], plans[0]


LISTINGS: dict[str, Callable[[Session], object]] = {
    # A manager's day at a site (the dashboard, the bookings page) and a member's own listing.
    "site_day": lambda s: repo.list_bookings(
        s, site_ids=["s"], start=INSTANT, end=INSTANT + timedelta(days=1)
    ),
    "site_ahead": lambda s: repo.list_bookings(
        s, site_ids=["s"], start=INSTANT, statuses=[BookingStatus.pending]
    ),
    "member_day": lambda s: repo.list_bookings(
        s, member_id="m", start=INSTANT, end=INSTANT + timedelta(days=1)
    ),
    "member_pages": lambda s: repo.member_bookings_ending_after(s, "m", INSTANT),
    "member_feed": lambda s: repo.member_feed(s, "m", [BookingStatus.confirmed], INSTANT, 100),
    "check_in_candidates": lambda s: repo.check_in_candidates(s, "m", "s", INSTANT, INSTANT),
}


@pytest.mark.parametrize("name", sorted(LISTINGS))
def test_a_listing_reads_a_bounded_range_not_the_history_before_it(session: Session, name: str) -> None:
    """Bookings still running at a window's start began at most LONGEST_BOOKING before it: a listing
    from today reads that range of its index, not every booking ever made before today."""
    if session.get_bind().dialect.name == "postgresql":
        site = make_site(session, id="s")
        fill_history(session, make_resource(session, site), make_member(session), INSTANT, 20_000)
        with _plans(session) as plans:
            LISTINGS[name](session)
        assert len(plans) == 1, plans
        conditions = [line for line in plans[0].split(" | ") if "Index Cond" in line]
        assert any("start_at >" in line for line in conditions), plans[0]
        assert "Seq Scan on booking" not in plans[0], plans[0]
        return
    with _plans(session) as plans:
        LISTINGS[name](session)
    assert len(plans) == 1, plans
    searched = plans[0].split(" | ")[0]
    assert searched.startswith("SEARCH booking USING INDEX"), searched
    assert "start_at>?" in searched, searched  # the range begins near the window, not at the oldest


def test_a_listing_keeps_the_longest_booking_still_running_and_no_earlier_one(session: Session) -> None:
    site = make_site(session)
    room = make_resource(session, site, kind=ResourceKind.room, max_minutes=LONGEST_BOOKING_MINUTES)
    member = make_member(session)
    window = (at("2027-03-20 00:00"), at("2027-03-21 00:00"))

    def row(start: datetime, length: timedelta, status: BookingStatus = BookingStatus.confirmed) -> str:
        booking = Booking.model_validate(
            booking_row(room, member, start, start + length, INSTANT, status=status)
        )
        session.add(booking)
        session.flush()
        return booking.id

    # Ended just as the window opens; the longest there is, ending a minute into the window; one in
    # the window; one after it. Cancelled or not, a listing of every status shows what overlaps.
    row(window[0] - LONGEST_BOOKING - timedelta(days=1), LONGEST_BOOKING, BookingStatus.cancelled)
    longest = row(window[0] - LONGEST_BOOKING + timedelta(minutes=1), LONGEST_BOOKING)
    inside = row(window[0] + timedelta(hours=9), timedelta(hours=2))
    row(window[1], timedelta(hours=2))

    by_site = repo.list_bookings(session, site_ids=[site.id], start=window[0], end=window[1])
    by_member = repo.list_bookings(session, member_id=member.id, start=window[0], end=window[1])
    assert [b.id for b in by_site] == [longest, inside]
    assert [b.id for b in by_member] == [longest, inside]
    assert [b.id for b in repo.member_bookings_ending_after(session, member.id, window[0])][:2] == [
        longest,
        inside,
    ]
