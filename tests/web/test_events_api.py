"""The events API (CONTRACT §3) on SQLite and PostgreSQL: announce, list, register (members and
guests), cancel, take attendance; each wrong request a 4xx with a sentence and nothing written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from booking.members import repository as members_repo
from booking.models import Booking, Event, Member, Registration, Resource, ResourceKind, Role, Site
from tests.clock import FakeClock
from tests.factories import at, make_member, make_resource, make_site, make_training

Auth = Callable[[Member], dict[str, str]]


class World:
    def __init__(self, session: Session) -> None:
        self.site: Site = make_site(session)
        self.room: Resource = make_resource(
            session, self.site, name="Phòng đào tạo", kind=ResourceKind.training_room, quota_group=None
        )
        self.manager = make_member(session, role=Role.manager, manages=(self.site,))
        self.member = make_member(session)
        self.kiosk = make_member(session, role=Role.kiosk, kiosk_site=self.site)
        self.training = make_training(session)


@pytest.fixture
def world(session: Session) -> World:
    return World(session)


def _event(world: World, *sittings: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "site": world.site.id,
        "kind": "workshop",
        "title": "Làm quen máy in 3D",
        "capacity": 2,
        "sessions": [
            {"resource_id": world.room.id, "start": at(s).isoformat(), "end": at(e).isoformat()}
            for s, e in (sittings or (("2027-03-02 18:00", "2027-03-02 20:00"),))
        ],
        **extra,
    }


def _counts(session: Session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        int(session.exec(select(func.count()).select_from(table)).one())
        for table in (Event, Booking, Registration)
    )


def test_announce_list_register_and_attend(
    client: TestClient, auth: Auth, world: World, clock: FakeClock
) -> None:
    created = client.post("/api/v1/events", json=_event(world), headers=auth(world.manager))
    assert created.status_code == 201, created.text
    event = created.json()
    assert (event["capacity"], event["registered"], event["seats_left"], event["status"]) == (
        2,
        0,
        2,
        "scheduled",
    )
    assert len(event["sessions"]) == 1
    # Anyone sees a public event, without signing in.
    public = client.get("/api/v1/events", params={"site": world.site.id})
    assert [e["id"] for e in public.json()] == [event["id"]]
    mine = client.post(f"/api/v1/events/{event['id']}/registrations", headers=auth(world.member))
    assert mine.status_code == 201
    assert mine.json()["status"] == "registered"
    again = client.post(f"/api/v1/events/{event['id']}/registrations", headers=auth(world.member))
    assert again.status_code == 409
    assert "already registered" in again.json()["detail"]
    guest = client.post(
        f"/api/v1/events/{event['id']}/registrations", json={"name": "Phạm Hoa", "email": "hoa@example.vn"}
    )
    assert guest.status_code == 201
    waiting = client.post(
        f"/api/v1/events/{event['id']}/registrations", json={"name": "Võ Nam", "email": "nam@example.vn"}
    )
    assert (waiting.json()["status"], waiting.json()["position"]) == ("waitlisted", 1)
    assert client.get(f"/api/v1/events/{event['id']}").json()["waitlisted"] == 1
    # The guest gives up; the waiter is seated.
    dropped = client.delete(
        f"/api/v1/events/{event['id']}/registrations/{guest.json()['id']}", headers=auth(world.manager)
    )
    assert dropped.status_code == 200
    listing = client.get(f"/api/v1/events/{event['id']}/registrations", headers=auth(world.manager)).json()
    assert {r["name"]: r["status"] for r in listing}["Võ Nam"] == "registered"
    # The kiosk takes attendance by code during the session.
    clock.set(at("2027-03-02 18:05"))
    code = mine.json()["code"]
    present = client.post(
        f"/api/v1/events/{event['id']}/attendance", json={"code": code}, headers=auth(world.kiosk)
    )
    assert present.status_code == 200, present.text
    assert present.json()["attended"] is True


def test_members_only_events_are_hidden_from_the_public(client: TestClient, auth: Auth, world: World) -> None:
    created = client.post("/api/v1/events", json=_event(world, public=False), headers=auth(world.manager))
    event_id = created.json()["id"]
    assert client.get("/api/v1/events").json() == []
    assert client.get(f"/api/v1/events/{event_id}").status_code == 404
    assert [e["id"] for e in client.get("/api/v1/events", headers=auth(world.member)).json()] == [event_id]
    guest = client.post(f"/api/v1/events/{event_id}/registrations", json={"name": "A", "email": "a@b.vn"})
    assert guest.status_code == 404


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"capacity": 0}, 422, "at least 1 seat"),
        ({"capacity": -3}, 422, "at least 1 seat"),
        ({"sessions": []}, 422, "at least one session"),
        ({"kind": "training"}, 422, "training_id"),
        ({"rrule": "FREQ=WEEKLY;COUNT=3", "sessions_twice": True}, 422, "exactly one session"),
    ],
)
def test_bad_events_are_refused_in_words(
    client: TestClient,
    auth: Auth,
    world: World,
    session: Session,
    change: dict[str, Any],
    status: int,
    words: str,
) -> None:
    body, change = _event(world), dict(change)
    if change.pop("sessions_twice", False):
        body["sessions"] = body["sessions"] * 2
    body.update(change)
    before = _counts(session)
    response = client.post("/api/v1/events", json=body, headers=auth(world.manager))
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert _counts(session) == before


def test_sessions_in_the_past_overlapping_or_ten_thousand(
    client: TestClient, auth: Auth, world: World, session: Session
) -> None:
    before = _counts(session)
    cases = {
        "in the past": _event(world, ("2027-02-01 18:00", "2027-02-01 20:00")),
        "overlap": _event(
            world, ("2027-03-02 18:00", "2027-03-02 20:00"), ("2027-03-02 19:00", "2027-03-02 21:00")
        ),
        "at most 200 sessions": _event(world, *[("2027-03-02 18:00", "2027-03-02 19:00")] * 10_000),
    }
    for words, body in cases.items():
        response = client.post("/api/v1/events", json=body, headers=auth(world.manager))
        assert response.status_code == 422, response.text
        assert words in response.json()["detail"]
    assert _counts(session) == before


def test_a_taken_slot_is_a_409_naming_it_and_nothing_is_written(
    client: TestClient, auth: Auth, world: World, session: Session
) -> None:
    held = client.post(
        "/api/v1/bookings",
        json={
            "resource_id": world.room.id,
            "start": at("2027-03-09 19:00").isoformat(),
            "end": at("2027-03-09 20:00").isoformat(),
        },
        headers=auth(world.member),
    )
    assert held.status_code == 201
    before = _counts(session)
    body = _event(world, ("2027-03-02 18:00", "2027-03-02 20:00"), ("2027-03-09 18:00", "2027-03-09 20:00"))
    response = client.post("/api/v1/events", json=body, headers=auth(world.manager))
    assert response.status_code == 409
    assert "Phòng đào tạo" in response.json()["detail"]
    assert _counts(session) == before


def test_refusals_reach_people_in_vietnamese(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        "/api/v1/events",
        json=_event(world, capacity=0),
        headers={**auth(world.manager), "Accept-Language": "vi"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "một sự kiện cần ít nhất 1 chỗ; đã nhập 0"
    denied = client.post(
        "/api/v1/events", json=_event(world), headers={**auth(world.member), "Accept-Language": "vi"}
    )
    assert denied.status_code == 403
    assert "chỉ quản lý của cơ sở" in denied.json()["detail"]


def test_bad_guests_and_closed_registration(
    client: TestClient, auth: Auth, world: World, clock: FakeClock, session: Session
) -> None:
    event_id = client.post("/api/v1/events", json=_event(world), headers=auth(world.manager)).json()["id"]
    before = _counts(session)
    not_mail = client.post(f"/api/v1/events/{event_id}/registrations", json={"name": "A", "email": "a.b.vn"})
    assert not_mail.status_code == 422
    assert "not an e-mail address" in not_mail.json()["detail"]
    clock.set(at("2027-03-02 18:00"))
    late = client.post(f"/api/v1/events/{event_id}/registrations", headers=auth(world.member))
    assert late.status_code == 403
    assert "registration closed" in late.json()["detail"]
    assert _counts(session) == before


def test_a_training_event_lets_the_member_use_the_machine(
    client: TestClient, auth: Auth, world: World, clock: FakeClock, session: Session
) -> None:
    body = _event(world, kind="training", training_id=world.training.id)
    event_id = client.post("/api/v1/events", json=body, headers=auth(world.manager)).json()["id"]
    registration = client.post(f"/api/v1/events/{event_id}/registrations", headers=auth(world.member)).json()
    clock.set(at("2027-03-02 18:30"))
    marked = client.post(
        f"/api/v1/events/{event_id}/attendance",
        json={"registration_id": registration["id"]},
        headers=auth(world.manager),
    )
    assert marked.status_code == 200
    assert world.training.id in members_repo.trainings_held(session, world.member.id)


def test_cancelling_an_event(client: TestClient, auth: Auth, world: World) -> None:
    event_id = client.post("/api/v1/events", json=_event(world), headers=auth(world.manager)).json()["id"]
    assert client.delete(f"/api/v1/events/{event_id}", headers=auth(world.member)).status_code == 403
    cancelled = client.delete(f"/api/v1/events/{event_id}", headers=auth(world.manager))
    assert cancelled.json()["status"] == "cancelled"
    booked = client.post(
        "/api/v1/bookings",
        json={
            "resource_id": world.room.id,
            "start": at("2027-03-02 18:00").isoformat(),
            "end": at("2027-03-02 20:00").isoformat(),
        },
        headers=auth(world.member),
    )
    assert booked.status_code == 201


def test_moving_an_event_and_writing_to_its_registrants(client: TestClient, auth: Auth, world: World) -> None:
    event_id = client.post("/api/v1/events", json=_event(world), headers=auth(world.manager)).json()["id"]
    client.post(f"/api/v1/events/{event_id}/registrations", headers=auth(world.member))
    later = {
        "resource_id": world.room.id,
        "start": at("2027-03-02 19:00").isoformat(),
        "end": at("2027-03-02 21:00").isoformat(),
    }
    moved = client.patch(
        f"/api/v1/events/{event_id}", json={"sessions": [later], "capacity": 5}, headers=auth(world.manager)
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["sessions"][0]["start"], moved.json()["capacity"]) == ("2027-03-02T12:00:00.000Z", 5)
    assert (
        client.patch(
            f"/api/v1/events/{event_id}", json={"capacity": 0}, headers=auth(world.manager)
        ).status_code
        == 422
    )
    assert (
        client.patch(
            f"/api/v1/events/{event_id}", json={"title": "X"}, headers=auth(world.member)
        ).status_code
        == 403
    )
    told = client.post(
        f"/api/v1/events/{event_id}/messages", json={"text": "Nhớ mang laptop"}, headers=auth(world.manager)
    )
    assert told.json() == {"told": 1}
