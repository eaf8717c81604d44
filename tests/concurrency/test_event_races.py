"""Registrations racing for an event's seats over real HTTP, on SQLite and PostgreSQL: never more
seated than the capacity, the waitlist in one order with no place given twice, and a freed seat
given to exactly one waiter even when two registrants leave at once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.events import service as events
from booking.members.service import load_actor
from booking.models import Member, ResourceKind, Role
from booking.schemas import EventCreate
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import at, make_member, make_resource, make_site
from tests.servers import running_server
from web.app import create_app
from web.settings import Settings

CLIENTS = 64
SEATS = 10


def _world(engine: Engine) -> tuple[str, list[Member]]:
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session)
        room = make_resource(session, site, name="Hall", kind=ResourceKind.room, quota_group=None)
        manager = make_member(session, role=Role.manager, manages=(site,))
        people = [make_member(session) for _ in range(CLIENTS)]
        data = EventCreate.model_validate(
            {
                "site": site.id,
                "kind": "event",
                "title": "Đêm gọi vốn",
                "capacity": SEATS,
                "sessions": [
                    {"resource_id": room.id, "start": at("2027-03-05 18:00"), "end": at("2027-03-05 21:00")}
                ],
            }
        )
        event = events.create_event(session, load_actor(session, manager), data, NOW)
        session.commit()
        return event.id, people


def _app(engine: Engine) -> Any:
    settings = Settings(
        environment="test", secret_key="x" * 40, database_url="sqlite://", scheduler_enabled=False
    )
    return create_app(settings, engine=engine, clock=FakeClock(NOW))


def _all_at_once(count: int, work: Any) -> list[Any]:
    barrier = threading.Barrier(count)

    def _one(index: int) -> Any:
        barrier.wait(timeout=60)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(_one, range(count)))


def _seated(engine: Engine, event_id: str) -> tuple[int, int, list[int]]:
    with engine.connect() as connection:
        counter = connection.execute(
            sa.text("SELECT registered FROM event WHERE id = :e"), {"e": event_id}
        ).scalar_one()
        seated = connection.execute(
            sa.text("SELECT count(*) FROM registration WHERE event_id = :e AND status = 'registered'"),
            {"e": event_id},
        ).scalar_one()
        places = connection.execute(
            sa.text(
                "SELECT position FROM registration WHERE event_id = :e AND status = 'waitlisted' "
                "ORDER BY position"
            ),
            {"e": event_id},
        ).scalars()
        return counter, seated, list(places)


@pytest.mark.slow
def test_64_registrations_for_10_seats(fresh_engine: Engine) -> None:
    event_id, people = _world(fresh_engine)
    app = _app(fresh_engine)
    tokens = [app.state.tokens.issue(p.id, p.token_version) for p in people]
    with running_server(app) as base:

        def register(index: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=60) as client:
                return client.post(
                    f"/api/v1/events/{event_id}/registrations",
                    headers={"Authorization": f"Bearer {tokens[index]}"},
                )

        responses = _all_at_once(CLIENTS, register)
    assert Counter(r.status_code for r in responses) == {201: CLIENTS}
    bodies = [r.json() for r in responses]
    assert Counter(b["status"] for b in bodies) == {"registered": SEATS, "waitlisted": CLIENTS - SEATS}
    # Each waiter was told a place of their own: 1 to 54, none twice.
    told = sorted(b["position"] for b in bodies if b["status"] == "waitlisted")
    assert told == list(range(1, CLIENTS - SEATS + 1))
    counter, seated, places = _seated(fresh_engine, event_id)
    assert (counter, seated) == (SEATS, SEATS)
    assert len(set(places)) == len(places) == CLIENTS - SEATS
    # A second registration by the same member is refused, even now.
    with running_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        again = client.post(
            f"/api/v1/events/{event_id}/registrations", headers={"Authorization": f"Bearer {tokens[0]}"}
        )
        assert again.status_code == 409
        listed = client.get(f"/api/v1/events/{event_id}").json()
        assert (listed["registered"], listed["waitlisted"], listed["seats_left"]) == (
            SEATS,
            CLIENTS - SEATS,
            0,
        )


@pytest.mark.slow
def test_two_cancellations_at_once_promote_two_waiters_once_each(fresh_engine: Engine) -> None:
    event_id, people = _world(fresh_engine)
    app = _app(fresh_engine)
    tokens = [app.state.tokens.issue(p.id, p.token_version) for p in people]
    with running_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        mine = []
        for token in tokens[: SEATS + 6]:
            response = client.post(
                f"/api/v1/events/{event_id}/registrations", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 201
            mine.append(response.json())
        for round_ in range(3):
            leaving = [mine[2 * round_], mine[2 * round_ + 1]]

            def cancel(index: int, leaving: list[dict[str, Any]] = leaving) -> int:
                who = mine.index(leaving[index])
                with httpx.Client(base_url=base, timeout=60) as each:
                    return each.delete(
                        f"/api/v1/events/{event_id}/registrations/{leaving[index]['id']}",
                        headers={"Authorization": f"Bearer {tokens[who]}"},
                    ).status_code

            assert _all_at_once(2, cancel) == [200, 200]
            counter, seated, places = _seated(fresh_engine, event_id)
            assert (counter, seated) == (SEATS, SEATS)
            # The first two waiters of the round were seated, no one else.
            assert len(places) == 6 - 2 * (round_ + 1)
        waiters = mine[SEATS:]
        listing = client.get(
            f"/api/v1/events/{event_id}/registrations", headers={"Authorization": f"Bearer {tokens[0]}"}
        )
        assert listing.status_code == 403
        with Session(fresh_engine) as session:
            rows = dict(
                session.execute(
                    sa.text("SELECT id, status FROM registration WHERE event_id = :e"), {"e": event_id}
                ).all()
            )
        assert [rows[w["id"]] for w in waiters] == ["registered"] * 6
