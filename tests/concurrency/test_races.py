"""Parallel writers with real commits: no overlap, no seat or quota overrun, every loser told why.

Each test has a database of its own (SQLite and PostgreSQL) and 32+ threads, each with its own
connection, racing for a few slots of a few resources.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.bookings import service
from booking.errors import Conflict, DomainError, QuotaExceeded
from booking.members.service import load_actor
from booking.models import Member, QuotaPeriod, Resource, ResourceKind
from booking.schemas import BookingCreate
from booking.spans import SeatSpan, peak_seats
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import at, make_member, make_plan, make_resource, make_site, quota
from tests.servers import running_server
from web.app import create_app
from web.settings import Settings

CLIENTS = 32
ROUNDS = 6
DAY = "2027-03-02"
QUOTA_HOURS = 3


@dataclass
class World:
    exclusive: list[Resource]
    pool: Resource
    quota_room: Resource
    members: list[Member]
    quota_member: Member


def _build_world(engine: Engine) -> World:
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session)
        exclusive = [
            make_resource(session, site, name="Laser 1", quota_group="laser"),
            make_resource(session, site, name="CNC", buffer_minutes=30, quota_group="laser"),
            make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group="laser"),
        ]
        pool = make_resource(
            session, site, name="Desks", kind=ResourceKind.desk_pool, capacity=5, quota_group=None
        )
        quota_room = make_resource(
            session, site, name="Quota room", kind=ResourceKind.room, quota_group="laser"
        )
        members = [make_member(session) for _ in range(CLIENTS)]
        plan = make_plan(session, quota("laser", QuotaPeriod.week, max_hours=QUOTA_HOURS))
        quota_member = make_member(session, plan=plan)
        session.commit()
    return World(exclusive, pool, quota_room, members, quota_member)


def _quota_slot(index: int, round_: int) -> tuple[datetime, datetime]:
    """A slot no other request of the quota member asks for: only the quota can refuse it."""
    k = (index // 4) * ROUNDS + round_
    start = at(f"{DAY} 08:00") + timedelta(days=k // 12, hours=k % 12)
    return start, start + timedelta(hours=1)


def _slot(rng: random.Random) -> tuple[datetime, datetime]:
    start = at(f"{DAY} 08:00") + timedelta(minutes=30 * rng.randrange(0, 12))
    return start, start + timedelta(minutes=30 * rng.randrange(1, 5))


def _assert_invariants(engine: Engine, world: World) -> None:
    active = "('pending', 'confirmed', 'checked_in')"
    with engine.connect() as connection:
        overlaps = connection.execute(
            sa.text(
                "SELECT count(*) FROM booking a JOIN booking b ON a.resource_id = b.resource_id "
                "AND a.id < b.id AND a.start_at < b.block_end AND b.start_at < a.block_end "
                f"WHERE a.exclusive AND b.exclusive AND a.status IN {active} AND b.status IN {active}"
            )
        ).scalar_one()
        assert overlaps == 0
        seats = connection.execute(
            sa.text(
                f"SELECT start_at, end_at, seats FROM booking WHERE resource_id = :r AND status IN {active}"
            ),
            {"r": world.pool.id},
        ).all()
        held = [SeatSpan(_aware(s), _aware(e), n) for s, e, n in seats]
        assert peak_seats(held, at(f"{DAY} 00:00"), at(f"{DAY} 23:59")) <= world.pool.capacity
        booked = connection.execute(
            sa.text("SELECT coalesce(sum(seconds), 0) FROM ledgerentry WHERE member_id = :m"),
            {"m": world.quota_member.id},
        ).scalar_one()
        assert booked <= QUOTA_HOURS * 3600
        # The ledger agrees with the bookings it was written beside.
        held = connection.execute(
            sa.text(f"SELECT count(*) FROM booking WHERE member_id = :m AND status IN {active}"),
            {"m": world.quota_member.id},
        ).scalar_one()
        assert held * 3600 == booked


def _aware(value: datetime | str) -> datetime:
    from datetime import UTC

    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _race(work: Callable[[int], list[str]]) -> Counter[str]:
    barrier = threading.Barrier(CLIENTS)

    def _client(index: int) -> list[str]:
        barrier.wait(timeout=60)
        return work(index)

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(_client, range(CLIENTS)))
    return Counter(outcome for outcomes in results for outcome in outcomes)


@pytest.mark.slow
class TestServiceRace:
    def test_32_writers_never_overlap_or_overrun(self, fresh_engine: Engine) -> None:
        world = _build_world(fresh_engine)

        def work(index: int) -> list[str]:
            rng = random.Random(index)
            outcomes = []
            # A quarter of the clients act as one member, to race for that member's quota.
            member = world.quota_member if index % 4 == 0 else world.members[index]
            for round_ in range(ROUNDS):
                start, end = _slot(rng)
                use_pool = rng.random() < 0.3
                resource = world.pool if use_pool else rng.choice(world.exclusive)
                seats = rng.randint(1, 3) if use_pool else 1
                if member is world.quota_member:
                    (start, end), resource, seats = _quota_slot(index, round_), world.quota_room, 1
                ask = BookingCreate(resource_id=resource.id, start=start, end=end, seats=seats)
                try:
                    with Session(fresh_engine, expire_on_commit=False) as session:
                        service.book(session, load_actor(session, member), ask, NOW)
                        session.commit()
                    outcomes.append("booked")
                except Conflict:
                    outcomes.append("conflict")
                except QuotaExceeded:
                    outcomes.append("quota")
                except DomainError as exc:
                    outcomes.append(f"other: {exc.detail}")
                except Exception as exc:
                    outcomes.append(f"crash: {type(exc).__name__}: {exc}")
            return outcomes

        outcomes = _race(work)
        assert set(outcomes) <= {"booked", "conflict", "quota"}, outcomes
        assert outcomes["booked"] > 0
        assert outcomes["conflict"] > 0
        assert outcomes["quota"] == CLIENTS // 4 * ROUNDS - QUOTA_HOURS
        _assert_invariants(fresh_engine, world)


@pytest.mark.slow
class TestApiRace:
    def test_32_http_clients(self, fresh_engine: Engine, backend: str) -> None:
        world = _build_world(fresh_engine)
        settings = Settings(
            environment="test", secret_key="x" * 40, database_url="sqlite://", scheduler_enabled=False
        )
        app = create_app(settings, engine=fresh_engine, clock=FakeClock(NOW))
        tokens = {
            m.id: app.state.tokens.issue(m.id, m.token_version) for m in [*world.members, world.quota_member]
        }
        with running_server(app) as base:

            def work(index: int) -> list[str]:
                rng = random.Random(1000 + index)
                member = world.quota_member if index % 4 == 0 else world.members[index]
                headers = {"Authorization": f"Bearer {tokens[member.id]}"}
                outcomes = []
                with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                    for round_ in range(ROUNDS):
                        start, end = _slot(rng)
                        resource = rng.choice([*world.exclusive, world.pool])
                        if member is world.quota_member:
                            (start, end), resource = _quota_slot(index, round_), world.quota_room
                        body = {
                            "resource_id": resource.id,
                            "start": start.isoformat(),
                            "end": end.isoformat(),
                        }
                        response = client.post("/api/v1/bookings", json=body)
                        outcomes.append(str(response.status_code))
                        if response.status_code == 409:
                            detail = response.json()["detail"]
                            assert " is booked " in detail or "seats free" in detail or "booked" in detail
                return outcomes

            outcomes = _race(work)
        assert set(outcomes) <= {"201", "409", "403"}, outcomes
        assert outcomes["201"] > 0
        assert outcomes["409"] > 0
        assert outcomes["403"] == CLIENTS // 4 * ROUNDS - QUOTA_HOURS
        _assert_invariants(fresh_engine, world)

    def test_more_clients_than_threads_never_stall(self, fresh_engine: Engine) -> None:
        """32 clients, 2 route threads, cold caches: the write slot is never held across a thread hop."""
        world = _build_world(fresh_engine)
        settings = Settings(
            environment="test",
            secret_key="x" * 40,
            database_url="sqlite://",
            scheduler_enabled=False,
            web_threads=2,
        )
        app = create_app(settings, engine=fresh_engine, clock=FakeClock(NOW))
        tokens = {m.id: app.state.tokens.issue(m.id, m.token_version) for m in world.members}
        with running_server(app) as base:

            def work(index: int) -> list[str]:
                member = world.members[index]
                start = at(f"{DAY} 08:00") + timedelta(minutes=30 * (index % 12))
                body = {
                    "resource_id": world.exclusive[index % 3].id,
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=30)).isoformat(),
                }
                with httpx.Client(base_url=base, timeout=20) as client:
                    response = client.post(
                        "/api/v1/bookings",
                        json=body,
                        headers={"Authorization": f"Bearer {tokens[member.id]}"},
                    )
                return [str(response.status_code)]

            outcomes = _race(work)
        assert set(outcomes) <= {"201", "409"}, outcomes
        assert outcomes["201"] + outcomes["409"] == CLIENTS
        assert outcomes["201"] > 0
        _assert_invariants(fresh_engine, world)

    def test_idempotency_key_sent_five_times_at_once(self, fresh_engine: Engine) -> None:
        world = _build_world(fresh_engine)
        settings = Settings(
            environment="test", secret_key="x" * 40, database_url="sqlite://", scheduler_enabled=False
        )
        app = create_app(settings, engine=fresh_engine, clock=FakeClock(NOW))
        member = world.members[0]
        headers = {
            "Authorization": f"Bearer {app.state.tokens.issue(member.id, member.token_version)}",
            "Idempotency-Key": "once-only",
        }
        body = {
            "resource_id": world.exclusive[0].id,
            "start": at(f"{DAY} 10:00").isoformat(),
            "end": at(f"{DAY} 11:00").isoformat(),
        }
        barrier = threading.Barrier(5)
        with running_server(app) as base:

            def send(_: int) -> httpx.Response:
                with httpx.Client(base_url=base, timeout=60) as client:
                    barrier.wait(timeout=30)
                    return client.post("/api/v1/bookings", json=body, headers=headers)

            with ThreadPoolExecutor(max_workers=5) as pool:
                responses = list(pool.map(send, range(5)))
        assert [r.status_code for r in responses] == [201] * 5
        assert len({r.json()["id"] for r in responses}) == 1
        assert sum(1 for r in responses if r.headers.get("Idempotent-Replayed") == "true") == 4
        with fresh_engine.connect() as connection:
            count = connection.execute(
                sa.text("SELECT count(*) FROM booking WHERE member_id = :m"), {"m": member.id}
            ).scalar_one()
        assert count == 1
