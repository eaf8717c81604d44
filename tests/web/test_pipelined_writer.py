"""Bookings on PostgreSQL written many to a transaction, their round trips shared (web/writer.py).

The writer is driven here as the booking route drives it: drafted bookings handed to
`run_steps` together, on a real PostgreSQL, so that one batch takes them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from booking.bookings import service as bookings
from booking.engine import service as engine_service
from booking.errors import Conflict, QuotaExceeded
from booking.models import Booking, LedgerEntry, Member, Notification, Resource, ResourceKind
from tests.booking.helpers import ask
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_plan, make_resource, make_site, quota
from tests.servers import running_server
from web import pipelining
from web.app import create_app
from web.settings import Settings
from web.writer import PipelinedWriter

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
SLOT = ("2027-03-02 10:00", "2027-03-02 11:00")


def _writer(engine: Engine) -> PipelinedWriter:
    return PipelinedWriter(engine, engine_service.lock_claims)


def _draft(engine: Engine, member: Member, resource: Resource, start: str, end: str, **extra: Any) -> Any:
    with Session(engine) as session:
        return bookings.draft(session, actor(session, member), ask(resource.id, start, end, **extra), NOW)


def _together(*calls: tuple[PipelinedWriter, Any]) -> list[Any]:
    """Hand the drafted bookings to their writers at once; each one's booking, or what refused it."""

    async def main() -> list[Any]:
        return await _hand_in(*calls)

    return asyncio.run(main())


def _hand_in(*calls: tuple[PipelinedWriter, Any]) -> asyncio.Future[list[Any]]:
    """The drafted bookings handed to their writers at once (in a running event loop): their
    outcomes, each a booking or what refused it, when awaited."""
    return asyncio.gather(
        *(writer.run_steps(_steps(drafted), bookings.claim(drafted)) for writer, drafted in calls),
        return_exceptions=True,
    )


@contextlib.contextmanager
def _members_held(engine: Engine, *members: Member) -> Iterator[tuple[sa.Connection, sa.RootTransaction]]:
    """A transaction of the test's that holds the members' rows locked until it commits."""
    with engine.connect() as holder:
        held = holder.begin()
        holder.execute(
            sa.text("SELECT id FROM member WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
            {"ids": [member.id for member in members]},
        )
        yield holder, held


def _steps(drafted: Any) -> Callable[[Session], Any]:
    return lambda session: bookings.write_steps(session, drafted)


def _count(engine: Engine, model: type[Any], *where: Any) -> int:
    with Session(engine) as session:
        return len(session.exec(select(model).where(*where)).all())


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a pipelined connection went to the server and back (each pipeline it sent)."""
    sent = [0]
    pipeline = pipelining.PipelinedConnection.pipeline

    def counted(self: pipelining.PipelinedConnection) -> Any:
        sent[0] += 1
        return pipeline(self)

    monkeypatch.setattr(pipelining.PipelinedConnection, "pipeline", counted)
    return sent


def _world(engine: Engine, members: int, rooms: int, **room: Any) -> tuple[list[Member], list[Resource]]:
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session)
        made = [make_resource(session, site, name=f"Phòng {i}", **room) for i in range(rooms)]
        people = [make_member(session) for _ in range(members)]
        session.commit()
    return people, made


def test_bookings_handed_in_together_take_two_round_trips_and_one_commit(
    fresh_engine: Engine, round_trips: list[int]
) -> None:
    people, rooms = _world(fresh_engine, 4, 4)
    drafts = [_draft(fresh_engine, m, r, *SLOT) for m, r in zip(people, rooms, strict=True)]
    writer = _writer(fresh_engine)
    # A first booking, as the process's first: its caches (the webhooks it tells) are read meanwhile.
    _together((writer, _draft(fresh_engine, people[0], rooms[0], "2027-03-03 10:00", "2027-03-03 11:00")))
    round_trips[0] = 0

    booked = _together(*[(writer, drafted) for drafted in drafts])

    assert [b.id for b in booked] == [d.booking.id for d in drafts]
    assert writer.batches == 2
    assert writer.alone == 0
    # Locks and questions; INSERTs, ledger entries, notices and e-mails with the COMMIT. One at a time,
    # the four would have taken twelve.
    assert round_trips[0] == 2
    ids = [b.id for b in booked]
    assert _count(fresh_engine, Booking, sa.column("id").in_(ids)) == 4
    assert _count(fresh_engine, LedgerEntry, sa.column("booking_id").in_(ids)) == 4
    assert _count(fresh_engine, Notification, sa.column("booking_id").in_(ids)) == 4


def test_a_booking_refused_in_a_batch_is_refused_alone(fresh_engine: Engine) -> None:
    people, rooms = _world(fresh_engine, 3, 2)
    taken = _draft(fresh_engine, people[0], rooms[0], *SLOT)
    assert isinstance(_together((_writer(fresh_engine), taken))[0], Booking)
    writer = _writer(fresh_engine)
    late = _draft(fresh_engine, people[1], rooms[0], *SLOT)  # drafted before it was taken: no
    fine = _draft(fresh_engine, people[2], rooms[1], *SLOT)

    refused, booked = _together((writer, late), (writer, fine))

    assert isinstance(refused, Conflict)
    assert isinstance(booked, Booking)
    assert writer.batches == 1
    assert writer.alone == 0
    assert _count(fresh_engine, Booking, Booking.member_id == people[1].id) == 0
    assert _count(fresh_engine, Booking, Booking.member_id == people[2].id) == 1


def test_seats_of_one_pool_asked_in_one_batch_are_counted_one_booking_after_the_other(
    fresh_engine: Engine,
) -> None:
    people, (pool,) = _world(fresh_engine, 2, 1, kind=ResourceKind.desk_pool, capacity=3, quota_group=None)
    first = _draft(fresh_engine, people[0], pool, *SLOT, seats=2)
    second = _draft(fresh_engine, people[1], pool, *SLOT, seats=2)
    writer = _writer(fresh_engine)

    booked, refused = _together((writer, first), (writer, second))

    # Asked together, each would have found three seats free; the second is asked after the first.
    assert isinstance(booked, Booking)
    assert isinstance(refused, Conflict)
    assert writer.batches == 1
    assert _count(fresh_engine, Booking, Booking.resource_id == pool.id) == 1


def test_one_members_bookings_in_one_batch_count_against_their_quota_one_after_the_other(
    fresh_engine: Engine,
) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        rooms = [make_resource(session, site, name=f"Laser {i}", quota_group="laser") for i in range(2)]
        member = make_member(session, plan=make_plan(session, quota("laser", max_bookings=1)))
        session.commit()
    drafts = [_draft(fresh_engine, member, room, *SLOT) for room in rooms]
    writer = _writer(fresh_engine)

    booked, refused = _together(*[(writer, drafted) for drafted in drafts])

    assert isinstance(booked, Booking)
    assert isinstance(refused, QuotaExceeded)
    assert writer.batches == 1
    assert _count(fresh_engine, Booking, Booking.member_id == member.id) == 1


def test_an_error_of_the_database_has_each_booking_written_alone(fresh_engine: Engine) -> None:
    people, rooms = _world(fresh_engine, 3, 3)
    drafts = [_draft(fresh_engine, m, r, *SLOT) for m, r in zip(people, rooms, strict=True)]
    with fresh_engine.begin() as connection:  # the second member's account is gone since the draft
        connection.execute(sa.text("DELETE FROM member WHERE id = :id"), {"id": people[1].id})
    writer = _writer(fresh_engine)

    first, failed, third = _together(*[(writer, drafted) for drafted in drafts])

    # The batch's INSERT of the second booking breaks its foreign key, and with it the transaction:
    # rolled back, then each booking written alone; the other two stand.
    assert writer.batches == 0
    assert writer.alone == 3
    assert isinstance(first, Booking)
    assert isinstance(third, Booking)
    assert isinstance(failed, sa.exc.IntegrityError)
    assert _count(fresh_engine, Booking, sa.column("resource_id").in_([r.id for r in rooms])) == 2


def test_a_check_in_code_drawn_twice_in_a_batch_fails_its_commit_and_each_booking_is_written_alone(
    fresh_engine: Engine,
) -> None:
    """A batch's INSERTs go out with its COMMIT, unread: the second row's code is refused by the
    database there, the transaction with it; each booking is then written alone, and the second
    draws a new code and is told that one."""
    people, rooms = _world(fresh_engine, 2, 2)
    first, second = (_draft(fresh_engine, m, r, *SLOT) for m, r in zip(people, rooms, strict=True))
    second.booking.code = first.booking.code
    writer = _writer(fresh_engine)

    outcomes = _together((writer, first), (writer, second))

    assert all(isinstance(outcome, Booking) for outcome in outcomes), outcomes
    assert (writer.batches, writer.alone) == (0, 2)
    with Session(fresh_engine) as session:
        ids = [first.booking.id, second.booking.id]
        codes = {b.id: b.code for b in session.exec(select(Booking).where(sa.column("id").in_(ids)))}
        told = session.exec(select(Notification).where(Notification.booking_id == second.booking.id)).one()
    assert codes[first.booking.id] == first.code
    assert codes[second.booking.id] != first.code
    assert codes[second.booking.id] in told.message
    assert _count(fresh_engine, LedgerEntry, LedgerEntry.booking_id == second.booking.id) == 1


def test_batches_of_two_workers_lock_in_one_order_and_never_deadlock(fresh_engine: Engine) -> None:
    """Worker X writes (member 1, room B) then (member 2, room A); worker Y (member 3, room A) then
    (member 4, room B). A transaction holds members 2 and 4 until both batches wait for it. Had each
    booking taken its own locks in turn, X would hold room B and Y room A, each then waiting for the
    other: a deadlock, which PostgreSQL breaks after a second by failing one batch. Locked in one
    order (all members, then all rooms, by id), Y waits for X, and both batches commit."""
    people, rooms = _world(fresh_engine, 4, 2)
    room_a, room_b = sorted(rooms, key=lambda r: r.id)
    x, y = _writer(fresh_engine), _writer(fresh_engine)
    calls = [
        (x, _draft(fresh_engine, people[0], room_b, *SLOT)),
        (x, _draft(fresh_engine, people[1], room_a, "2027-03-02 12:00", "2027-03-02 13:00")),
        (y, _draft(fresh_engine, people[2], room_a, "2027-03-02 14:00", "2027-03-02 15:00")),
        (y, _draft(fresh_engine, people[3], room_b, "2027-03-02 16:00", "2027-03-02 17:00")),
    ]
    with _members_held(fresh_engine, people[1], people[3]) as (_holder, held):

        async def main() -> list[Any]:
            writing = _hand_in(*calls)
            await asyncio.to_thread(_wait_for_lock_waiters, fresh_engine, 2)
            held.commit()
            return await writing

        outcomes = asyncio.run(main())

    assert all(isinstance(outcome, Booking) for outcome in outcomes), outcomes
    assert (x.batches, y.batches) == (1, 1)
    assert (x.alone, y.alone) == (0, 0)


def _wait_for_lock_waiters(engine: Engine, count: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            connection.rollback()
            if waiting >= count:
                return
            time.sleep(0.02)
    raise AssertionError(f"{count} transactions never waited for the held rows")


def test_a_refusal_after_a_booking_wrote_rolls_the_batch_back_and_keeps_none_of_its_rows(
    fresh_engine: Engine,
) -> None:
    people, rooms = _world(fresh_engine, 2, 2)
    regretted, fine = (_draft(fresh_engine, m, r, *SLOT) for m, r in zip(people, rooms, strict=True))
    writer = _writer(fresh_engine)

    def write_then_refuse(session: Session) -> Any:
        yield from bookings.write_steps(session, regretted)
        raise Conflict("refused once its rows were written")

    async def main() -> list[Any]:
        outcomes = await asyncio.gather(
            writer.run_steps(write_then_refuse, bookings.claim(regretted)),
            writer.run_steps(_steps(fine), bookings.claim(fine)),
            return_exceptions=True,
        )
        return list(outcomes)

    refused, booked = asyncio.run(main())

    assert isinstance(refused, Conflict)
    assert isinstance(booked, Booking)
    assert (writer.batches, writer.alone) == (0, 2)
    assert _count(fresh_engine, Booking, Booking.id == regretted.booking.id) == 0
    assert _count(fresh_engine, LedgerEntry, LedgerEntry.booking_id == regretted.booking.id) == 0
    assert _count(fresh_engine, Booking, Booking.id == fine.booking.id) == 1


def test_a_real_server_books_through_it_and_words_a_refusal_in_vietnamese(fresh_engine: Engine) -> None:
    people, (room,) = _world(fresh_engine, 2, 1)
    settings = Settings(environment="test", secret_key="x" * 40, database_url="sqlite://")
    app = create_app(settings, engine=fresh_engine, clock=FakeClock(NOW))
    writer: PipelinedWriter = app.state.group_writer
    body = {"resource_id": room.id, "start": at(SLOT[0]).isoformat(), "end": at(SLOT[1]).isoformat()}
    with running_server(app) as base:
        headers = []
        for member in people:
            token = app.state.tokens.issue(member.id, member.token_version)
            said = {"Authorization": f"Bearer {token}", "Accept-Language": "vi"}
            assert httpx.get(f"{base}/api/v1/me", headers=said).status_code == 200  # known to the cache
            headers.append(said)
        booked = httpx.post(f"{base}/api/v1/bookings", json=body, headers=headers[0], timeout=30)
        refused = httpx.post(f"{base}/api/v1/bookings", json=body, headers=headers[1], timeout=30)

    assert booked.status_code == 201
    assert booked.json()["member"] == people[0].id
    assert (writer.batches, writer.alone) == (2, 0)  # each went through the writer, and was judged there
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"{room.name} đã có người đặt 10:00–11:00 thứ Ba 02/03/2027"
    assert _count(fresh_engine, Booking, Booking.resource_id == room.id) == 1


def test_a_batch_whose_connection_is_killed_is_written_again_alone(fresh_engine: Engine) -> None:
    """The batch's server process is terminated while the batch waits for a row lock (as in a
    database restart): the batch is lost with its connection, and each of its bookings is written
    again, alone, on a new one; none is lost and none is written twice."""
    people, rooms = _world(fresh_engine, 2, 2)
    drafts = [_draft(fresh_engine, m, r, *SLOT) for m, r in zip(people, rooms, strict=True)]
    writer = _writer(fresh_engine)
    with _members_held(fresh_engine, people[0]) as (holder, held):

        async def main() -> list[Any]:
            writing = _hand_in(*[(writer, drafted) for drafted in drafts])
            await asyncio.to_thread(_wait_for_lock_waiters, fresh_engine, 1)
            killed = holder.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalars()
            assert list(killed) == [True]
            held.commit()
            return await writing

        outcomes = asyncio.run(main())

    assert all(isinstance(outcome, Booking) for outcome in outcomes), outcomes
    assert (writer.batches, writer.alone) == (0, 2)
    ids = [d.booking.id for d in drafts]
    assert _count(fresh_engine, Booking, sa.column("id").in_(ids)) == 2
    assert _count(fresh_engine, LedgerEntry, sa.column("booking_id").in_(ids)) == 2
