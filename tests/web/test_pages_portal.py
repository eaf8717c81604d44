"""The member portal over the test client: sign in, grid, book, refusals in words, my bookings, iCal."""

from __future__ import annotations

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlmodel import Session, col, func, select

from booking.models import Booking, BookingStatus, Member, WaitlistEntry
from tests.clock import FakeClock
from tests.factories import PASSWORD, at, hours
from tests.web.pages import CSRF, HTML, HTMX, Center, csrf_of, form, make_center, sign_in


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _count(session: Session, member: Member | None = None) -> int:
    query = select(func.count()).select_from(Booking)
    if member is not None:
        query = query.where(Booking.member_id == member.id)
    return int(session.exec(query).one())


def _book(
    client: TestClient, resource_id: str, day: str, start: str, minutes: int, **extra: object
) -> httpx2.Response:
    return client.post(
        "/bookings",
        data=form(resource_id=resource_id, day=day, start=start, minutes=minutes, **extra),
        headers=HTMX,
    )


class TestSignIn:
    def test_signs_in_with_the_form_and_lands_on_the_catalogue(
        self, client: TestClient, center: Center
    ) -> None:
        page = client.get("/signin", headers=HTML)
        assert page.status_code == 200
        response = client.post(
            "/signin",
            data={"email": center.member.email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        assert "secure" not in cookie
        assert client.get("/bookings", headers=HTML).status_code == 200

    def test_goes_back_to_the_page_asked_for(self, client: TestClient, center: Center) -> None:
        page = client.get("/signin?next=/me", headers=HTML)
        response = client.post(
            "/signin",
            data={
                "email": center.member.email,
                "password": PASSWORD,
                "next": "/me",
                "csrf_token": csrf_of(page.text),
            },
            headers=HTML,
            follow_redirects=False,
        )
        assert response.headers["location"] == "/me"

    def test_refuses_an_off_site_next(self, client: TestClient, center: Center) -> None:
        page = client.get("/signin", headers=HTML)
        response = client.post(
            "/signin",
            data={
                "email": center.member.email,
                "password": PASSWORD,
                "next": "//evil.example/",
                "csrf_token": csrf_of(page.text),
            },
            headers=HTML,
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"

    def test_wrong_password_is_said_in_words_then_rate_limited(
        self, client: TestClient, center: Center
    ) -> None:
        token = csrf_of(client.get("/signin", headers=HTML).text)
        for _ in range(5):
            response = client.post(
                "/signin",
                data={"email": center.member.email, "password": "wrong", "csrf_token": token},
                headers=HTML,
            )
            assert response.status_code == 401
            assert "E-mail hoặc mật khẩu không đúng" in response.text
        response = client.post(
            "/signin",
            data={"email": center.member.email, "password": PASSWORD, "csrf_token": token},
            headers=HTML,
        )
        assert response.status_code == 429
        assert f"Đăng nhập sai quá nhiều lần với {center.member.email}" in response.text

    def test_sign_out_ends_the_session(self, client: TestClient, app: FastAPI, center: Center) -> None:
        sign_in(client, app, center.member)
        response = client.post("/signout", data=form(), headers=HTML, follow_redirects=False)
        assert response.status_code == 303
        assert client.get("/bookings", headers=HTML, follow_redirects=False).status_code == 303

    def test_a_copied_cookie_stops_working_at_sign_out(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        """Found by an outside test: a cookie copied before signing out still worked for 30 days."""
        sign_in(client, app, center.member)
        copied = client.cookies.get("fablab_session")
        assert copied
        assert client.post("/signout", data=form(), headers=HTML, follow_redirects=False).status_code == 303
        client.cookies.clear()
        client.cookies.set("fablab_session", copied)
        assert client.get("/bookings", headers=HTML, follow_redirects=False).status_code == 303
        assert client.get("/api/v1/me").status_code == 401

    def test_sign_out_is_not_a_get(self, client: TestClient, app: FastAPI, center: Center) -> None:
        sign_in(client, app, center.member)
        assert client.get("/signout", headers=HTML).status_code == 405
        assert client.get("/bookings", headers=HTML).status_code == 200

    def test_a_new_password_ends_page_sessions(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        from booking.members import service

        sign_in(client, app, center.member)
        service.set_password(session, center.member, "another password")
        assert client.get("/bookings", headers=HTML, follow_redirects=False).status_code == 303


class TestGrid:
    def test_marks_free_taken_and_mine(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        assert _book(client, center.room.id, "2027-03-02", "10:00", 60).status_code == 201
        sign_in(client, app, center.other_member)
        assert _book(client, center.room.id, "2027-03-02", "14:00", 60).status_code == 201
        sign_in(client, app, center.member)
        html = client.get(f"/resources/{center.room.id}/grid?day=2027-03-02&view=day", headers=HTMX).text
        assert f'class="slot mine" title="của bạn" data-start="{at("2027-03-02 10:00").isoformat()}"' in html
        assert f'data-start="{at("2027-03-02 14:00").isoformat()}" aria-label' in html
        assert 'class="slot taken"' in html
        assert 'class="slot free"' in html

    def test_a_slot_click_opens_the_booking_panel(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        start = at("2027-03-02 10:00").isoformat().replace("+", "%2B")
        html = client.get(f"/resources/{center.room.id}/slot?start={start}", headers=HTMX).text
        assert 'name="start" value="10:00"' in html
        assert 'name="day" value="2027-03-02"' in html
        assert '<button type="submit">Đặt chỗ</button>' in html


class TestBook:
    def test_books_and_shows_the_code(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = _book(client, center.room.id, "2027-03-02", "10:00", 90)
        assert response.status_code == 201, response.text
        booking = session.exec(select(Booking).where(Booking.member_id == center.member.id)).one()
        assert (booking.start_at, booking.end_at) == (at("2027-03-02 10:00"), at("2027-03-02 11:30"))
        assert booking.code in response.text
        assert response.headers["HX-Trigger"] == "booked"

    def test_without_htmx_goes_to_my_bookings(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            "/bookings",
            data=form(resource_id=center.room.id, day="2027-03-02", start="10:00", minutes=60),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/bookings"
        assert _count(session, center.member) == 1

    def test_overlap_is_refused_with_the_taken_slot_named(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.other_member)
        _book(client, center.room.id, "2027-03-02", "10:00", 60)
        sign_in(client, app, center.member)  # the account's language: Vietnamese, the default
        response = _book(client, center.room.id, "2027-03-02", "10:30", 60)
        assert response.status_code == 409
        assert "Khung giờ này đã kín" in response.text
        assert "This slot is taken" not in response.text
        assert f"{center.room.name} đã có người đặt 10:00–11:00 thứ Ba 02/03" in response.text
        assert "/waitlist" in response.text  # the panel offers the waitlist
        assert _count(session, center.member) == 0

    def test_outside_opening_hours_is_refused_in_words(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = _book(client, center.room.id, "2027-03-02", "17:30", 60)
        assert response.status_code == 422
        assert "mở cửa 08:00–18:00 vào thứ Ba; 17:30–18:30 thứ Ba 02/03" in response.text
        assert _count(session) == 0

    def test_quota_is_refused_in_words(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        assert _book(client, center.room.id, "2027-03-02", "08:00", 240).status_code == 201
        response = _book(client, center.room.id, "2027-03-03", "08:00", 60)
        assert response.status_code == 403
        assert (
            "Gói của bạn cho phép 4 giờ phòng họp mỗi tuần; bạn đã đặt 4 giờ và đang yêu cầu thêm 1 giờ"
            in (response.text)
        )
        assert _count(session) == 1

    def test_missing_training_is_refused_in_words(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.other_member)
        response = _book(client, center.laser.id, "2027-03-02", "10:00", 60)
        assert response.status_code == 403
        assert "Laser 1 yêu cầu chứng nhận huấn luyện" in response.text
        assert _count(session) == 0

    def test_refusal_without_htmx_shows_the_page_with_the_reason(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            "/bookings",
            data=form(resource_id=center.room.id, day="2027-03-07", start="10:00", minutes=60),
            headers=HTML,
        )
        assert response.status_code == 422
        assert "đóng cửa vào Chủ Nhật" in response.text
        assert "<!doctype html>" in response.text

    def test_weekly_series_books_each_date(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        response = _book(
            client,
            center.big_room.id,
            "2027-03-02",
            "09:00",
            120,
            repeat="weekly",
            weekdays=[1, 3],
            ends="count",
            count=4,
        )
        assert response.status_code == 201, response.text
        bookings = session.exec(
            select(Booking).where(Booking.member_id == center.manager.id).order_by(col(Booking.start_at))
        ).all()
        assert [b.start_at for b in bookings] == [
            at("2027-03-02 09:00"),
            at("2027-03-04 09:00"),
            at("2027-03-09 09:00"),
            at("2027-03-11 09:00"),
        ]
        assert len({b.series_id for b in bookings}) == 1

    def test_weekly_series_until_a_date(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        response = _book(
            client,
            center.big_room.id,
            "2027-03-03",
            "09:00",
            60,
            repeat="weekly",
            ends="until",
            until="2027-03-17",
        )
        assert response.status_code == 201, response.text
        assert _count(session, center.manager) == 3

    def test_desk_pool_books_seats(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        assert _book(client, center.desks.id, "2027-03-02", "10:00", 60, seats=3).status_code == 201
        booking = session.exec(select(Booking).where(Booking.resource_id == center.desks.id)).one()
        assert booking.seats == 3


class TestWaitlist:
    def test_joins_the_waitlist_for_a_taken_slot(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.other_member)
        _book(client, center.room.id, "2027-03-02", "10:00", 60)
        sign_in(client, app, center.member)
        response = client.post(
            "/waitlist",
            data=form(
                resource_id=center.room.id,
                start=at("2027-03-02 10:00").isoformat(),
                end=at("2027-03-02 11:00").isoformat(),
            ),
            headers=HTMX,
        )
        assert response.status_code == 201, response.text
        entry = session.exec(select(WaitlistEntry).where(WaitlistEntry.member_id == center.member.id)).one()
        assert entry.start_at == at("2027-03-02 10:00")
        page = client.get("/bookings", headers=HTML).text
        assert f"/waitlist/{entry.id}/leave" in page

    def test_a_free_slot_is_booked_not_waited_for(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            "/waitlist",
            data=form(
                resource_id=center.room.id,
                start=at("2027-03-02 10:00").isoformat(),
                end=at("2027-03-02 11:00").isoformat(),
            ),
            headers=HTMX,
        )
        assert response.status_code == 422
        assert "bạn có thể đặt ngay" in response.text


class TestMyBookings:
    def test_lists_upcoming_and_cancels(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        _book(client, center.room.id, "2027-03-02", "10:00", 60)
        booking = session.exec(select(Booking)).one()
        page = client.get("/bookings", headers=HTML).text
        assert booking.code in page
        response = client.post(f"/bookings/{booking.id}/cancel", data=form(), headers=HTMX)
        assert response.status_code == 200
        session.refresh(booking)
        assert booking.status is BookingStatus.cancelled
        assert 'id="my-bookings"' in response.text

    def test_another_members_booking_is_not_found(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.other_member)
        _book(client, center.room.id, "2027-03-02", "10:00", 60)
        booking = session.exec(select(Booking)).one()
        sign_in(client, app, center.member)
        assert client.get(f"/bookings/{booking.id}", headers=HTML).status_code == 404
        response = client.post(f"/bookings/{booking.id}/cancel", data=form(), headers=HTML)
        assert response.status_code == 404
        assert "Không tìm thấy lượt đặt này" in response.text
        session.refresh(booking)
        assert booking.status is BookingStatus.confirmed

    def test_checks_in_when_the_window_opens(
        self, client: TestClient, app: FastAPI, session: Session, center: Center, clock: FakeClock
    ) -> None:
        sign_in(client, app, center.member)
        _book(client, center.room.id, "2027-03-01", "10:00", 60)
        booking = session.exec(select(Booking)).one()
        too_soon = client.post(f"/bookings/{booking.id}/check-in", data=form(), headers=HTMX)
        assert too_soon.status_code == 422
        # In the page's language (Vietnamese), with the local day as Vietnamese write it.
        assert "Check-in cho lượt 10:00–11:00 thứ Hai 01/03" in too_soon.text
        assert "mở lúc 09:45, 15 phút trước giờ bắt đầu" in too_soon.text
        clock.advance(hours(0.8))
        assert client.post(f"/bookings/{booking.id}/check-in", data=form(), headers=HTMX).status_code == 200
        session.refresh(booking)
        assert booking.status is BookingStatus.checked_in

    def test_cancels_a_whole_series(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        _book(client, center.big_room.id, "2027-03-02", "09:00", 60, repeat="weekly", ends="count", count=3)
        series_id = session.exec(select(Booking.series_id)).first()
        response = client.post(f"/series/{series_id}/cancel", data=form(), headers=HTMX)
        assert response.status_code == 200
        statuses = session.exec(select(Booking.status)).all()
        assert statuses == [BookingStatus.cancelled] * 3


class TestSearch:
    def test_finds_the_rooms_that_fit_and_are_free(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.get("/search?people=6&day=2027-03-02&start=14:00&end=16:00", headers=HTMX)
        assert response.status_code == 200
        assert f'id="found-{center.room.id}"' in response.text
        assert f'id="found-{center.big_room.id}"' in response.text
        assert f'id="found-{center.desks.id}"' in response.text
        # The snuggest room first.
        assert response.text.index(center.room.id) < response.text.index(center.big_room.id)

    def test_leaves_out_rooms_too_small_or_taken(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.other_member)
        _book(client, center.room.id, "2027-03-02", "14:00", 60)
        sign_in(client, app, center.member)
        taken = client.get("/search?people=2&day=2027-03-02&start=14:00&end=16:00", headers=HTMX).text
        assert f'id="found-{center.room.id}"' not in taken
        too_many = client.get("/search?people=12&day=2027-03-02&start=10:00&end=11:00", headers=HTMX).text
        assert f'id="found-{center.room.id}"' not in too_many
        assert f'id="found-{center.big_room.id}"' in too_many


class TestMyAccount:
    def test_shows_quota_meters_and_trainings(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        # A signed-in member reads pages in their account's language.
        center.member.language = "en"
        session.add(center.member)
        session.flush()
        sign_in(client, app, center.member)
        _book(client, center.room.id, "2027-03-02", "10:00", 90)
        page = client.get("/me", headers=HTML).text
        assert "meeting-rooms" in page
        assert "1.5 / 4 h" in page
        assert "1,5 / 4 giờ" not in page
        assert center.training.name in page
        assert f"/ical/{center.member.ical_token}.ics" in page

    def test_a_new_calendar_address_retires_the_old(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        old = center.member.ical_token
        sign_in(client, app, center.member)
        response = client.post("/me/ical", data=form(), headers=HTML, follow_redirects=False)
        assert response.status_code == 303
        session.refresh(center.member)
        assert center.member.ical_token != old
        assert client.get(f"/ical/{old}.ics").status_code == 404

    def test_language_is_remembered_on_the_account(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        response = client.post(
            "/language", data=form(lang="en", next="/me"), headers=HTML, follow_redirects=False
        )
        assert response.headers["location"] == "/me"
        session.refresh(center.member)
        assert center.member.language == "en"


class TestCalendarFeed:
    def test_feed_lists_bookings_without_a_session(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.member)
        _book(client, center.room.id, "2027-03-02", "10:00", 60)
        booking = session.exec(select(Booking)).one()
        client.cookies.clear()
        response = client.get(f"/ical/{center.member.ical_token}.ics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/calendar")
        calendar = Calendar.from_ical(response.content)
        events = calendar.walk("VEVENT")
        assert [str(e["uid"]) for e in events] == [f"{booking.id}@fablab-hub"]
        assert events[0].decoded("dtstart") == at("2027-03-02 10:00")
        assert booking.code in str(events[0]["description"])

    def test_an_unknown_token_is_not_found(self, client: TestClient) -> None:
        response = client.get("/ical/not-a-real-token-0123456789.ics")
        assert response.status_code == 404
        assert response.text == "not found\n"
        assert "BEGIN:VCALENDAR" not in response.text


def test_csrf_token_in_session_is_what_pages_embed(client: TestClient, app: FastAPI, center: Center) -> None:
    sign_in(client, app, center.member)
    assert csrf_of(client.get("/bookings", headers=HTML).text) == CSRF
