"""Who may open which page and fragment: every page × role, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from booking.models import Member, MemberTraining
from tests.factories import at
from tests.web.pages import HTML, HTMX, Center, make_center, sign_in

ROLES = ("anonymous", "member", "manager", "admin", "kiosk")
SLOT = quote(at("2027-03-02 10:00").isoformat())

# (path template, who gets 200) — everyone else signed in gets 403, anonymous a redirect.
PERSON = {"member", "manager", "admin"}
MANAGERS = {"manager", "admin"}
PAGES: list[tuple[str, set[str]]] = [
    ("/resources/{room}", PERSON),
    ("/resources/{room}/grid?view=day", PERSON),
    ("/resources/{room}/slot?start=" + SLOT, PERSON),
    ("/bookings", PERSON),
    ("/search", PERSON),
    ("/search?people=4&day=2027-03-02&start=10:00&end=11:00", PERSON),
    ("/me", PERSON),
    ("/manage", MANAGERS),
    ("/manage/approvals", MANAGERS),
    ("/manage/bookings", MANAGERS),
    ("/manage/trainings", MANAGERS),
    ("/manage/reports", MANAGERS),
    ("/manage/reports.csv", MANAGERS),
    ("/admin", {"admin"}),
    ("/admin/sites", {"admin"}),
    ("/admin/sites/{site}", {"admin"}),
    ("/admin/resources", {"admin"}),
    ("/admin/resources/{room}", {"admin"}),
    ("/admin/plans", {"admin"}),
    ("/admin/members", {"admin"}),
    ("/admin/members/{member}", {"admin"}),
    ("/kiosk/{site}", {"kiosk"}),
    ("/kiosk/{site}/rooms", {"kiosk"}),
    ("/kiosk/{site}/walk-ins", {"kiosk"}),
    ("/kiosk/{site}/machines", {"kiosk"}),
]


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _who(center: Center, role: str) -> Member | None:
    return None if role == "anonymous" else getattr(center, role)


def _path(template: str, center: Center) -> str:
    return template.format(room=center.room.id, site=center.site.id, member=center.member.id)


class TestPageAccess:
    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize(("template", "allowed"), PAGES, ids=[p for p, _ in PAGES])
    def test_page_by_role(
        self,
        client: TestClient,
        app: FastAPI,
        center: Center,
        template: str,
        allowed: set[str],
        role: str,
    ) -> None:
        member = _who(center, role)
        if member is not None:
            sign_in(client, app, member)
        path = _path(template, center)
        response = client.get(path, headers=HTML, follow_redirects=False)
        if role == "anonymous":
            assert response.status_code == 303
            assert response.headers["location"] == "/signin?next=" + quote(path, safe="/")
        elif role in allowed:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 403, response.text

    @pytest.mark.parametrize(
        "template", ["/resources/{room}/grid", "/kiosk/{site}/rooms", "/manage/approvals"]
    )
    def test_fragment_when_signed_out_sends_htmx_to_sign_in(
        self, client: TestClient, center: Center, template: str
    ) -> None:
        path = _path(template, center)
        response = client.get(path, headers=HTMX)
        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/signin?next=" + quote(path, safe="/")

    def test_home_sends_a_kiosk_to_its_screen(self, client: TestClient, app: FastAPI, center: Center) -> None:
        sign_in(client, app, center.kiosk)
        response = client.get("/", headers=HTML, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/kiosk/{center.site.id}"

    @pytest.mark.parametrize("role", ["member", "manager", "admin"])
    def test_home_shows_the_catalogue(
        self, client: TestClient, app: FastAPI, center: Center, role: str
    ) -> None:
        sign_in(client, app, getattr(center, role))
        response = client.get("/", headers=HTML)
        assert response.status_code == 200
        assert "Phòng họp 1" in response.text
        assert "Laser 1" in response.text

    def test_another_sites_kiosk_finds_nothing(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.other_kiosk)
        response = client.get(f"/kiosk/{center.site.id}", headers=HTML)
        assert response.status_code == 404
        assert f"Không có kiosk nào ở /kiosk/{center.site.id}" in response.text

    def test_a_kiosk_cannot_post_member_actions(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        csrf = sign_in(client, app, center.kiosk)
        response = client.post(
            "/bookings",
            data={
                "csrf_token": csrf,
                "resource_id": center.room.id,
                "day": "2027-03-02",
                "start": "10:00",
                "minutes": 60,
            },
            headers=HTML,
        )
        assert response.status_code == 403
        assert "Kiosk không mở được trang của thành viên hay quản lý" in response.text

    def test_a_manager_cannot_see_another_sites_report(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        response = client.get(f"/manage/reports?site={center.other_site.id}", headers=HTML)
        assert response.status_code == 404
        assert f"Không có cơ sở “{center.other_site.id}” trong số cơ sở bạn quản lý" in response.text
        assert "fablab-utilisation" not in response.text


AuthHeaders = Callable[[Member], dict[str, str]]


class TestApiUnchanged:
    def test_bearer_clients_need_no_csrf_token(
        self, client: TestClient, center: Center, auth: AuthHeaders
    ) -> None:
        body = {
            "resource_id": center.room.id,
            "start": at("2027-03-02 10:00").isoformat(),
            "end": at("2027-03-02 11:00").isoformat(),
        }
        response = client.post("/api/v1/bookings", json=body, headers=auth(center.member))
        assert response.status_code == 201, response.text

    def test_token_sign_in_needs_no_csrf_token(self, client: TestClient, center: Center) -> None:
        from tests.factories import PASSWORD

        response = client.post(
            "/api/v1/auth/token", data={"username": center.member.email, "password": PASSWORD}
        )
        assert response.status_code == 200


class TestTrainingsBelongToSites:
    """Found by an outside test: a partner site's manager saw every member's name and e-mail on
    /manage/trainings and granted biic's laser training, then booked biic's laser."""

    def test_another_sites_manager_cannot_grant_or_revoke_it(
        self, client: TestClient, session: Session, center: Center, auth: Callable[[Member], dict[str, str]]
    ) -> None:
        before = session.exec(select(func.count()).select_from(MemberTraining)).one()
        body = {"training_id": center.training.id}
        response = client.post(
            f"/api/v1/members/{center.other_member.id}/trainings",
            json=body,
            headers=auth(center.other_manager),
        )
        assert response.status_code == 403
        assert "belongs to sites you do not manage" in response.json()["detail"]
        revoked = client.delete(
            f"/api/v1/members/{center.member.id}/trainings/{center.training.id}",
            headers=auth(center.other_manager),
        )
        assert revoked.status_code == 403
        assert session.exec(select(func.count()).select_from(MemberTraining)).one() == before
        # The laser's own site's manager may.
        granted = client.post(
            f"/api/v1/members/{center.other_member.id}/trainings", json=body, headers=auth(center.manager)
        )
        assert granted.status_code == 201

    def test_another_sites_manager_sees_neither_its_members_nor_its_trainings(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.other_manager)
        page = client.get("/manage/trainings", headers=HTML)
        assert page.status_code == 200
        assert center.member.email not in page.text
        assert center.member.name not in page.text
        sign_in(client, app, center.manager)
        mine = client.get("/manage/trainings", headers=HTML)
        assert center.member.email in mine.text
