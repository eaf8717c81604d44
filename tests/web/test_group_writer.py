"""Bookings on SQLite committed many to a transaction (web/writer.py), through a real server.

The write slot is held by the test while requests arrive, so that they queue and are then taken in
one batch: what a busy center does by itself, made certain here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from booking.models import Closure, Member, Resource
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import at, make_member, make_resource, make_site
from tests.servers import running_server
from web.app import create_app
from web.db import make_engine
from web.settings import Settings
from web.writer import GroupWriter, PipelinedWriter

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
DAY = "2027-03-02"


def _world(engine: Engine, members: int) -> tuple[list[Member], list[Resource]]:
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session)
        rooms = [make_resource(session, site, name=f"Phòng {i}") for i in range(3)]
        people = [make_member(session) for _ in range(members)]
        session.commit()
    return people, rooms


def _body(room: Resource, hour: int) -> dict[str, str]:
    start = at(f"{DAY} 08:00") + timedelta(hours=hour)
    end = start + timedelta(hours=1)
    return {"resource_id": room.id, "start": start.isoformat(), "end": end.isoformat()}


class _Center:
    """A real server on the engine, its members signed in and known to the actor cache."""

    def __init__(self, engine: Engine, members: list[Member]) -> None:
        settings = Settings(environment="test", secret_key="x" * 40, database_url="sqlite://")
        self.app = create_app(settings, engine=engine, clock=FakeClock(NOW))
        self.writer: GroupWriter = self.app.state.group_writer
        # A first booking of a fresh process is slow (statements compiled, the catalogue read): here
        # a batch takes whatever waits, whatever time it takes.
        self.writer.batch_s = 60
        self.headers = {
            m.id: {"Authorization": f"Bearer {self.app.state.tokens.issue(m.id, m.token_version)}"}
            for m in members
        }

    def greet(self, base: str) -> None:
        for headers in self.headers.values():
            assert httpx.get(f"{base}/api/v1/me", headers=headers).status_code == 200


def _while_slot_held(engine: Engine, writer: GroupWriter, calls: list[Callable[[], Any]]) -> list[Any]:
    """Make the calls at once while the test holds SQLite's write slot; let it go once all of them
    wait in the writer's queue, so that one batch takes them all."""
    connection = engine.connect()
    transaction = connection.begin()  # the write slot, and SQLite's write lock
    results: list[Any] = []
    try:
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            futures = [pool.submit(call) for call in calls]
            deadline = time.monotonic() + 30
            while writer.waiting < len(calls):
                assert time.monotonic() < deadline, f"only {writer.waiting} of {len(calls)} queued"
                time.sleep(0.01)
            transaction.commit()
            results = [future.result(timeout=60) for future in futures]
    finally:
        if transaction.is_active:
            transaction.rollback()
        connection.close()
    return results


def _stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT member_id, resource_id FROM booking")).all()
    return [(m, r) for m, r in rows]


def test_bookings_waiting_together_are_committed_in_one_transaction(fresh_engine: Engine) -> None:
    members, rooms = _world(fresh_engine, 6)
    center = _Center(fresh_engine, members)
    with running_server(center.app) as base:
        center.greet(base)
        before = center.writer.batches
        held_before = REGISTRY.get_sample_value("fablab_write_batch_bookings_sum") or 0.0
        center.writer.batch_max = 6

        def book(index: int) -> Callable[[], httpx.Response]:
            member = members[index]
            body = _body(rooms[index % 3], index)
            return lambda: httpx.post(f"{base}/api/v1/bookings", json=body, headers=center.headers[member.id])

        answers = _while_slot_held(fresh_engine, center.writer, [book(i) for i in range(6)])

    assert [a.status_code for a in answers] == [201] * 6
    assert center.writer.batches == before + 1
    # /metrics tells how many bookings each batch held the write lock for, and for how long.
    assert REGISTRY.get_sample_value("fablab_write_batch_bookings_sum") == held_before + 6
    assert (REGISTRY.get_sample_value("fablab_write_batch_seconds_count") or 0) >= 1
    stored = _stored(fresh_engine)
    assert sorted(stored) == sorted((m.id, rooms[i % 3].id) for i, m in enumerate(members))
    # Each answer is its own booking, as the full route would answer it.
    assert len({a.json()["id"] for a in answers}) == 6
    assert {a.json()["member"] for a in answers} == {m.id for m in members}


def test_a_refused_booking_of_a_batch_undoes_only_itself(fresh_engine: Engine) -> None:
    members, rooms = _world(fresh_engine, 4)
    center = _Center(fresh_engine, members)
    with running_server(center.app) as base:
        center.greet(base)

        def book(member: Member, body: dict[str, str], lang: str = "vi") -> Callable[[], httpx.Response]:
            headers = {**center.headers[member.id], "Accept-Language": lang}
            return lambda: httpx.post(f"{base}/api/v1/bookings", json=body, headers=headers)

        same_slot = _body(rooms[0], 2)
        answers = _while_slot_held(
            fresh_engine,
            center.writer,
            [
                book(members[0], _body(rooms[1], 1)),
                book(members[1], same_slot),
                book(members[2], same_slot),  # the same room and hour: one of the two is refused
                book(members[3], _body(rooms[2], 3)),
            ],
        )

    codes = [a.status_code for a in answers]
    assert codes[0] == 201
    assert codes[3] == 201
    assert sorted(codes[1:3]) == [201, 409]
    refused = answers[1] if codes[1] == 409 else answers[2]
    # Worded for a person, in Vietnamese, as the full route words it.
    assert refused.json()["detail"] == "Phòng 0 đã có người đặt 10:00–11:00 thứ Ba 02/03/2027"
    stored = _stored(fresh_engine)
    assert len(stored) == 3
    assert stored.count((members[1].id, rooms[0].id)) + stored.count((members[2].id, rooms[0].id)) == 1


def test_the_same_idempotency_key_twice_in_a_batch_books_once(fresh_engine: Engine) -> None:
    members, rooms = _world(fresh_engine, 1)
    center = _Center(fresh_engine, members)
    headers = {**center.headers[members[0].id], "Idempotency-Key": "order-77"}
    with running_server(center.app) as base:
        center.greet(base)

        def book() -> httpx.Response:
            return httpx.post(f"{base}/api/v1/bookings", json=_body(rooms[0], 4), headers=headers)

        answers = _while_slot_held(fresh_engine, center.writer, [book, book])

    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert len(_stored(fresh_engine)) == 1


def test_a_batch_whose_commit_fails_fails_every_booking_in_it(fresh_engine: Engine) -> None:
    _people, rooms = _world(fresh_engine, 2)
    writer = GroupWriter(fresh_engine)

    def good(session: Session) -> str:
        session.connection().exec_driver_sql(
            "UPDATE resource SET name = 'renamed' WHERE id = ?", (rooms[0].id,)
        )
        return "done"

    def poison(session: Session) -> str:
        # A foreign key checked only at COMMIT: the statement passes, the COMMIT is refused.
        connection = session.connection()
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        connection.exec_driver_sql(
            "UPDATE resource SET site_id = 'no-such-site' WHERE id = ?", (rooms[1].id,)
        )
        return "done too"

    async def both() -> list[Any]:
        return list(await asyncio.gather(writer.run(good), writer.run(poison), return_exceptions=True))

    answers = asyncio.run(both())

    assert all(isinstance(a, sa.exc.IntegrityError) for a in answers), answers
    assert "FOREIGN KEY" in str(answers[0])
    with fresh_engine.connect() as connection:
        names = connection.execute(sa.text("SELECT name FROM resource ORDER BY name")).scalars().all()
    assert "renamed" not in names  # the good one went with the batch: nothing was said done that is not
    assert writer.batches == 0


def test_no_write_slot_in_time_is_a_503_for_every_waiting_booking(fresh_engine: Engine) -> None:
    members, rooms = _world(fresh_engine, 2)
    impatient = make_engine(str(fresh_engine.url), writer_wait_s=0.5)
    try:
        center = _Center(impatient, members)
        holder = impatient.connect()
        with running_server(center.app) as base:
            center.greet(base)
            transaction = holder.begin()  # the write slot, held past the writer's wait
            try:
                with ThreadPoolExecutor(max_workers=2) as pool:
                    answers = list(
                        pool.map(
                            lambda i: httpx.post(
                                f"{base}/api/v1/bookings",
                                json=_body(rooms[i], i),
                                headers={**center.headers[members[i].id], "Accept-Language": "vi"},
                                timeout=60,
                            ),
                            range(2),
                        )
                    )
            finally:
                transaction.rollback()
                holder.close()
        assert [a.status_code for a in answers] == [503, 503]
        assert all(a.headers.get("Retry-After") for a in answers)
        assert _stored(fresh_engine) == []
    finally:
        impatient.dispose()


def test_each_database_has_its_own_writer(engine: Engine) -> None:
    settings = Settings(environment="test", secret_key="x" * 40, database_url="sqlite://")
    assert isinstance(create_app(settings, engine=engine).state.group_writer, GroupWriter)
    pg = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        assert isinstance(create_app(settings, engine=pg).state.group_writer, PipelinedWriter)
    finally:
        pg.dispose()


def test_the_bookings_of_a_batch_each_find_the_session_as_fresh(fresh_engine: Engine) -> None:
    """The works of one batch share one session: a refused one leaves nothing in it for the next, and
    one that returns leaves the session empty for the next and its rows readable after the COMMIT."""
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        session.commit()
    writer = GroupWriter(fresh_engine, batch_s=60)
    seen: list[tuple[int, int]] = []

    def closure(reason: str) -> Closure:
        return Closure(site_id=site.id, start_at=at(f"{DAY} 08:00"), end_at=at(f"{DAY} 09:00"), reason=reason)

    def refused(session: Session) -> None:
        session.add(closure("refused"))
        session.flush()
        raise ValueError("refused")

    def kept(session: Session) -> Closure:
        seen.append((len(session.identity_map), len(session.new)))
        row = closure("kept")
        session.add(row)
        return row

    def looks(session: Session) -> None:
        seen.append((len(session.identity_map), len(session.new)))

    async def batch() -> list[Any]:
        answers = await asyncio.gather(
            writer.run(refused), writer.run(kept), writer.run(looks), return_exceptions=True
        )
        return list(answers)

    outcomes = asyncio.run(batch())

    assert writer.batches == 1
    assert isinstance(outcomes[0], ValueError)
    assert outcomes[1].reason == "kept"  # loaded, though its session let it go
    assert outcomes[1].id is not None
    assert seen == [(0, 0), (0, 0)]
    with Session(fresh_engine) as session:
        assert [c.reason for c in session.exec(select(Closure))] == ["kept"]


def test_a_booking_its_rules_refuse_never_waits_for_the_write_slot(fresh_engine: Engine) -> None:
    """A booking is drafted (its rules, its row, its words) before it joins a batch: one that its
    rules refuse (here, a slot already past) is answered in words without taking the write slot, even
    while another process holds it."""
    members, rooms = _world(fresh_engine, 1)
    center = _Center(fresh_engine, members)
    with running_server(center.app) as base:
        center.greet(base)
        headers = {**center.headers[members[0].id], "Accept-Language": "vi"}
        before = center.writer.batches
        past = {
            "resource_id": rooms[0].id,
            "start": at("2027-02-28 10:00").isoformat(),
            "end": at("2027-02-28 11:00").isoformat(),
        }
        connection = fresh_engine.connect()
        transaction = connection.begin()  # the write slot, held as another process would hold it
        try:
            refused = httpx.post(f"{base}/api/v1/bookings", json=past, headers=headers, timeout=10)
            waiting = center.writer.waiting
        finally:
            transaction.rollback()
            connection.close()

    assert refused.status_code == 422
    assert refused.json()["detail"] == "10:00–11:00 Chủ Nhật 28/02/2027 đã bắt đầu hoặc đã qua"
    assert waiting == 0
    assert center.writer.batches == before
    assert _stored(fresh_engine) == []
