"""Reporting problems over the API and the pages (member, kiosk) and the photo's doors; SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.models import Member
from devices.models import Alert, ProblemReport
from tests.web.pages import CSRF, HTML, HTMX, Center, form, make_center, sign_in

Auth = Callable[[Member], dict[str, str]]
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


class TestApi:
    def test_a_member_reports_with_a_photo(
        self, client: TestClient, session: Session, center: Center, auth: Auth
    ) -> None:
        headers = auth(center.member)
        response = client.post(
            "/api/v1/problems",
            data={"resource_id": center.room.id, "description": "the projector is dead"},
            files={"photo": ("p.png", PNG, "image/png")},
            headers=headers,
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["state"], body["photo"], body["site"]) == ("new", True, center.site.id)
        mine = client.get("/api/v1/me/problems", headers=headers).json()
        assert [p["id"] for p in mine] == [body["id"]]
        photo = client.get(f"/api/v1/problems/{body['id']}/photo", headers=headers)
        assert (photo.status_code, photo.content, photo.headers["content-type"]) == (200, PNG, "image/png")
        assert (
            client.get(f"/api/v1/problems/{body['id']}/photo", headers=auth(center.other_member)).status_code
            == 404
        )

    def test_a_file_that_is_not_a_photo_is_422_and_nothing_written(
        self, client: TestClient, session: Session, center: Center, auth: Auth
    ) -> None:
        response = client.post(
            "/api/v1/problems",
            data={"resource_id": center.room.id, "description": "the projector is dead"},
            files={"photo": ("x.png", b"<html>not a photo</html>", "image/png")},
            headers=auth(center.member),
        )
        assert response.status_code == 422
        assert response.json()["detail"] == "the photo must be a JPEG, PNG or WebP image"
        assert session.exec(select(ProblemReport)).first() is None
        assert session.exec(select(Alert)).first() is None

    def test_a_kiosk_reports_for_its_own_site_only(
        self, client: TestClient, session: Session, center: Center, auth: Auth
    ) -> None:
        mine = client.post(
            "/api/v1/problems",
            data={"resource_id": center.room.id, "description": "the door is stuck"},
            headers=auth(center.kiosk),
        )
        assert mine.status_code == 201
        theirs = client.post(
            "/api/v1/problems",
            data={"resource_id": center.room.id, "description": "the door is stuck"},
            headers=auth(center.other_kiosk),
        )
        assert theirs.status_code == 403
        assert len(session.exec(select(ProblemReport)).all()) == 1


class TestPages:
    def test_the_resource_page_offers_the_form(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        page = client.get(f"/resources/{center.room.id}", headers=HTML).text
        assert f"Báo sự cố với {center.room.name}" in page
        assert 'enctype="multipart/form-data"' in page

    def test_a_member_reports_and_follows_it(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            f"/resources/{center.room.id}/problems",
            params={"csrf_token": CSRF},
            data=form(description="Máy chiếu không lên hình"),
            files={"photo": ("p.png", PNG, "image/png")},
            headers=HTML,
        )
        assert response.status_code == 200  # the redirect to my reports, followed
        assert "Cảm ơn bạn: quản lý đã được báo." in response.text
        assert "Máy chiếu không lên hình" in response.text
        assert "đã gửi, chưa được xem" in response.text
        report = session.exec(select(ProblemReport)).one()
        sign_in(client, app, center.manager)
        alerts_page = client.get("/manage/alerts", headers=HTML).text
        assert "Thành viên báo sự cố" in alerts_page
        assert f"/manage/alerts/{report.alert_id}/photo" in alerts_page
        photo = client.get(f"/manage/alerts/{report.alert_id}/photo")
        assert (photo.status_code, photo.content) == (200, PNG)

    def test_a_refusal_keeps_the_description(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            f"/resources/{center.room.id}/problems",
            params={"csrf_token": CSRF},
            data=form(description="Ghế gãy"),
            files={"photo": ("x.png", b"not a photo at all", "image/png")},
            headers=HTML,
        )
        assert response.status_code == 200
        assert "Ảnh phải ở định dạng JPEG, PNG hoặc WebP" in response.text
        assert ">Ghế gãy</textarea>" in response.text
        assert session.exec(select(ProblemReport)).first() is None

    def test_the_kiosk_takes_a_report(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.kiosk)
        page = client.get(f"/kiosk/{center.site.id}", headers=HTML).text
        assert "Báo sự cố" in page
        response = client.post(
            f"/kiosk/{center.site.id}/problems",
            data=form(resource_id=center.room.id, description="Cửa kẹt không mở được"),
            headers=HTMX,
        )
        assert response.status_code == 201
        assert "Cảm ơn bạn: quản lý đã được báo." in response.text
        report = session.exec(select(ProblemReport)).one()
        assert (report.member_id, report.resource_id) == (None, center.room.id)

    def test_the_kiosk_refuses_another_sites_resource(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.other_kiosk)
        response = client.post(
            f"/kiosk/{center.other_site.id}/problems",
            data=form(resource_id=center.room.id, description="Cửa kẹt không mở được"),
            headers=HTMX,
        )
        assert response.status_code == 422
        assert "Hãy chọn máy hoặc phòng gặp sự cố" in response.text
        assert session.exec(select(ProblemReport)).first() is None


class TestCsrf:
    def test_a_photo_form_without_the_token_is_refused(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            f"/resources/{center.room.id}/problems",
            data={"description": "the projector is dead"},
            files={"photo": ("p.png", PNG, "image/png")},
            headers=HTML,
        )
        assert response.status_code == 403
        assert session.exec(select(ProblemReport)).first() is None
