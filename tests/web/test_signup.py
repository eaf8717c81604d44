"""Accounts people open themselves, against a real SMTP server (SQLite and PostgreSQL): sign-up sends a
link that confirms the address (once, for a day); the account signs in only after it; the answer is
the same for an address that has an account (whose owner is told); a site that approves new members
refuses their bookings until a manager approves; a change of address takes effect once confirmed at
the new one; all rate-limited like sign-ins; the pages in Vietnamese."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from booking.models import Member, ResourceKind, Role
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import make_member, make_resource, make_site
from tests.mail import Inbox, smtp_server
from tests.web.pages import HTML, csrf_of
from web import outbox
from web.app import create_app
from web.settings import Settings

PASSWORD = "mây trắng bay qua đồi 2027"


class Center:
    """The app on a database of its own (the outbox worker reads what the requests committed) and
    the mail that reached the SMTP server."""

    def __init__(self, engine: Engine, inbox: Inbox, port: int, **settings: Any) -> None:
        self.engine, self.inbox = engine, inbox
        self.settings = Settings(
            environment="test",
            secret_key="y" * 40,
            database_url="sqlite://",
            scheduler_enabled=False,
            public_url="https://fablab.example.vn",
            **settings,
        )
        self.clock = FakeClock(NOW)
        self.app = create_app(self.settings, engine=engine, clock=self.clock)
        self.sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")

    def deliver(self) -> list[EmailMessage]:
        """Send what the outbox holds; the messages that arrived by it."""
        before = len(self.inbox.messages)
        outbox.deliver_due(self.engine, self.sender, self.settings, self.clock())
        return self.inbox.messages[before:]


@pytest.fixture
def center(fresh_engine: Engine) -> Iterator[Center]:
    with smtp_server() as (inbox, port):
        yield Center(fresh_engine, inbox, port)


def link_in(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    links: list[str] = re.findall(r"https://fablab\.example\.vn/\S+", body.get_content())
    (link,) = links
    return link


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", data={"username": email, "password": password})


def test_sign_up_then_confirm_then_sign_in(center: Center) -> None:
    with TestClient(center.app, raise_server_exceptions=False) as client:
        asked = client.post(
            "/api/v1/auth/signup",
            json={"email": "Hoa@Example.vn", "name": "Trần Thị Hoa", "password": PASSWORD, "language": "vi"},
        )
        assert asked.status_code == 202, asked.text
        (mail,) = center.deliver()
        assert mail["To"] == "hoa@example.vn"
        assert mail["Subject"] == "FabLab Hub: Xác nhận địa chỉ e-mail của bạn"
        link = link_in(mail)
        assert link.startswith("https://fablab.example.vn/verify-email?token=")
        # Not yet: the address is not confirmed; the refusal says what to do.
        early = sign_in(client, "hoa@example.vn")
        assert early.status_code == 401
        assert "confirm your e-mail address first" in early.json()["detail"]
        confirmed = client.post("/api/v1/auth/verify", json={"token": token_of(link)})
        assert confirmed.status_code == 200, confirmed.text
        token = sign_in(client, "hoa@example.vn")
        assert token.status_code == 200
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        assert (me.json()["email"], me.json()["role"], me.json()["name"]) == (
            "hoa@example.vn",
            "member",
            "Trần Thị Hoa",
        )
        # The link works once.
        again = client.post("/api/v1/auth/verify", json={"token": token_of(link)})
        assert again.status_code == 422
        assert "used already or is no longer valid" in again.json()["detail"]
        forged = client.post("/api/v1/auth/verify", json={"token": token_of(link)[:-2] + "xy"})
        assert forged.status_code == 422


def test_a_day_old_link_no_longer_works(center: Center) -> None:
    with TestClient(center.app, raise_server_exceptions=False) as client:
        client.post(
            "/api/v1/auth/signup", json={"email": "an@example.vn", "name": "An", "password": PASSWORD}
        )
        (mail,) = center.deliver()
        codec = center.app.state.signup_links
        assert codec.read(token_of(link_in(mail))) is not None
        codec._max_age_s = -1  # the link's day is over
        late = client.post("/api/v1/auth/verify", json={"token": token_of(link_in(mail))})
        assert late.status_code == 422


def test_the_same_answer_for_an_address_with_an_account_whose_owner_is_told(center: Center) -> None:
    with Session(center.engine) as session:
        make_member(session, email="lan@example.vn", name="Nguyễn Thị Lan")
        session.commit()
    with TestClient(center.app, raise_server_exceptions=False) as client:
        known = client.post(
            "/api/v1/auth/signup", json={"email": "lan@example.vn", "name": "Kẻ lạ", "password": PASSWORD}
        )
        unknown = client.post(
            "/api/v1/auth/signup", json={"email": "moi@example.vn", "name": "Người mới", "password": PASSWORD}
        )
        assert (known.status_code, unknown.status_code) == (202, 202)
        assert known.json() == unknown.json()
        told, verify = sorted(center.deliver(), key=lambda m: str(m["To"]))
        assert "lan@example.vn" in str(told["To"])
        body = told.get_body(preferencelist=("plain",))
        assert body is not None
        assert "đã có tài khoản" in body.get_content()
        assert verify["To"] == "moi@example.vn"
        # The account with that address is untouched: its password still works, nothing was added.
        assert sign_in(client, "lan@example.vn", "a-password-nobody-knows").status_code == 401
    with Session(center.engine) as session:
        (lan,) = session.exec(select(Member).where(Member.email == "lan@example.vn")).all()
        assert lan.name == "Nguyễn Thị Lan"


def test_weak_passwords_bad_input_and_too_many_sign_ups(center: Center) -> None:
    with TestClient(center.app, raise_server_exceptions=False) as client:
        weak = client.post(
            "/api/v1/auth/signup", json={"email": "b@example.vn", "name": "Bình", "password": "12345678901"}
        )
        assert weak.status_code == 422
        assert "among the first a guesser would try" in weak.json()["detail"]
        for bad in (
            {"email": "not-an-address", "name": "X", "password": PASSWORD},
            {"email": "c@example.vn", "name": "Line\r\nBreak", "password": PASSWORD},
            {"email": "c@example.vn", "name": "C", "password": PASSWORD, "language": "fr"},
        ):
            answer = client.post("/api/v1/auth/signup", json=bad)
            assert answer.status_code == 422, bad
        assert center.deliver() == []
        answers = [
            client.post(
                "/api/v1/auth/signup", json={"email": f"x{i}@example.vn", "name": "X", "password": PASSWORD}
            ).status_code
            for i in range(31)
        ]
        assert answers[:30] == [202] * 30
        assert answers[30] == 429


def test_sign_up_can_be_closed(fresh_engine: Engine) -> None:
    with smtp_server() as (inbox, port):
        center = Center(fresh_engine, inbox, port, signup_open=False)
        with TestClient(center.app, raise_server_exceptions=False) as client:
            answer = client.post(
                "/api/v1/auth/signup", json={"email": "d@example.vn", "name": "D", "password": PASSWORD}
            )
            assert answer.status_code == 403
            assert "ask at the front desk" in answer.json()["detail"]
            page = client.get("/signup", headers=HTML)
            assert "Tài khoản do nhân viên của trung tâm mở" in page.text


def test_a_site_that_approves_new_members(center: Center) -> None:
    with Session(center.engine, expire_on_commit=False) as session:
        site = make_site(session)
        site.approve_members = True
        session.add(site)
        room = make_resource(session, site, name="Phòng họp 1", kind=ResourceKind.room, quota_group=None)
        manager = make_member(session, role=Role.manager, manages=(site,), email="quanly@example.vn")
        session.commit()
    with TestClient(center.app, raise_server_exceptions=False) as client:
        client.post(
            "/api/v1/auth/signup",
            json={"email": "tam@example.vn", "name": "Lê Minh Tâm", "password": PASSWORD, "language": "en"},
        )
        (mail,) = center.deliver()
        assert mail["Subject"] == "FabLab Hub: Confirm your e-mail address"
        client.post("/api/v1/auth/verify", json={"token": token_of(link_in(mail))})
        (asked,) = center.deliver()
        assert "quanly@example.vn" in str(asked["To"])
        asked_body = asked.get_body(preferencelist=("plain",))
        assert asked_body is not None
        assert "Lê Minh Tâm (tam@example.vn)" in asked_body.get_content()
        member = {"Authorization": f"Bearer {sign_in(client, 'tam@example.vn').json()['access_token']}"}
        slot = {
            "resource_id": room.id,
            "start": (NOW + timedelta(days=1)).isoformat(),
            "end": (NOW + timedelta(days=1, hours=1)).isoformat(),
        }
        refused = client.post("/api/v1/bookings", json=slot, headers=member)
        assert refused.status_code == 403
        assert "awaits that approval" in refused.json()["detail"]
        boss = {"Authorization": f"Bearer {center.app.state.tokens.issue(manager.id, 1)}"}
        waiting = client.get("/api/v1/members/awaiting-approval", headers=boss)
        assert [w["email"] for w in waiting.json()] == ["tam@example.vn"]
        plain = client.get("/api/v1/members/awaiting-approval", headers=member)
        assert plain.status_code == 403
        member_id = waiting.json()[0]["id"]
        approved = client.post(f"/api/v1/members/{member_id}/approval", json={"approve": True}, headers=boss)
        assert approved.json() == {"member": member_id, "status": "approved"}
        (told,) = center.deliver()
        assert told["Subject"] == "FabLab Hub: Your account was approved"
        booked = client.post("/api/v1/bookings", json=slot, headers=member)
        assert booked.status_code == 201, booked.text
        assert client.get("/api/v1/members/awaiting-approval", headers=boss).json() == []


def test_a_declined_member_is_told_why_and_cannot_sign_in(center: Center) -> None:
    with Session(center.engine, expire_on_commit=False) as session:
        site = make_site(session)
        site.approve_members = True
        session.add(site)
        manager = make_member(session, role=Role.manager, manages=(site,))
        session.commit()
    boss = {"Authorization": f"Bearer {center.app.state.tokens.issue(manager.id, 1)}"}
    with TestClient(center.app, raise_server_exceptions=False) as client:
        client.post(
            "/api/v1/auth/signup", json={"email": "spam@example.vn", "name": "S", "password": PASSWORD}
        )
        (mail,) = center.deliver()
        client.post("/api/v1/auth/verify", json={"token": token_of(link_in(mail))})
        center.deliver()
        (waiting,) = client.get("/api/v1/members/awaiting-approval", headers=boss).json()
        declined = client.post(
            f"/api/v1/members/{waiting['id']}/approval",
            json={"approve": False, "reason": "Không phải người trong tỉnh"},
            headers=boss,
        )
        assert declined.json()["status"] == "declined"
        (told,) = center.deliver()
        body = told.get_body(preferencelist=("plain",))
        assert body is not None
        assert "bị từ chối: Không phải người trong tỉnh" in body.get_content()
        assert sign_in(client, "spam@example.vn").status_code == 401
        again = client.post(f"/api/v1/members/{waiting['id']}/approval", json={"approve": True}, headers=boss)
        assert again.status_code == 404


def test_a_change_of_address_is_confirmed_at_the_new_one(center: Center) -> None:
    with Session(center.engine, expire_on_commit=False) as session:
        lan = make_member(session, email="lan@example.vn", name="Nguyễn Thị Lan")
        other = make_member(session, email="taken@example.vn")
        session.commit()
    headers = {"Authorization": f"Bearer {center.app.state.tokens.issue(lan.id, 1)}"}
    with TestClient(center.app, raise_server_exceptions=False) as client:
        taken = client.post("/api/v1/me/email", json={"email": other.email}, headers=headers)
        assert taken.status_code == 409
        asked = client.post("/api/v1/me/email", json={"email": "lan.moi@example.vn"}, headers=headers)
        assert asked.status_code == 202
        mails = center.deliver()
        (to_new,) = [m for m in mails if m["To"] == "lan.moi@example.vn"]
        (to_old,) = [m for m in mails if "lan@example.vn" in str(m["To"])]
        assert to_new["Subject"] == "FabLab Hub: Xác nhận địa chỉ e-mail mới"
        old_body = to_old.get_body(preferencelist=("plain",))
        assert old_body is not None
        assert "lan.moi@example.vn" in old_body.get_content()
        # Until it is confirmed, the old address is the account's.
        assert client.get("/api/v1/me", headers=headers).json()["email"] == "lan@example.vn"
        link = link_in(to_new)
        assert link.startswith("https://fablab.example.vn/confirm-email?token=")
        # A sign-up's link cannot confirm an address change (and the reverse).
        assert client.post("/api/v1/auth/verify", json={"token": token_of(link)}).status_code == 422
        page = client.get(urlsplit(link).path + "?" + urlsplit(link).query, headers=HTML)
        assert page.status_code == 200
        assert "lan.moi@example.vn" in page.text
        assert client.get("/api/v1/me", headers=headers).json()["email"] == "lan.moi@example.vn"
        assert client.get(urlsplit(link).path + "?" + urlsplit(link).query, headers=HTML).status_code == 400


def test_the_pages_in_vietnamese(center: Center) -> None:
    with TestClient(center.app, raise_server_exceptions=False) as client:
        signin = client.get("/signin", headers=HTML)
        assert 'href="/signup"' in signin.text
        assert "Tạo tài khoản" in signin.text
        page = client.get("/signup", headers=HTML)
        typed = {"csrf_token": csrf_of(page.text), "name": "Phạm Văn Đức", "email": "duc@example.vn"}
        weak = client.post("/signup", data={**typed, "password": "12345678901"}, headers=HTML)
        assert weak.status_code == 422
        # The refusal stands beside the password, in Vietnamese; what was typed is kept.
        assert 'id="password-error"' in weak.text
        assert "mật khẩu này" in weak.text.lower()
        assert 'value="Phạm Văn Đức"' in weak.text
        assert 'value="duc@example.vn"' in weak.text
        bad = client.post(
            "/signup", data={**typed, "email": "duc-at-example", "password": PASSWORD}, headers=HTML
        )
        assert 'id="email-error"' in bad.text
        assert "không giống một địa chỉ e-mail" in bad.text
        done = client.post("/signup", data={**typed, "password": PASSWORD}, headers=HTML)
        assert done.status_code == 200
        assert "Chúng tôi đã gửi một liên kết tới duc@example.vn" in done.text
        (mail,) = center.deliver()
        confirmed = client.get("/verify-email?token=" + token_of(link_in(mail)), headers=HTML)
        assert "đã được xác nhận" in confirmed.text
        used = client.get("/verify-email?token=" + token_of(link_in(mail)), headers=HTML)
        assert used.status_code == 400
        assert "đã được dùng" in used.text
