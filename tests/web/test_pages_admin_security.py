"""Admin set-up pages, CSRF refusal, cookie flags, and Vietnamese/English rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from booking.models import Booking, Closure, Member, Plan, QuotaRule, Resource, ResourceKind, Role, Site
from tests.factories import PASSWORD, at
from tests.web.pages import HTML, HTMX, Center, csrf_of, form, make_center, sign_in
from web.app import create_app
from web.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HOURS = {f"hours_{d}": "08:00-12:00, 13:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _post(client: TestClient, path: str, **fields: object) -> int:
    return client.post(path, data=form(**fields), headers=HTML, follow_redirects=False).status_code


class TestAdminSetUp:
    def test_creates_a_site_with_hours_and_a_closure(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        assert (
            _post(client, "/admin/sites", id="hoa-phu", name="Cơ sở Hòa Phú", holiday_country="vn", **HOURS)
            == 303
        )
        site = session.get(Site, "hoa-phu")
        assert site is not None
        assert site.opening_hours["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
        assert "sat" not in site.opening_hours
        assert site.holiday_country == "VN"
        assert (site.approve_members, site.holiday_country) == (False, "VN")
        fields = {"name": "Cơ sở Hòa Phú", "holiday_country": "VN", "approve_members": "on", **HOURS}
        assert _post(client, "/admin/sites/hoa-phu", **fields) == 303
        session.refresh(site)
        assert site.approve_members is True
        status = _post(
            client,
            "/admin/sites/hoa-phu/closures",
            start_day="2027-03-10",
            end_day="2027-03-10",
            reason="Kiểm kê",
        )
        assert status == 303
        closure = session.exec(select(Closure).where(Closure.site_id == "hoa-phu")).one()
        assert (closure.start_at, closure.end_at) == (at("2027-03-10 00:00"), at("2027-03-11 00:00"))
        assert _post(client, f"/admin/closures/{closure.id}/delete") == 303
        assert session.exec(select(Closure).where(Closure.site_id == "hoa-phu")).first() is None

    def test_bad_hours_are_refused_in_words(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        response = client.post(
            "/admin/sites", data=form(id="bad", name="Bad", hours_mon="17:00-08:00"), headers=HTML
        )
        assert response.status_code == 422
        assert "Giờ mở cửa mon: 08:00 không sau 17:00" in response.text
        assert session.get(Site, "bad") is None

    def test_bad_fields_are_named_as_the_form_names_them_in_vietnamese(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        response = client.post(
            "/admin/resources",
            data=form(id="Laser 2", site_id=center.site.id, kind="machine", name="", capacity="hai"),
            headers=HTML,
        )
        assert response.status_code == 422
        assert (
            "Mã ngắn: chỉ dùng chữ thường không dấu, chữ số và dấu gạch ngang (như laser-2)" in response.text
        )
        assert "Tên: hãy điền mục này" in response.text
        assert "Sức chứa: hãy ghi một số nguyên" in response.text
        assert "capacity" not in response.text.split("<main", 1)[-1]

    def test_creates_and_changes_a_resource(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        status = _post(
            client,
            "/admin/resources",
            id="meeting-9",
            site_id=center.site.id,
            kind="room",
            name="Phòng họp 9",
            capacity=10,
            slot_minutes=30,
            min_minutes=30,
            max_minutes=120,
            allow_walk_in="on",
        )
        assert status == 303
        resource = session.get(Resource, "meeting-9")
        assert resource is not None
        assert (resource.kind, resource.capacity, resource.max_minutes) == (ResourceKind.room, 10, 120)
        assert (
            _post(client, "/admin/resources/meeting-9", name="Phòng họp 9", capacity=12, max_minutes=180)
            == 303
        )
        session.refresh(resource)
        assert (resource.capacity, resource.max_minutes, resource.active) == (12, 180, False)

    def test_plans_and_quota_rules(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        assert _post(client, "/admin/plans", id="student", name="Sinh viên", monthly_price_vnd=100000) == 303
        assert session.get(Plan, "student") is not None
        assert (
            _post(client, "/admin/plans/student/rules", quota_group="laser", period="week", max_hours=2)
            == 303
        )
        rule = session.exec(select(QuotaRule).where(QuotaRule.plan_id == "student")).one()
        assert rule.max_hours == 2
        response = client.post(
            "/admin/plans/student/rules",
            data=form(quota_group="laser", period="week", max_hours=3),
            headers=HTML,
        )
        assert response.status_code == 409
        assert "Gói đã có quy định cho laser theo tuần" in response.text
        assert _post(client, f"/admin/rules/{rule.id}/delete") == 303
        assert session.exec(select(QuotaRule).where(QuotaRule.plan_id == "student")).first() is None

    def test_opens_a_kiosk_account_and_makes_a_manager(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        status = _post(
            client,
            "/admin/members",
            email="kiosk2@example.org",
            name="Kiosk tầng 2",
            password="a long password",
            role="kiosk",
            sites=center.site.id,
        )
        assert status == 303
        kiosk = session.exec(select(Member).where(Member.email == "kiosk2@example.org")).one()
        assert (kiosk.role, kiosk.kiosk_site_id) == (Role.kiosk, center.site.id)
        member = center.other_member
        status = _post(
            client,
            f"/admin/members/{member.id}",
            name=member.name,
            role="manager",
            sites=[center.site.id, center.other_site.id],
            active="on",
        )
        assert status == 303
        session.refresh(member)
        assert member.role is Role.manager

    def test_suspending_ends_the_members_session(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        member = center.member
        sign_in(client, app, center.admin)
        assert _post(client, f"/admin/members/{member.id}", name=member.name, role="member") == 303
        sign_in(client, app, member)
        assert client.get("/bookings", headers=HTML, follow_redirects=False).status_code == 303


class TestCsrf:
    def test_a_form_without_the_token_is_refused_and_writes_nothing(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        fields = {"resource_id": center.room.id, "day": "2027-03-02", "start": "10:00", "minutes": 60}
        response = client.post("/bookings", data=fields, headers=HTML)
        assert response.status_code == 403
        assert "Biểu mẫu này đã hết hạn hoặc không phải từ FabLab Hub" in response.text
        assert int(session.exec(select(func.count()).select_from(Booking)).one()) == 0

    def test_a_wrong_token_is_refused(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        old = center.member.ical_token
        sign_in(client, app, center.member)
        response = client.post("/me/ical", data={"csrf_token": "forged"}, headers=HTML)
        assert response.status_code == 403
        assert "Biểu mẫu này đã hết hạn hoặc không phải từ FabLab Hub" in response.text
        session.refresh(center.member)
        assert center.member.ical_token == old

    def test_htmx_sends_the_token_in_a_header(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        csrf = sign_in(client, app, center.member)
        fields = {"resource_id": center.room.id, "day": "2027-03-02", "start": "10:00", "minutes": 60}
        response = client.post("/bookings", data=fields, headers={**HTMX, "X-CSRF-Token": csrf})
        assert response.status_code == 201

    def test_an_authorization_header_that_is_not_a_valid_bearer_skips_nothing(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        """Found by an outside test: `Authorization: Basic …` beside the cookie cancelled a booking."""
        sign_in(client, app, center.member)
        fields = {"resource_id": center.room.id, "day": "2027-03-02", "start": "10:00", "minutes": 60}
        for authorization in ("Basic YWRtaW46YWRtaW4=", "Bearer forged.token", "Bearer "):
            response = client.post("/bookings", data=fields, headers={**HTML, "Authorization": authorization})
            assert response.status_code == 403, authorization
            assert "Biểu mẫu này đã hết hạn hoặc không phải từ FabLab Hub" in response.text
        assert int(session.exec(select(func.count()).select_from(Booking)).one()) == 0

    def test_the_sign_in_form_needs_its_token(self, client: TestClient, center: Center) -> None:
        response = client.post(
            "/signin", data={"email": center.member.email, "password": PASSWORD}, headers=HTML
        )
        assert response.status_code == 403
        assert "Biểu mẫu này đã hết hạn hoặc không phải từ FabLab Hub" in response.text
        assert "fablab_session" not in response.cookies
        assert client.get("/bookings", headers=HTML, follow_redirects=False).status_code == 303

    def test_cookie_authenticated_api_writes_need_the_token(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        body = {
            "resource_id": center.room.id,
            "start": at("2027-03-02 10:00").isoformat(),
            "end": at("2027-03-02 11:00").isoformat(),
        }
        response = client.post("/api/v1/bookings", json=body)
        assert response.status_code == 403
        assert response.json()["error"] == "NotPermitted"
        assert int(session.exec(select(func.count()).select_from(Booking)).one()) == 0

    def test_secure_cookies_behind_tls(self, settings: Settings, engine: object, center: Center) -> None:
        secure = settings.model_copy(update={"secure_cookies": True})
        app = create_app(secure, engine=engine)  # type: ignore[arg-type]
        with TestClient(app, base_url="https://testserver") as client:
            response = client.get("/signin", headers=HTML)
        cookie = response.headers["set-cookie"].lower()
        assert "secure" in cookie
        assert "httponly" in cookie
        assert "samesite=lax" in cookie


class TestLanguages:
    def test_vietnamese_is_the_default(self, client: TestClient) -> None:
        html = client.get("/signin", headers=HTML).text
        assert '<html lang="vi">' in html
        assert "Đăng nhập FabLab Hub" in html

    def test_english_for_a_member_who_chose_it(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        center.member.language = "en"
        session.add(center.member)
        session.flush()
        sign_in(client, app, center.member)
        html = client.get("/", headers=HTML).text
        assert '<html lang="en">' in html
        assert "What would you like to book?" in html
        assert "up to 6 people" in html

    def test_vietnamese_numbers_and_dates(self, client: TestClient, app: FastAPI, center: Center) -> None:
        sign_in(client, app, center.member)
        form_fields = form(resource_id=center.room.id, day="2027-03-02", start="10:00", minutes=90)
        html = client.post("/bookings", data=form_fields, headers=HTMX).text
        assert "Th 3, 02/03/2027 10:00–11:30" in html
        me = client.get("/me", headers=HTML).text
        assert "1,5 / 4 giờ" in me
        assert "phòng họp" in me  # the quota group in words, not its id
        assert ">meeting-rooms <" not in me

    def test_the_language_switch_works_signed_out(self, client: TestClient) -> None:
        token = csrf_of(client.get("/signin", headers=HTML).text)
        client.post("/language", data={"lang": "en", "next": "/signin", "csrf_token": token}, headers=HTML)
        assert "Sign in to FabLab Hub" in client.get("/signin", headers=HTML).text

    def test_every_message_of_the_pages_has_a_vietnamese_translation(self) -> None:
        method_map = [("web/pages/**.py", "python"), ("web/templates/**.html", "jinja2")]
        keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "text": (3,)}
        found = {
            message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in extract_from_dir(
                str(ROOT), method_map, keywords=keywords
            )
        }
        with (ROOT / "web/translations/vi/LC_MESSAGES/messages.po").open("rb") as po:
            catalog = read_po(po)
        translated = {
            (m.id if isinstance(m.id, str) else m.id[0])
            for m in catalog
            if m.id and (m.string if isinstance(m.string, str) else all(m.string or ()))
        }
        assert found, "no message was extracted"
        assert sorted(found - translated) == []
