"""The JSON API of CONTRACT §3 over the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from booking.models import (
    Booking,
    BookingStatus,
    LoginFailure,
    Member,
    QuotaPeriod,
    ResourceKind,
    Role,
    Series,
    Site,
)
from booking.security import verify_password
from tests.clock import FakeClock
from tests.conftest import NOW as NOW_API
from tests.factories import PASSWORD, at, make_member, make_plan, make_resource, make_site, quota
from tests.words import en_slot

Auth = Callable[[Member], dict[str, str]]


def _bookings(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Booking)).one())


def _body(resource_id: str, start: str, end: str, **extra: object) -> dict[str, object]:
    return {"resource_id": resource_id, "start": at(start).isoformat(), "end": at(end).isoformat(), **extra}


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(session)


class TestAuth:
    def test_token_then_me(self, client: TestClient, session: Session) -> None:
        member = make_member(session, email="lan@example.org")
        response = client.post(
            "/api/v1/auth/token", data={"username": "lan@example.org", "password": PASSWORD}
        )
        assert response.status_code == 200
        token = response.json()["access_token"]
        assert response.json()["token_type"] == "bearer"
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["id"] == member.id

    def test_wrong_password_then_429(self, client: TestClient, session: Session) -> None:
        make_member(session, email="lan@example.org")
        for _ in range(5):
            response = client.post(
                "/api/v1/auth/token", data={"username": "lan@example.org", "password": "nope"}
            )
            assert response.status_code == 401
            assert response.json() == {
                "error": "Unauthenticated",
                "detail": "the e-mail or the password is wrong",
            }
        response = client.post(
            "/api/v1/auth/token", data={"username": "lan@example.org", "password": PASSWORD}
        )
        assert response.status_code == 429
        assert response.json()["detail"].startswith("too many failed sign-ins for lan@example.org")

    def test_a_lockout_slows_the_guesser_not_the_owner(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        """Five wrong passwords from one address used to lock the account for everyone, admin included."""
        owner = make_member(session, email="admin@example.org", role=Role.admin)
        with TestClient(app, client=("203.0.113.9", 40000)) as guesser:
            for _ in range(5):
                wrong = {"username": owner.email, "password": "guess"}
                assert guesser.post("/api/v1/auth/token", data=wrong).status_code == 401
            right = {"username": owner.email, "password": PASSWORD}
            assert guesser.post("/api/v1/auth/token", data=right).status_code == 429
        with TestClient(app, client=("198.51.100.7", 40000)) as at_the_desk:
            response = at_the_desk.post(
                "/api/v1/auth/token", data={"username": owner.email, "password": PASSWORD}
            )
            assert response.status_code == 200

    def test_one_address_trying_many_accounts_is_slowed(self, app: FastAPI, session: Session) -> None:
        """25 e-mails from one address were all answered 401, never 429; successes count too."""
        real = make_member(session, email="real@example.org")
        with TestClient(app, client=("203.0.113.10", 40000)) as sprayer:
            right = {"username": real.email, "password": PASSWORD}
            assert sprayer.post("/api/v1/auth/token", data=right).status_code == 200
            statuses = [
                sprayer.post(
                    "/api/v1/auth/token", data={"username": f"who-{i}@example.org", "password": "123456789"}
                ).status_code
                for i in range(40)
            ]
        assert statuses[:29] == [401] * 29
        assert set(statuses[29:]) == {429}
        # This address's rows only: tests that serve over real sockets commit sign-ins to this database.
        mine = (
            select(func.count()).select_from(LoginFailure).where(col(LoginFailure.address) == "203.0.113.10")
        )
        assert (
            int(session.exec(mine).one()) == 30
        )  # the refused ones were not even recorded: nothing was hashed

    def test_an_unknown_e_mail_is_checked_against_a_real_hash(self, session: Session) -> None:
        """An unknown e-mail answered in ~10 ms, a known one in ~250 ms: the time told which exist."""
        from booking.members import service as members

        attempt = members.begin_sign_in(session, "nobody@example.org", NOW_API)
        assert attempt.member is None
        assert attempt.password_hash.startswith("$argon2id$")
        assert not verify_password(attempt.password_hash, "")

    @pytest.mark.parametrize(
        ("headers", "detail"),
        [
            ({}, "sign in first: send 'Authorization: Bearer <token>' from /api/v1/auth/token"),
            (
                {"Authorization": "Bearer forged.token.value"},
                "the access token is invalid or has expired; sign in again",
            ),
        ],
    )
    def test_unauthenticated(self, client: TestClient, headers: dict[str, str], detail: str) -> None:
        response = client.get("/api/v1/sites", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Unauthenticated", "detail": detail}

    def test_password_change_revokes_tokens(self, client: TestClient, session: Session, auth: Auth) -> None:
        from booking.members import service

        member = make_member(session)
        headers = auth(member)
        service.set_password(session, member, "a new password")
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["detail"] == "the access token is no longer valid; sign in again"


class TestCatalogue:
    def test_sites_resources_plans(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        make_resource(session, site, id=f"{site.id}-laser", name="Laser 1")
        make_resource(
            session, site, id=f"{site.id}-desks", kind=ResourceKind.desk_pool, capacity=20, quota_group=None
        )
        make_plan(session, quota(max_hours=4), id="maker-x")
        headers = auth(make_member(session))
        sites = client.get("/api/v1/sites", headers=headers).json()
        assert site.id in {s["id"] for s in sites}
        resources = client.get(f"/api/v1/resources?site={site.id}&kind=desk_pool", headers=headers).json()
        assert [(r["id"], r["capacity"], r["site"]) for r in resources] == [(f"{site.id}-desks", 20, site.id)]
        laser = client.get(f"/api/v1/resources/{site.id}-laser", headers=headers).json()
        assert laser["rules"]["slot_minutes"] == 30
        assert laser["requires_training"] is None
        plans = client.get("/api/v1/plans", headers=headers).json()
        maker = next(p for p in plans if p["id"] == "maker-x")
        assert maker["quotas"] == [
            {
                "quota_group": "laser",
                "period": "week",
                "max_hours": 4.0,
                "max_bookings": None,
                "max_future_bookings": None,
                "max_runtime_hours": None,
            }
        ]

    def test_availability(self, client: TestClient, session: Session, auth: Auth) -> None:
        site = make_site(session, opening_hours={"tue": [["08:00", "12:00"]]})
        laser = make_resource(session, site)
        headers = auth(make_member(session))
        client.post(
            "/api/v1/bookings", json=_body(laser.id, "2027-03-02 09:00", "2027-03-02 10:00"), headers=headers
        )
        response = client.get(
            f"/api/v1/resources/{laser.id}/availability",
            params={"start": "2027-03-02T00:00:00+07:00", "end": "2027-03-03T00:00:00+07:00"},
            headers=headers,
        )
        assert response.json() == {
            "resource_id": laser.id,
            "free": [
                {"start": "2027-03-02T01:00:00.000Z", "end": "2027-03-02T02:00:00.000Z", "seats": None},
                {"start": "2027-03-02T03:00:00.000Z", "end": "2027-03-02T05:00:00.000Z", "seats": None},
            ],
        }

    def test_unknown_resource(self, client: TestClient, session: Session, auth: Auth) -> None:
        response = client.get("/api/v1/resources/nope", headers=auth(make_member(session)))
        assert response.status_code == 404
        assert response.json() == {"error": "NotFound", "detail": "there is no resource 'nope'"}


class TestCreateBooking:
    def test_created(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        laser = make_resource(session, site)
        member = make_member(session)
        response = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            headers=auth(member),
        )
        assert response.status_code == 201
        body = response.json()
        assert body["start"] == "2027-03-02T07:00:00.000Z"
        assert body["end"] == "2027-03-02T08:00:00.000Z"
        assert (body["member"], body["status"], body["site"], body["series_id"]) == (
            member.id,
            "confirmed",
            site.id,
            None,
        )
        mine = client.get("/api/v1/bookings?mine=true", headers=auth(member)).json()
        assert [b["id"] for b in mine] == [body["id"]]

    def test_conflict_is_409_naming_the_slot(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site, name="Laser 1")
        client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            headers=auth(make_member(session)),
        )
        before = _bookings(session)
        response = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:30", "2027-03-02 15:30"),
            headers=auth(make_member(session)),
        )
        assert response.status_code == 409
        assert response.json() == {
            "error": "Conflict",
            "detail": f"Laser 1 is booked {en_slot('2027-03-02 14:00–15:00')}",
        }
        assert _bookings(session) == before

    def test_quota_is_403(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(period=QuotaPeriod.day, max_hours=1)))
        response = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 16:00"),
            headers=auth(member),
        )
        assert response.status_code == 403
        assert response.json() == {
            "error": "QuotaExceeded",
            "detail": "your plan allows 1 h of laser per day; you have 0 h booked and asked for 2 h more",
        }
        assert _bookings(session) == 0

    @pytest.mark.parametrize(
        ("payload", "detail"),
        [
            ({"resource_id": "x", "start": "2027-03-02T14:00:00Z"}, "end is required"),
            (
                {"resource_id": "x", "start": "2027-03-02T14:00:00", "end": "2027-03-02T15:00:00Z"},
                "start: input should have timezone info",
            ),
            (
                {"resource_id": "x", "start": "tomorrow", "end": "2027-03-02T15:00:00Z"},
                "start: input should be a valid datetime",
            ),
            (
                {
                    "resource_id": "x",
                    "start": "2027-03-02T14:00:00Z",
                    "end": "2027-03-02T15:00:00Z",
                    "colour": "red",
                },
                "colour is not a field this request takes",
            ),
            (
                {"resource_id": "x", "start": "9999-12-31T23:00:00Z", "end": "9999-12-31T23:30:00Z"},
                "start: must be between the years 2000 and 2199",
            ),
            (
                {"resource_id": "Not A Slug", "start": "2027-03-02T14:00:00Z", "end": "2027-03-02T15:00:00Z"},
                "resource_id: string should match pattern",
            ),
        ],
    )
    def test_malformed_is_422(
        self, client: TestClient, session: Session, auth: Auth, payload: dict[str, str], detail: str
    ) -> None:
        response = client.post("/api/v1/bookings", json=payload, headers=auth(make_member(session)))
        assert response.status_code == 422
        assert response.json()["error"] == "InvalidRequest"
        assert response.json()["detail"].startswith(detail)
        assert _bookings(session) == 0

    def test_not_json_is_422(self, client: TestClient, session: Session, auth: Auth) -> None:
        response = client.post(
            "/api/v1/bookings",
            content=b"{not json",
            headers={**auth(make_member(session)), "content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json() == {"error": "InvalidRequest", "detail": "the body is not valid JSON"}

    def test_rule_violation_is_422(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site, name="Laser 1", max_minutes=60)
        response = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 16:00"),
            headers=auth(make_member(session)),
        )
        assert response.status_code == 422
        assert response.json() == {
            "error": "InvalidRequest",
            "detail": f"Laser 1 can be booked for at most 60 min at a time; {en_slot('2027-03-02 14:00–16:00')} is 120 min",  # noqa: E501
        }

    def test_idempotency_key_replays(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        headers = {**auth(make_member(session)), "Idempotency-Key": "retry-me"}
        body = _body(laser.id, "2027-03-02 14:00", "2027-03-02 15:00")
        first = client.post("/api/v1/bookings", json=body, headers=headers)
        second = client.post("/api/v1/bookings", json=body, headers=headers)
        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json() == first.json()
        assert second.headers["Idempotent-Replayed"] == "true"
        assert _bookings(session) == 1

    def test_series(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        headers = auth(make_member(session))
        response = client.post(
            "/api/v1/bookings",
            json=_body(room.id, "2027-03-02 14:00", "2027-03-02 15:00", rrule="FREQ=WEEKLY;COUNT=3"),
            headers=headers,
        )
        assert response.status_code == 201
        series = response.json()
        assert [b["start"] for b in series["bookings"]] == [
            "2027-03-02T07:00:00.000Z",
            "2027-03-09T07:00:00.000Z",
            "2027-03-16T07:00:00.000Z",
        ]
        assert series["skipped"] == []
        cancelled = client.delete(f"/api/v1/series/{series['series_id']}", headers=headers)
        assert len(cancelled.json()) == 3

    @pytest.mark.parametrize(
        "rrule",
        [
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3",
            "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31",
        ],
    )
    def test_an_rrule_with_no_date_in_the_horizon_is_422_and_writes_nothing(
        self, client: TestClient, session: Session, site: Site, auth: Auth, rrule: str
    ) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        response = client.post(
            "/api/v1/bookings",
            json=_body(room.id, "2027-03-02 14:00", "2027-03-02 15:00", rrule=rrule),
            headers=auth(make_member(session)),
        )
        assert response.status_code == 422
        assert response.json() == {"error": "InvalidRequest", "detail": "the rrule gives no occurrence"}
        assert _bookings(session) == 0
        assert session.exec(select(Series)).all() == []


class TestBookingAccess:
    def test_other_members_booking_is_404(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        owner = make_member(session)
        booking_id = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            headers=auth(owner),
        ).json()["id"]
        stranger = auth(make_member(session))
        for response in (
            client.get(f"/api/v1/bookings/{booking_id}", headers=stranger),
            client.delete(f"/api/v1/bookings/{booking_id}", headers=stranger),
            client.post(f"/api/v1/bookings/{booking_id}/check-in", headers=stranger),
        ):
            assert response.status_code == 404
            assert response.json() == {"error": "NotFound", "detail": f"there is no booking '{booking_id}'"}
        assert session.get(Booking, booking_id).status is BookingStatus.confirmed  # type: ignore[union-attr]

    def test_manager_sees_and_cancels_site_bookings(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        laser = make_resource(session, site)
        owner = make_member(session)
        booking_id = client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 15:00"),
            headers=auth(owner),
        ).json()["id"]
        manager = auth(make_member(session, role=Role.manager, manages=(site,)))
        other_manager = auth(make_member(session, role=Role.manager, manages=(make_site(session),)))
        assert [b["id"] for b in client.get("/api/v1/bookings", headers=manager).json()] == [booking_id]
        assert client.get("/api/v1/bookings", headers=other_manager).json() == []
        assert client.delete(f"/api/v1/bookings/{booking_id}", headers=other_manager).status_code == 404
        response = client.delete(f"/api/v1/bookings/{booking_id}", headers=manager)
        assert response.json()["status"] == "cancelled"

    def test_check_in_and_kiosk_code(
        self, client: TestClient, session: Session, site: Site, auth: Auth, clock: FakeClock
    ) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        owner = auth(make_member(session))
        kiosk = auth(make_member(session, role=Role.kiosk, kiosk_site=site))
        booking = client.post(
            "/api/v1/bookings", json=_body(room.id, "2027-03-01 10:00", "2027-03-01 11:00"), headers=owner
        ).json()
        early = client.post(f"/api/v1/bookings/{booking['id']}/check-in", headers=owner)
        assert early.status_code == 422
        assert (
            early.json()["detail"]
            == f"check-in for {en_slot('2027-03-01 10:00–11:00')} opens at 09:45, 15 min before the start"
        )
        clock.set(at("2027-03-01 09:50"))
        response = client.post("/api/v1/check-in", json={"code": booking["code"]}, headers=kiosk)
        assert response.status_code == 200
        assert response.json()["status"] == "checked_in"
        assert response.json()["checked_in_at"] == "2027-03-01T02:50:00.000Z"

    @pytest.mark.parametrize("rrule", [None, "FREQ=WEEKLY;COUNT=5"])
    def test_a_kiosk_token_books_nothing_through_the_api(
        self, client: TestClient, session: Session, site: Site, auth: Auth, rrule: str | None
    ) -> None:
        """Found by an outside test: a kiosk token booked a 5-week series for `admin`, with no card."""
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        admin = make_member(session, role=Role.admin)
        kiosk = auth(make_member(session, role=Role.kiosk, kiosk_site=site))
        body = {**_body(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), "member": admin.id}
        if rrule:
            body["rrule"] = rrule
        response = client.post("/api/v1/bookings", json=body, headers=kiosk)
        assert response.status_code == 403
        assert response.json()["detail"] == "a kiosk books only walk-ins, for the card presented at it"
        assert int(session.exec(select(func.count()).select_from(Booking)).one()) == 0
        assert int(session.exec(select(func.count()).select_from(Series)).one()) == 0

    def test_a_kiosk_is_not_shown_the_members_note(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        owner = auth(make_member(session))
        body = {**_body(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), "note": "pitch for investors, NDA"}
        booking = client.post("/api/v1/bookings", json=body, headers=owner).json()
        assert booking["note"] == "pitch for investors, NDA"
        kiosk = auth(make_member(session, role=Role.kiosk, kiosk_site=site))
        seen = client.get(f"/api/v1/bookings/{booking['id']}", headers=kiosk)
        assert seen.status_code == 200
        assert seen.json()["note"] == ""

    def test_approval_flow(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        lab = make_resource(
            session, site, kind=ResourceKind.stem_space, requires_approval=True, quota_group=None
        )
        member = auth(make_member(session))
        manager = auth(make_member(session, role=Role.manager, manages=(site,)))
        booking = client.post(
            "/api/v1/bookings", json=_body(lab.id, "2027-03-02 09:00", "2027-03-02 11:00"), headers=member
        ).json()
        assert booking["status"] == "pending"
        refused = client.post(f"/api/v1/bookings/{booking['id']}/approve", headers=member)
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "NotPermitted",
            "detail": "only the site's managers approve or decline bookings",
        }
        approved = client.post(
            f"/api/v1/bookings/{booking['id']}/approve", json={"note": "ok"}, headers=manager
        )
        assert approved.json()["status"] == "confirmed"


class TestMe:
    def test_quotas(self, client: TestClient, session: Session, site: Site, auth: Auth) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=4, max_future_bookings=3)))
        client.post(
            "/api/v1/bookings",
            json=_body(laser.id, "2027-03-02 14:00", "2027-03-02 15:30"),
            headers=auth(member),
        )
        quotas = client.get("/api/v1/me/quotas", headers=auth(member)).json()
        assert quotas == [
            {
                "quota_group": "laser",
                # Extensions: the group's name where an admin set one.
                "group_name": "",
                "group_name_en": "",
                "period": "week",
                "period_start": "2027-02-28T17:00:00.000Z",
                "period_end": "2027-03-07T17:00:00.000Z",
                "limit_hours": 4.0,
                "booked_hours": 1.5,
                "used_hours": 0.0,
                "limit_runtime_hours": None,
                "limit_bookings": None,
                "bookings": 1,
                "limit_future_bookings": 3,
                "future_bookings": 1,
            }
        ]


class TestOperations:
    def test_health_ready_docs(self, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "broker": "not_configured"}
        assert client.get("/docs").status_code == 200
        assert "/api/v1/bookings" in client.get("/openapi.json").json()["paths"]

    def test_metrics_only_to_this_machine_or_with_the_token(self, app: FastAPI, client: TestClient) -> None:
        # The test client comes from "testclient", not a loopback address: another machine.
        refused = client.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("Chỉ số giám sát chỉ được cung cấp cho chính máy chủ này")
        app.state.settings.metrics_token = "operator-metrics-token"
        try:
            assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
            allowed = client.get("/metrics", headers={"Authorization": "Bearer operator-metrics-token"})
            assert allowed.status_code == 200
        finally:
            app.state.settings.metrics_token = ""

    def test_metrics(self, app: FastAPI) -> None:
        with TestClient(app, client=("127.0.0.1", 50000)) as local:
            text = local.get("/metrics").text
        for family in (
            "fablab_mqtt_messages_received_total",
            "fablab_mqtt_messages_dropped_total",
            "fablab_bridge_queue_depth_messages",
            "fablab_access_decision_latency_seconds",
            "fablab_machines",
            "fablab_alerts_open",
            "fablab_sessions_active",
        ):
            assert f"# TYPE {family} " in text

    def test_unknown_path_and_method(self, client: TestClient) -> None:
        response = client.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"error": "NotFound", "detail": "there is nothing at /api/v1/nothing-here"}
        response = client.put("/api/v1/sites")
        assert response.status_code == 405
        assert response.json() == {
            "error": "MethodNotAllowed",
            "detail": "PUT is not allowed on /api/v1/sites",
        }


class TestMachinesApi:
    def test_status_plans_and_alerts_by_role(
        self, client: TestClient, session: Session, site: Site, auth: Auth
    ) -> None:
        from devices.maintenance import service as maintenance
        from devices.schemas import MaintenancePlanCreate
        from tests.factories import make_machine

        laser = make_machine(session, site, name="Laser 1")
        maintenance.add_plan(
            session, None, laser.id, MaintenancePlanCreate(name="Clean lens", every_runtime_h=40), NOW_API
        )
        member = auth(make_member(session))
        manager = auth(make_member(session, role=Role.manager, manages=(site,)))
        status = client.get(f"/api/v1/machines/{laser.id}", headers=member).json()
        assert (status["machine"], status["site"], status["state"], status["online"]) == (
            laser.id,
            site.id,
            "offline",
            False,
        )
        assert laser.id in [m["machine"] for m in client.get("/api/v1/machines", headers=member).json()]
        refused = client.get(f"/api/v1/machines/{laser.id}/maintenance", headers=member)
        assert refused.status_code == 404
        assert refused.json() == {"error": "NotFound", "detail": f"there is no machine '{laser.id}'"}
        plans = client.get(f"/api/v1/machines/{laser.id}/maintenance", headers=manager).json()
        assert [(p["name"], p["status"], p["progress"]) for p in plans] == [
            ("Clean lens", "ok", "0.0 of 40 runtime hours")
        ]
        assert client.get(f"/api/v1/machines/{laser.id}/sessions", headers=member).status_code == 403
        assert client.get(f"/api/v1/machines/{laser.id}/sessions", headers=manager).json() == []
        alerts = client.get("/api/v1/alerts?open=true", headers=member)
        assert alerts.status_code == 403
        assert alerts.json() == {"error": "NotPermitted", "detail": "only managers see alerts"}
        assert client.get("/api/v1/alerts?open=true", headers=manager).json() == []
        missing = client.post("/api/v1/alerts/nope/resolve", json={"note": "x"}, headers=manager)
        assert missing.status_code == 404
        assert missing.json() == {"error": "NotFound", "detail": "there is no alert 'nope'"}
