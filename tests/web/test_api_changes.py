"""Changing bookings over the JSON API: PATCH a booking or a series, cancel with a reason, book on a
member's behalf; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.models import Booking, Member, Notification, ResourceKind, Role, Site
from tests.factories import at, make_member, make_resource, make_site

Auth = Callable[[Member], dict[str, str]]


def _body(resource_id: str, start: str, end: str, **extra: object) -> dict[str, object]:
    return {"resource_id": resource_id, "start": at(start).isoformat(), "end": at(end).isoformat(), **extra}


def _stored(session: Session, booking_id: str) -> Booking:
    session.expire_all()
    found = session.get(Booking, booking_id)
    assert found is not None
    return found


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(session)


class TestPatchBooking:
    def test_moves_the_booking(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        laser = make_resource(session, site)
        headers = auth(make_member(session))
        made = client.post(
            "/api/v1/bookings", json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), headers=headers
        )
        booking_id = made.json()["id"]
        response = client.patch(
            f"/api/v1/bookings/{booking_id}",
            json={"start": at("2027-03-02 15:00").isoformat()},
            headers=headers,
        )
        assert response.status_code == 200
        assert response.json()["id"] == booking_id
        assert response.json()["start"] == "2027-03-02T08:00:00.000Z"
        assert response.json()["end"] == "2027-03-02T09:00:00.000Z"
        assert _stored(session, booking_id).start_at == at("2027-03-02 15:00")

    def test_a_taken_slot_is_409_and_nothing_moves(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site, name="Laser 1")
        headers = auth(make_member(session))
        booking_id = client.post(
            "/api/v1/bookings", json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), headers=headers
        ).json()["id"]
        other = auth(make_member(session))
        client.post(
            "/api/v1/bookings", json=_body(laser.id, "2027-03-02 15:00", "2027-03-02 16:00"), headers=other
        )
        response = client.patch(
            f"/api/v1/bookings/{booking_id}",
            json={"start": at("2027-03-02 15:00").isoformat()},
            headers=headers,
        )
        assert response.status_code == 409
        assert response.json()["detail"].startswith("Laser 1 is booked")
        assert _stored(session, booking_id).start_at == at("2027-03-02 10:00")

    def test_an_unknown_field_is_422(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        headers = auth(make_member(session))
        booking_id = client.post(
            "/api/v1/bookings", json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), headers=headers
        ).json()["id"]
        response = client.patch(f"/api/v1/bookings/{booking_id}", json={"member": "admin"}, headers=headers)
        assert response.status_code == 422
        assert _stored(session, booking_id).start_at == at("2027-03-02 10:00")

    def test_someone_elses_booking_is_404(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        booking_id = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            headers=auth(make_member(session)),
        ).json()["id"]
        response = client.patch(
            f"/api/v1/bookings/{booking_id}",
            json={"start": at("2027-03-02 15:00").isoformat()},
            headers=auth(make_member(session)),
        )
        assert response.status_code == 404
        assert _stored(session, booking_id).start_at == at("2027-03-02 10:00")


class TestPatchSeries:
    def test_moves_the_weekday_of_all_occurrences(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        headers = auth(make_member(session))
        made = client.post(
            "/api/v1/bookings",
            json=_body(room.id, "2027-03-02 10:00", "2027-03-02 11:00", rrule="FREQ=WEEKLY;COUNT=2"),
            headers=headers,
        ).json()
        response = client.patch(
            f"/api/v1/series/{made['series_id']}", json={"weekday": 4, "start_time": "09:00"}, headers=headers
        )
        assert response.status_code == 200
        assert [b["start"] for b in response.json()["bookings"]] == [
            "2027-03-05T02:00:00.000Z",
            "2027-03-12T02:00:00.000Z",
        ]
        assert response.json()["skipped"] == []

    def test_a_bad_time_is_422(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        headers = auth(make_member(session))
        made = client.post(
            "/api/v1/bookings",
            json=_body(room.id, "2027-03-02 10:00", "2027-03-02 11:00", rrule="FREQ=WEEKLY;COUNT=2"),
            headers=headers,
        ).json()
        response = client.patch(
            f"/api/v1/series/{made['series_id']}", json={"start_time": "25:00"}, headers=headers
        )
        assert response.status_code == 422


class TestCancelWithReason:
    def test_the_member_is_told_why(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site, name="Laser 1")
        member = make_member(session)
        booking_id = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            headers=auth(member),
        ).json()["id"]
        manager = make_member(session, role=Role.manager, manages=(site,))
        response = client.delete(
            f"/api/v1/bookings/{booking_id}", params={"reason": "lens cleaning"}, headers=auth(manager)
        )
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
        assert told.message.endswith(": lens cleaning")


class TestOnBehalf:
    def test_a_manager_books_for_a_member(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        member = make_member(session)
        manager = make_member(session, role=Role.manager, manages=(site,))
        response = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00", member=member.id),
            headers=auth(manager),
        )
        assert response.status_code == 201
        assert (response.json()["member"], response.json()["booked_by"]) == (member.id, manager.id)

    def test_a_manager_of_another_site_cannot(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        member = make_member(session)
        stranger = make_member(session, role=Role.manager, manages=(make_site(session),))
        response = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 10:00", "2027-03-02 11:00", member=member.id),
            headers=auth(stranger),
        )
        assert response.status_code == 403
        assert (
            response.json()["detail"] == "only the site's managers and its kiosk can book for another member"
        )
        assert session.exec(select(Booking)).first() is None


class TestClosureOverBookings:
    def _booking(self, client: TestClient, session: Session, site: Site, auth: Auth) -> tuple[str, Member]:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None, name="Room A")
        member = make_member(session)
        booking_id = client.post(
            "/api/v1/bookings",
            json=_body(room.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            headers=auth(member),
        ).json()["id"]
        return booking_id, member

    def test_preview_lists_the_bookings_hit(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        booking_id, _member = self._booking(client, session, site, auth)
        manager = make_member(session, role=Role.manager, manages=(site,))
        response = client.get(
            f"/api/v1/sites/{site.id}/closures/preview",
            params={"start": at("2027-03-02 00:00").isoformat(), "end": at("2027-03-03 00:00").isoformat()},
            headers=auth(manager),
        )
        assert response.status_code == 200
        assert [b["id"] for b in response.json()] == [booking_id]

    def test_cancel_on_save(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        booking_id, member = self._booking(client, session, site, auth)
        manager = make_member(session, role=Role.manager, manages=(site,))
        response = client.post(
            f"/api/v1/sites/{site.id}/closures",
            json={
                "start": at("2027-03-02 00:00").isoformat(),
                "end": at("2027-03-03 00:00").isoformat(),
                "reason": "floods",
                "on_bookings": "cancel",
            },
            headers=auth(manager),
        )
        assert response.status_code == 201
        assert response.json()["cancelled_bookings"] == [booking_id]
        assert _stored(session, booking_id).status.value == "cancelled"
        told = session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
        assert told.message.endswith(": floods")

    def test_kept_by_default(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        booking_id, member = self._booking(client, session, site, auth)
        manager = make_member(session, role=Role.manager, manages=(site,))
        response = client.post(
            f"/api/v1/sites/{site.id}/closures",
            json={
                "start": at("2027-03-02 00:00").isoformat(),
                "end": at("2027-03-03 00:00").isoformat(),
                "reason": "x",
            },
            headers=auth(manager),
        )
        assert response.status_code == 201
        assert response.json()["kept_bookings"] == [booking_id]
        assert _stored(session, booking_id).status.value == "confirmed"
        assert session.exec(
            select(Notification).where(Notification.member_id == member.id, Notification.kind != "confirmed")
        ).one()
