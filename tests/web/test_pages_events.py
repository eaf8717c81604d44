"""The events pages over the test client, on SQLite and PostgreSQL: the public calendar (no sign-in,
Vietnamese), an event's page, registering as a member or a guest, the manager's pages (announce,
attendance, CSV), and attendance at the kiosk."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from booking.events import reading as events_reading
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.members.service import load_actor
from booking.models import Event, Registration, RegistrationStatus
from booking.schemas import EventCreate, RegistrationCreate
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import at
from tests.web.pages import HTML, HTMX, Center, csrf_of, form, make_center, sign_in


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _announce(
    session: Session,
    center: Center,
    *,
    capacity: int = 2,
    start: str = "2027-03-02 14:00",
    end: str = "2027-03-02 16:00",
    **extra: object,
) -> Event:
    data = EventCreate.model_validate(
        {
            "site": center.site.id,
            "kind": extra.pop("kind", "workshop"),
            "title": "Thiết kế mạch điện tử",
            "title_en": "Designing circuits",
            "capacity": capacity,
            "sessions": [
                {
                    "resource_id": center.big_room.id,
                    "start": at(start),
                    "end": at(end),
                }
            ],
            **extra,
        }
    )
    return events.create_event(session, load_actor(session, center.manager), data, NOW)


class TestPublic:
    def test_the_calendar_needs_no_sign_in_and_speaks_vietnamese(
        self, client: TestClient, session: Session, center: Center
    ) -> None:
        event = _announce(session, center)
        hidden = _announce(session, center, public=False, start="2027-03-04 09:00", end="2027-03-04 10:00")
        page = client.get("/events", headers=HTML)
        assert page.status_code == 200
        assert "Thiết kế mạch điện tử" in page.text
        assert f"/events/{event.id}" in page.text
        assert f"/events/{hidden.id}" not in page.text
        assert "Còn 2 chỗ" in page.text
        assert "Hội thảo" in page.text
        assert "Th 3, 02/03/2027 14:00–16:00" in page.text  # the day in Vietnamese, not an ISO date
        assert "2027-03-02T" not in page.text

    def test_a_guest_registers_and_sees_the_code(
        self, client: TestClient, session: Session, center: Center
    ) -> None:
        event = _announce(session, center)
        page = client.get(f"/events/{event.id}", headers=HTML)
        assert "Đăng ký với tư cách khách" in page.text
        token = csrf_of(page.text)
        response = client.post(
            f"/events/{event.id}/register",
            data={"csrf_token": token, "name": "Đỗ Hải", "email": "hai@example.vn"},
            headers=HTML,
        )
        assert response.status_code == 200
        registration = session.exec(select(Registration).where(Registration.event_id == event.id)).one()
        assert registration.code in response.text
        assert "Bạn đã đăng ký" in response.text

    def test_a_bad_guest_email_is_said_beside_the_form_keeping_what_was_typed(
        self, client: TestClient, session: Session, center: Center
    ) -> None:
        event = _announce(session, center)
        token = csrf_of(client.get(f"/events/{event.id}", headers=HTML).text)
        response = client.post(
            f"/events/{event.id}/register",
            data={"csrf_token": token, "name": "Đỗ Hải", "email": "hai.example.vn"},
            headers=HTML,
        )
        assert response.status_code == 422
        assert "không phải là địa chỉ e-mail" in response.text
        assert 'value="Đỗ Hải"' in response.text
        assert session.exec(select(Registration)).all() == []


class TestMembers:
    def test_one_click_then_the_waitlist_then_cancel(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        event = _announce(session, center, capacity=1)
        sign_in(client, app, center.other_member)
        client.post(f"/events/{event.id}/register", data=form(), headers=HTML)
        sign_in(client, app, center.member)
        response = client.post(
            f"/events/{event.id}/register", data=form(), headers=HTML, follow_redirects=True
        )
        assert response.status_code == 200
        assert "Sự kiện đã hết chỗ: bạn đang trong danh sách chờ." in response.text
        assert "danh sách chờ, vị trí 1" in response.text
        mine = client.get("/events", headers=HTML)
        assert "Sự kiện của tôi" in mine.text
        # The first registrant gives up: the waiter is seated.
        sign_in(client, app, center.other_member)
        first = session.exec(
            select(Registration).where(Registration.member_id == center.other_member.id)
        ).one()
        client.post(f"/events/{event.id}/registrations/{first.id}/cancel", data=form(), headers=HTML)
        waiter = session.exec(select(Registration).where(Registration.member_id == center.member.id)).one()
        session.refresh(waiter)
        assert waiter.status is RegistrationStatus.registered

    def test_seats_fragment(self, client: TestClient, session: Session, center: Center) -> None:
        event = _announce(session, center, capacity=1)
        event_registrations.register(
            session, load_actor(session, center.member), event.id, RegistrationCreate(), NOW
        )
        fragment = client.get(f"/events/{event.id}/seats", headers=HTMX)
        assert "Hết chỗ" in fragment.text
        assert 'data-seats-left="0"' in fragment.text


class TestManagers:
    def test_announce_from_the_form_then_attendance_and_csv(
        self, client: TestClient, app: FastAPI, session: Session, center: Center, clock: FakeClock
    ) -> None:
        sign_in(client, app, center.manager)
        page = client.get("/manage/events", headers=HTML)
        assert "Thông báo sự kiện" in page.text
        response = client.post(
            "/manage/events",
            data=form(
                title="Lớp STEM cho học sinh",
                kind="class",
                resource_id=center.big_room.id,
                day="2027-03-03",
                start="14:00",
                end="16:00",
                weeks="3",
                capacity="12",
            ),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        event = session.exec(select(Event).where(Event.title == "Lớp STEM cho học sinh")).one()
        assert len(events_reading.sessions_of(session, event)) == 3
        registration = event_registrations.register(
            session, load_actor(session, center.member), event.id, RegistrationCreate(), NOW
        )
        sittings = events_reading.sessions_of(session, event)
        marked = client.post(
            f"/manage/events/{event.id}/attendance",
            data=form(registration_id=registration.id, session_id=sittings[0].id),
            headers=HTML,
            follow_redirects=False,
        )
        assert marked.status_code == 303
        detail = client.get(f"/manage/events/{event.id}", headers=HTML)
        assert "có mặt" in detail.text
        exported = client.get(f"/manage/events/{event.id}/registrations.csv")
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert rows[0] == ["Tên", "E-mail", "Tình trạng", "Thứ tự chờ", "Mã", "Số buổi đã dự", "Đạt"]
        assert rows[1][:3] == ["Nguyễn Thị Lan", center.member.email, "đã đăng ký"]
        assert rows[1][5] == "1"

    def test_a_refused_announcement_keeps_the_form(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        response = client.post(
            "/manage/events",
            data=form(
                title="Đêm gọi vốn",
                kind="event",
                resource_id=center.big_room.id,
                day="2027-03-03",
                start="14:00",
                end="16:00",
                capacity="0",
            ),
            headers=HTML,
        )
        assert response.status_code == 422
        assert "một sự kiện cần ít nhất 1 chỗ" in response.text
        assert 'value="Đêm gọi vốn"' in response.text
        assert session.exec(select(Event)).all() == []

    def test_a_member_cannot_open_the_manager_page(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        event = _announce(session, center)
        sign_in(client, app, center.member)
        assert client.get(f"/manage/events/{event.id}", headers=HTML).status_code == 403


class TestKiosk:
    def test_attendance_by_code_and_card_and_the_day_on_screen(
        self, client: TestClient, app: FastAPI, session: Session, center: Center, clock: FakeClock
    ) -> None:
        event = _announce(session, center, capacity=5)
        lan = event_registrations.register(
            session, load_actor(session, center.member), event.id, RegistrationCreate(), NOW
        )
        minh = event_registrations.register(
            session, load_actor(session, center.other_member), event.id, RegistrationCreate(), NOW
        )
        clock.set(at("2027-03-02 13:50"))
        sign_in(client, app, center.kiosk)
        screen = client.get(f"/kiosk/{center.site.id}", headers=HTML)
        assert "Sự kiện hôm nay" in screen.text
        assert "Thiết kế mạch điện tử" in screen.text
        by_code = client.post(
            f"/kiosk/{center.site.id}/check-in", data=form(code=lan.code.lower()), headers=HTMX
        )
        assert by_code.status_code == 200, by_code.text
        assert "Lan" in by_code.text
        assert "Nguyễn Thị Lan" not in by_code.text
        by_card = client.post(f"/kiosk/{center.site.id}/check-in", data=form(card="04112233"), headers=HTMX)
        assert by_card.status_code == 200, by_card.text
        assert "Minh" in by_card.text
        for registration in (lan, minh):
            assert event_registrations.registration_read(session, registration).attended


class TestCalendars:
    def test_a_sites_public_feed_and_a_members_own_feed(
        self, client: TestClient, session: Session, center: Center
    ) -> None:
        from icalendar import Calendar

        event = _announce(session, center)
        _announce(session, center, public=False, start="2027-03-04 09:00", end="2027-03-04 10:00")
        feed = client.get(f"/sites/{center.site.id}/events.ics")
        assert feed.headers["content-type"].startswith("text/calendar")
        entries = list(Calendar.from_ical(feed.content).walk("VEVENT"))
        assert [str(e["summary"]) for e in entries] == ["Thiết kế mạch điện tử"]
        assert entries[0].decoded("dtstart") == at("2027-03-02 14:00")
        registration = event_registrations.register(
            session, load_actor(session, center.member), event.id, RegistrationCreate(), NOW
        )
        mine = client.get(f"/ical/{center.member.ical_token}.ics")
        own = list(Calendar.from_ical(mine.content).walk("VEVENT"))
        titles = {str(e["summary"]): str(e["description"]) for e in own}
        assert registration.code in titles["Thiết kế mạch điện tử"]
        assert client.get("/sites/nowhere/events.ics").status_code == 404


class TestManagerChanges:
    def test_move_a_session_and_write_to_the_registrants(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        from booking.models import Notification

        event = _announce(session, center)
        event_registrations.register(
            session, load_actor(session, center.member), event.id, RegistrationCreate(), NOW
        )
        (sitting,) = events_reading.sessions_of(session, event)
        sign_in(client, app, center.manager)
        page = client.get(f"/manage/events/{event.id}", headers=HTML)
        assert "Dời buổi" in page.text
        moved = client.post(
            f"/manage/events/{event.id}/sessions/{sitting.id}/move",
            data=form(day="2027-03-03", start="09:00", end="11:00"),
            headers=HTML,
        )
        assert moved.status_code == 200
        assert "Buổi đã được dời" in moved.text
        (now_sitting,) = events_reading.sessions_of(session, event)
        assert now_sitting.start_at == at("2027-03-03 09:00")
        sent = client.post(
            f"/manage/events/{event.id}/message", data=form(text="Nhớ mang laptop"), headers=HTML
        )
        assert "Tin nhắn đã được gửi tới 1 người." in sent.text
        kinds = [
            n.kind
            for n in session.exec(
                select(Notification)
                .where(Notification.member_id == center.member.id)
                .order_by(col(Notification.id))
            )
        ]
        assert kinds == ["event_registered", "event_moved", "event_message"]
