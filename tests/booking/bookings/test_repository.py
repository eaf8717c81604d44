"""A resource's queries of what it holds read the index of held bookings (SQLite): a machine's tap and
a day's schedule cost the same after years of bookings as on the first day."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from booking.bookings import repository as repo
from booking.spans import Span
from tests.factories import at

INSTANT = at("2027-03-02 10:00")


@contextmanager
def _plans(session: Session) -> Iterator[list[str]]:
    """The query plan of each statement on the booking table run inside the block."""
    plans: list[str] = []
    engine = session.get_bind().engine

    def explain(_conn: Any, cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.startswith("SELECT") and "FROM booking" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_reads_the_index_of_held_bookings(session: Session, name: str) -> None:
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
