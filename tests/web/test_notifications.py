"""The in-app inbox (SQLite and PostgreSQL): notifications read in the reader's language over the API
and on a page, the bell's unread count, marking one or all read (only one's own)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from booking.messages import Slot, message
from booking.models import Member
from booking.notifications import notify
from tests.conftest import NOW
from tests.factories import at, make_member
from tests.web.pages import HTML, HTMX, form, sign_in

Auth = Callable[[Member], dict[str, str]]


def _told(session: Session, member: Member) -> None:
    said = message(
        "A seat freed up: you are registered for {event} ({slot}); your code is {code}",
        event="Đêm gọi vốn",
        slot=Slot(at("2027-03-12 18:30"), at("2027-03-12 20:30"), "Asia/Ho_Chi_Minh"),
        code="ABCD2345",
    )
    notify(session, member.id, "event_promoted", said, now=NOW)
    notify(
        session,
        member.id,
        "event_message",
        message("About {event}: {text}", event="Đêm gọi vốn", text="Mang laptop"),
        now=NOW,
    )
    session.flush()


def test_the_api_speaks_the_readers_language_and_marks_read(
    client: TestClient, auth: Auth, session: Session
) -> None:
    member = make_member(session)
    other = make_member(session)
    _told(session, member)
    _told(session, other)
    vi = client.get("/api/v1/me/notifications", headers=auth(member)).json()
    # Newest first (the message was written after the promotion).
    assert [n["title"] for n in vi] == ["Tin nhắn về sự kiện của bạn", "Đã có chỗ cho bạn"]
    promoted = next(n for n in vi if n["kind"] == "event_promoted")
    assert promoted["body"].startswith(
        "Vừa có chỗ trống: bạn đã được đăng ký tham gia Đêm gọi vốn (18:30–20:30"
    )
    assert promoted["read_at"] is None
    en = client.get("/api/v1/me/notifications", headers={**auth(member), "Accept-Language": "en"}).json()
    assert next(n for n in en if n["kind"] == "event_promoted")["title"] == "A seat freed up for you"
    # Another member's notification is not mine to mark.
    theirs = client.get("/api/v1/me/notifications", headers=auth(other)).json()[0]["id"]
    assert client.post(f"/api/v1/me/notifications/{theirs}/read", headers=auth(member)).json() == {
        "marked": 0
    }
    assert client.post(f"/api/v1/me/notifications/{promoted['id']}/read", headers=auth(member)).json() == {
        "marked": 1
    }
    assert client.post("/api/v1/me/notifications/read", headers=auth(member)).json() == {"marked": 1}
    assert all(n["read_at"] for n in client.get("/api/v1/me/notifications", headers=auth(member)).json())
    assert not any(n["read_at"] for n in client.get("/api/v1/me/notifications", headers=auth(other)).json())


def test_the_bell_and_the_page(client: TestClient, app: FastAPI, session: Session) -> None:
    member = make_member(session)
    _told(session, member)
    sign_in(client, app, member)
    home = client.get("/", headers=HTML)
    assert 'hx-get="/notifications/bell"' in home.text
    bell = client.get("/notifications/bell", headers=HTMX)
    assert 'data-unread="2"' in bell.text
    page = client.get("/notifications", headers=HTML)
    assert "Đã có chỗ cho bạn" in page.text
    assert "Về Đêm gọi vốn: Mang laptop" in page.text
    client.post("/notifications/read", data=form(), headers=HTML)
    assert "data-unread" not in client.get("/notifications/bell", headers=HTMX).text


def test_unsubscribe_from_a_kind_without_signing_in(
    client: TestClient, app: FastAPI, session: Session
) -> None:
    from booking.messages import Message
    from web.mail import Outgoing, compose

    member = make_member(session)
    settings = app.state.settings
    mail = compose(
        Outgoing(
            id="d1",
            kind="reminder",
            member_id=member.id,
            to_address=member.email,
            name=member.name,
            language="vi",
            message=Message("Reminder"),
            link="",
            attempts=1,
        ),
        settings,
        NOW,
    )
    link = mail["List-Unsubscribe"].strip("<>")
    path = link[link.index("/unsubscribe") :]
    page = client.get(path, headers=HTML)
    assert "Ngừng nhận e-mail loại “Nhắc lịch”?" in page.text
    token = path.split("token=")[1]
    from tests.web.pages import csrf_of

    done = client.post("/unsubscribe", data={"csrf_token": csrf_of(page.text), "token": token}, headers=HTML)
    assert "sẽ không gửi qua e-mail nữa" in done.text
    session.refresh(member)
    assert member.email_off == ["reminder"]
    # The password reset has no such link: it is always sent.
    essential = compose(
        Outgoing(
            id="d2",
            kind="password_reset",
            member_id=member.id,
            to_address=member.email,
            name=member.name,
            language="vi",
            message=Message("Reminder"),
            link="",
            attempts=1,
        ),
        settings,
        NOW,
    )
    assert essential["List-Unsubscribe"] is None
    forged = client.get(path[:-4] + "abcd", headers=HTML)
    assert forged.status_code == 400


def test_choices_on_my_account(client: TestClient, app: FastAPI, session: Session) -> None:
    member = make_member(session)
    sign_in(client, app, member)
    me = client.get("/me", headers=HTML)
    assert 'name="email_reminder"' in me.text
    client.post("/me/email", data=form(email_reminder="on"), headers=HTML)
    session.refresh(member)
    assert "reminder" not in (member.email_off or [])
    assert "event_message" in (member.email_off or [])
