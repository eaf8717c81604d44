"""A forgotten password (SQLite and PostgreSQL): 202 whether or not the address has an account, an
e-mail with a link that works once, for an hour; using it ends every other session; rate-limited
like sign-ins; the pages in Vietnamese."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.models import Delivery, Member, Role
from tests.factories import make_member
from tests.web.pages import HTML, csrf_of

Auth = Callable[[Member], dict[str, str]]
NEW_PASSWORD = "mây trắng bay qua đồi 2027"


def _token(session: Session, member: Member) -> str:
    (delivery,) = session.exec(select(Delivery).where(Delivery.member_id == member.id)).all()
    assert delivery.kind == "password_reset"
    return parse_qs(urlsplit(delivery.link).query)["token"][0]


def test_a_link_that_works_once_and_ends_other_sessions(
    client: TestClient, auth: Auth, session: Session
) -> None:
    member = make_member(session, email="lan@example.vn")
    old_headers = auth(member)
    assert client.get("/api/v1/me", headers=old_headers).status_code == 200
    asked = client.post("/api/v1/auth/password-reset", json={"email": "LAN@example.vn "})
    assert asked.status_code == 202
    token = _token(session, member)
    weak = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "12345678901"}
    )
    assert weak.status_code == 422
    done = client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.text
    # Every session and token of the account from before ends.
    assert client.get("/api/v1/me", headers=old_headers).status_code == 401
    signed_in = client.post(
        "/api/v1/auth/token", data={"username": "lan@example.vn", "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 200
    again = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_PASSWORD + "!"}
    )
    assert again.status_code == 422
    assert "used already or is no longer valid" in again.json()["detail"]
    forged = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token[:-3] + "abc", "password": NEW_PASSWORD}
    )
    assert forged.status_code == 422


def test_no_hint_whether_an_address_has_an_account(client: TestClient, session: Session) -> None:
    kiosk = make_member(session, role=Role.kiosk, email="kiosk@example.vn")
    for email in ("nobody@example.vn", kiosk.email, "not-even-an-address"):
        answer = client.post("/api/v1/auth/password-reset", json={"email": email})
        assert answer.status_code == 202
        assert answer.json() == {
            "detail": "if the address has an account, an e-mail with a link is on its way"
        }
    assert session.exec(select(Delivery)).all() == []


def test_asking_again_and_again_from_one_address_is_slowed(client: TestClient, session: Session) -> None:
    answers = [
        client.post("/api/v1/auth/password-reset", json={"email": f"x{i}@example.vn"}).status_code
        for i in range(31)
    ]
    assert answers[:30] == [202] * 30
    assert answers[30] == 429


def test_the_pages_in_vietnamese(client: TestClient, app: FastAPI, session: Session) -> None:
    member = make_member(session, email="minh@example.vn")
    signin = client.get("/signin", headers=HTML)
    assert "Quên mật khẩu?" in signin.text
    page = client.get("/forgot-password", headers=HTML)
    sent = client.post(
        "/forgot-password", data={"csrf_token": csrf_of(page.text), "email": "minh@example.vn"}, headers=HTML
    )
    assert "Nếu minh@example.vn có tài khoản" in sent.text
    token = _token(session, member)
    form_page = client.get(f"/reset-password?token={token}", headers=HTML)
    assert "Chọn mật khẩu mới" in form_page.text
    saved = client.post(
        "/reset-password",
        data={"csrf_token": csrf_of(form_page.text), "token": token, "password": NEW_PASSWORD},
        headers=HTML,
    )
    assert saved.status_code == 200
    assert "Mật khẩu của bạn đã được đổi" in saved.text
    used = client.get(f"/reset-password?token={token}", headers=HTML)
    assert used.status_code == 400
    assert "liên kết đặt lại mật khẩu này đã được dùng" in used.text
