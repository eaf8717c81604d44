"""The engine's overlap queries: the holder they name, and that they read an index of the bookings still
held rather than the resource's whole history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session

from booking import sql
from booking.engine import repository as repo
from booking.models import Booking, BookingStatus, Member, Resource
from tests.conftest import NOW
from tests.factories import at, booking_row, fill_history, make_member, make_resource, make_site

START = at("2027-03-02 10:00")


def _held(
    session: Session, resource: Resource, member: Member, start: str, end: str, *, buffer_min: int = 0
) -> Booking:
    row = booking_row(
        resource, member, at(start), at(end), NOW, block_end=at(end) + timedelta(minutes=buffer_min)
    )
    booking = Booking.model_validate(row)
    session.add(booking)
    session.flush()
    return booking


class TestFirstExclusiveConflict:
    @pytest.mark.parametrize(
        ("start", "end", "holder"),
        [
            ("2027-03-02 09:30", "2027-03-02 12:00", "first"),  # starts inside the first
            ("2027-03-02 10:15", "2027-03-02 11:00", "first"),  # inside the first's buffer
            ("2027-03-02 10:45", "2027-03-02 12:00", "second"),
            ("2027-03-02 08:00", "2027-03-02 12:00", "first"),  # wraps both: the earliest is named
            ("2027-03-02 08:00", "2027-03-02 09:00", None),  # ends where the first starts
            ("2027-03-02 10:30", "2027-03-02 10:45", "second"),
            ("2027-03-02 11:30", "2027-03-02 13:00", None),  # starts where the second ends
        ],
    )
    def test_names_the_earliest_holder(
        self, session: Session, start: str, end: str, holder: str | None
    ) -> None:
        resource = make_resource(session, make_site(session))
        member = make_member(session)
        for day in range(1, 30):  # earlier bookings of the resource, and a cancelled one in the way
            _held(session, resource, member, f"2027-01-{day:02d} 10:00", f"2027-01-{day:02d} 11:00")
        cancelled = _held(session, resource, member, "2027-03-02 08:30", "2027-03-02 10:40")
        cancelled.status = BookingStatus.cancelled
        session.flush()
        held = {
            "first": _held(session, resource, member, "2027-03-02 09:00", "2027-03-02 10:00", buffer_min=30),
            "second": _held(session, resource, member, "2027-03-02 10:30", "2027-03-02 11:30"),
        }
        found = repo.first_exclusive_conflict(session, resource.id, at(start), at(end))
        assert (found.id if found else None) == (held[holder].id if holder else None)


def _plan(session: Session, sql: str, parameters: int) -> str:
    rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple([None] * parameters))
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
class TestHistoryFree:
    """SQLite: every overlap check reads `ix_booking_held` (PostgreSQL's exclusion constraint has its
    own index, and its planner weighs the statistics)."""

    def test_the_checks_read_the_index_of_held_bookings(self, session: Session) -> None:
        dialect = session.get_bind().dialect
        conflict = repo._FIRST_CONFLICT._for(dialect)
        touching = repo._TOUCHING._for(dialect)
        trigger_sql = (
            session.connection()
            .exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'booking_no_overlap_insert'")
            .scalar_one()
        )
        probe = re.search(r"WHERE \((SELECT .*?LIMIT 1)\) > NEW\.start_at", trigger_sql)
        assert probe is not None, trigger_sql
        probe_sql = re.sub(r"NEW\.\w+", "?", probe.group(1))
        plans = [
            _plan(session, conflict.sql, len(conflict.names)),
            _plan(session, touching.sql, len(touching.names)),
            _plan(session, probe_sql, probe_sql.count("?")),
        ]
        for plan in plans:
            assert "ix_booking_held" in plan, plan
            assert "SCAN booking" not in plan, plan
        # Both probes of the conflict query seek the index; neither sorts.
        assert plans[0].count("ix_booking_held") == 2, plans[0]
        assert "TEMP B-TREE" not in plans[0], plans[0]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_reads_the_index_of_held_bookings_behind_a_long_history(session: Session) -> None:
    """PostgreSQL uses a partial index only for a query whose conditions imply the index's own (the
    overlap checks name the active statuses so that they do), and then only if its statistics make it
    the cheaper read: behind 20,000 ended bookings, each probe reads `ix_booking_held`."""
    site = make_site(session)
    resource = make_resource(session, site)
    member = make_member(session)
    _held(session, resource, member, "2027-03-02 10:00", "2027-03-02 11:00")
    fill_history(session, resource, member, START, 20_000)
    dialect = session.get_bind().dialect
    params = {"resource_id": resource.id, "start": START, "end": START + timedelta(hours=1)}
    for statement in (repo._FIRST_CONFLICT, repo._TOUCHING):
        compiled = statement._for(dialect)
        values = sql._bound(compiled, params)
        rows = session.connection().exec_driver_sql("EXPLAIN " + compiled.sql, values).all()
        plan = " | ".join(row[0] for row in rows)
        assert "ix_booking_held" in plan, plan
        assert "ix_booking_resource_start" not in plan, plan
        assert "Seq Scan" not in plan, plan


class TestInsertedRows:
    @pytest.mark.parametrize("detached", [False, True])
    def test_a_new_booking_joins_the_session_unless_its_rows_stay_detached(
        self, session: Session, detached: bool
    ) -> None:
        resource, member = make_resource(session, make_site(session)), make_member(session)
        if detached:
            session.info[sql.ROWS_STAY_DETACHED] = True
        booking = sql.built(Booking, booking_row(resource, member, START, START + timedelta(hours=1), NOW))

        repo.ask_insert_booking(session, booking)()

        assert (booking in session) is not detached
        session.expunge_all()
        stored = session.get(Booking, booking.id)
        assert stored is not None  # written either way
        assert (stored.code, stored.start_at) == (booking.code, START)
