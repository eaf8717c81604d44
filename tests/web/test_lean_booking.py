"""The lean booking route (web.routes.lean): it answers the common call itself and hands every other one
to the full route, whose answers (and words) stay the only ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select
from starlette.requests import Request
from starlette.responses import Response

from booking.models import Booking, Member, Resource
from tests.factories import at, make_member, make_plan, make_resource, make_site, quota
from web.api.bookings import _create_booking_lean
from web.deps import get_session

Auth = Callable[[Member], dict[str, str]]


@pytest.fixture
def member(session: Session) -> Member:
    return make_member(session, plan=make_plan(session, quota("rooms", max_hours=40)))


@pytest.fixture
def room(session: Session) -> Resource:
    return make_resource(session, make_site(session), quota_group="rooms")


def _body(room: Resource, start: str = "2027-03-02 09:00", end: str = "2027-03-02 10:00") -> bytes:
    return json.dumps(
        {"resource_id": room.id, "start": at(start).isoformat(), "end": at(end).isoformat()}
    ).encode()


def _lean(app: FastAPI, body: bytes, headers: dict[str, str]) -> Response | None:
    """What the lean handler makes of a POST /api/v1/bookings (None: it declined)."""
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/bookings",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
        "app": app,
        "state": {},
    }

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    return asyncio.run(_create_booking_lean(Request(scope, receive)))


def _bookings(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Booking)).one()


def _known(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    """The member is signed in and in the actor cache, as after any earlier call of theirs."""
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    return {**headers, "Content-Type": "application/json"}


def test_the_common_call_is_answered_by_the_lean_handler(
    app: FastAPI, client: TestClient, session: Session, auth: Auth, member: Member, room: Resource
) -> None:
    headers = _known(client, auth(member))

    response = _lean(app, _body(room), headers)

    assert response is not None
    assert response.status_code == 201
    answer = json.loads(bytes(response.body))
    assert answer["resource_id"] == room.id
    assert answer["member"] == member.id
    assert session.get(Booking, answer["id"]) is not None


def test_a_member_not_in_the_actor_cache_is_read_into_it_and_answered_lean(
    app: FastAPI, client: TestClient, session: Session, auth: Auth, member: Member, room: Resource
) -> None:
    headers = _known(client, auth(member))
    app.state.actors.clear()

    response = _lean(app, _body(room), headers)

    assert response is not None
    assert response.status_code == 201
    assert json.loads(bytes(response.body))["member"] == member.id
    assert app.state.actors.get(member.id, member.token_version) is not None


def test_its_answer_is_the_full_routes_answer(
    app: FastAPI, client: TestClient, session: Session, auth: Auth, member: Member, room: Resource
) -> None:
    headers = _known(client, auth(member))
    lean = _lean(app, _body(room), headers)
    assert lean is not None
    assert get_session in app.dependency_overrides  # the test's session, as for every request here
    del app.state.write_session  # an override without the hook: only the full route honours it
    assert _lean(app, _body(room, "2027-03-02 11:00", "2027-03-02 12:00"), headers) is None

    full = client.post(
        "/api/v1/bookings", content=_body(room, "2027-03-02 11:00", "2027-03-02 12:00"), headers=headers
    )

    assert full.status_code == lean.status_code == 201
    ours, theirs = json.loads(bytes(lean.body)), full.json()
    assert set(ours) == set(theirs)
    varying = {"id", "code", "start", "end", "created_at", "updated_at", "check_in_code"}
    assert {k: v for k, v in ours.items() if k not in varying} == {
        k: v for k, v in theirs.items() if k not in varying
    }


def test_a_replayed_idempotency_key_gives_the_first_answer(
    app: FastAPI, client: TestClient, session: Session, auth: Auth, member: Member, room: Resource
) -> None:
    headers = {**_known(client, auth(member)), "Idempotency-Key": "k-1"}

    first = _lean(app, _body(room), headers)
    again = _lean(app, _body(room), headers)

    assert first is not None
    assert again is not None
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert json.loads(bytes(again.body)) == json.loads(bytes(first.body))
    assert _bookings(session) == 1


@pytest.mark.parametrize(
    ("case", "expected_status"),
    [
        ("not JSON", 422),
        ("no content type", 422),
        ("a body that is no booking", 422),
        ("an idempotency key too long", 422),
        ("no token", 401),
        ("a forged token", 401),
        ("a member since suspended", 401),
    ],
)
def test_every_other_call_goes_to_the_full_route(
    app: FastAPI,
    client: TestClient,
    session: Session,
    auth: Auth,
    member: Member,
    room: Resource,
    case: str,
    expected_status: int,
) -> None:
    headers = _known(client, auth(member))
    body = _body(room)
    if case == "not JSON":
        body = b"{not json"
    elif case == "no content type":
        del headers["Content-Type"]
        headers["Content-Type"] = "text/plain"
    elif case == "a body that is no booking":
        body = json.dumps({"resource_id": room.id, "start": "tomorrow"}).encode()
    elif case == "an idempotency key too long":
        headers["Idempotency-Key"] = "k" * 201
    elif case == "no token":
        del headers["Authorization"]
    elif case == "a forged token":
        headers["Authorization"] = "Bearer " + "x" * 40
    elif case == "a member since suspended":
        member.active = False
        session.add(member)
        session.commit()
        app.state.actors.clear()

    assert _lean(app, body, headers) is None
    assert _bookings(session) == 0

    answer = client.post("/api/v1/bookings", content=body, headers=headers)
    assert answer.status_code == expected_status, answer.text
    if expected_status != 201:
        assert answer.json()["detail"]  # the full route's words
        assert _bookings(session) == 0


def test_a_refusal_on_the_lean_path_is_worded_as_the_full_routes(
    app: FastAPI, client: TestClient, session: Session, auth: Auth, member: Member, room: Resource
) -> None:
    headers = {**_known(client, auth(member)), "Accept-Language": "vi"}
    taken = _lean(app, _body(room), headers)
    assert taken is not None
    assert taken.status_code == 201

    answer = client.post("/api/v1/bookings", content=_body(room), headers=headers)

    assert answer.status_code == 409
    assert answer.json()["detail"].startswith(f"Bạn đã đặt {room.name} ")
