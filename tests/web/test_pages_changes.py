"""Changing bookings from the pages: the change form, a refused move that keeps what was typed, a
series moved to another weekday, a manager cancelling with a reason; Vietnamese and English."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.bookings import service as bookings
from booking.models import Booking, BookingStatus, Closure, Notification
from booking.schemas import BookingCreate
from booking.series import service as series
from tests.conftest import NOW
from tests.factories import actor, at
from tests.web.pages import HTML, Center, form, make_center, sign_in


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _booked(session: Session, center: Center, start: str, end: str, **extra: object) -> Booking:
    ask = BookingCreate.model_validate(
        {"resource_id": center.room.id, "start": at(start), "end": at(end), **extra}
    )
    return bookings.book(session, actor(session, center.member), ask, NOW)


def _stored(session: Session, booking_id: str) -> Booking:
    session.expire_all()
    found = session.get(Booking, booking_id)
    assert found is not None
    return found


class TestChangePage:
    def test_the_booking_page_offers_change_and_a_confirmed_cancel(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.member)
        page = client.get(f"/bookings/{booking.id}", headers=HTML).text
        assert f'href="/bookings/{booking.id}/change">Đổi lịch</a>' in page
        assert "Hủy lượt đặt này? Khung giờ sẽ được chuyển cho người đang chờ kế tiếp." in page

    def test_shows_the_form_with_the_booking_as_it_stands(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.member)
        page = client.get(f"/bookings/{booking.id}/change", headers=HTML)
        assert page.status_code == 200
        assert 'name="day" value="2027-03-02"' in page.text
        assert 'name="start" value="10:00"' in page.text
        assert "<h1>Đổi lịch đặt</h1>" in page.text

    def test_moves_and_says_so(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.member)
        response = client.post(
            f"/bookings/{booking.id}/change",
            data=form(day="2027-03-03", start="14:00", end="15:30"),
            headers=HTML,
        )
        assert response.status_code == 200  # followed the redirect to the booking's page
        assert "Đã đổi lịch cho lượt đặt." in response.text
        moved = _stored(session, booking.id)
        assert (moved.start_at, moved.end_at) == (at("2027-03-03 14:00"), at("2027-03-03 15:30"))

    def test_a_taken_slot_keeps_the_booking_and_what_was_typed(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        other = BookingCreate(
            resource_id=center.room.id, start=at("2027-03-03 14:00"), end=at("2027-03-03 15:00")
        )
        bookings.book(session, actor(session, center.other_member), other, NOW)
        sign_in(client, app, center.member)
        response = client.post(
            f"/bookings/{booking.id}/change",
            data=form(day="2027-03-03", start="14:30", end="15:30"),
            headers=HTML,
        )
        assert response.status_code == 409
        assert "Chưa đổi được" in response.text
        assert 'name="start" value="14:30"' in response.text
        assert 'name="day" value="2027-03-03"' in response.text
        assert _stored(session, booking.id).start_at == at("2027-03-02 10:00")

    def test_in_english_for_an_english_reader(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.member, language="en")
        center.member.language = "en"
        session.add(center.member)
        session.flush()
        page = client.get(f"/bookings/{booking.id}/change", headers=HTML).text
        assert "<h1>Change the booking</h1>" in page

    def test_someone_elses_booking_is_not_found(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.other_member)
        assert client.get(f"/bookings/{booking.id}/change", headers=HTML).status_code == 404
        response = client.post(
            f"/bookings/{booking.id}/change",
            data=form(day="2027-03-03", start="14:00", end="15:00"),
            headers=HTML,
        )
        assert response.status_code == 404
        assert _stored(session, booking.id).start_at == at("2027-03-02 10:00")


class TestChangeSeries:
    def test_moves_the_series_to_another_weekday(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        ask = BookingCreate.model_validate(
            {
                "resource_id": center.room.id,
                "start": at("2027-03-02 10:00"),
                "end": at("2027-03-02 11:00"),
                "rrule": "FREQ=WEEKLY;COUNT=2",
            }
        )
        made = series.book_series(session, actor(session, center.member), ask, NOW)
        first = made.bookings[0]
        sign_in(client, app, center.member)
        response = client.post(
            f"/series/{made.series.id}/change",
            data=form(booking_id=first.id, weekday="3", start="09:00", end="10:00"),
            headers=HTML,
        )
        assert response.status_code == 200
        assert "Đã dời 2 lượt đặt của chuỗi lịch." in response.text
        starts = sorted(_stored(session, b.id).start_at for b in made.bookings)
        assert starts == [at("2027-03-04 09:00"), at("2027-03-11 09:00")]


class TestManagerCancel:
    def test_the_reason_reaches_the_member(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.manager)
        response = client.post(
            f"/manage/bookings/{booking.id}/cancel",
            data=form(note="the projector is broken", back="/manage/bookings"),
            headers=HTML,
        )
        assert response.status_code == 200
        assert _stored(session, booking.id).status is BookingStatus.cancelled
        told = session.exec(
            select(Notification).where(
                Notification.member_id == center.member.id, Notification.kind != "confirmed"
            )
        ).one()
        assert told.message.endswith(": the projector is broken")


class TestClosureConfirmation:
    def test_lists_the_bookings_then_cancels_them_on_the_admins_word(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _booked(session, center, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.admin)
        fields = {"start_day": "2027-03-02", "end_day": "2027-03-02", "reason": "Sửa điện"}
        first = client.post(f"/admin/sites/{center.site.id}/closures", data=form(**fields), headers=HTML)
        assert first.status_code == 200
        assert "Lịch đóng cửa này trùng với 1 lượt đặt" in first.text
        assert center.member.name in first.text
        assert session.exec(select(Closure)).first() is None
        second = client.post(
            f"/admin/sites/{center.site.id}/closures", data=form(**fields, on_bookings="cancel"), headers=HTML
        )
        assert second.status_code == 200
        assert "Đã hủy 1 lượt đặt và báo cho các thành viên." in second.text
        assert _stored(session, booking.id).status is BookingStatus.cancelled
        assert session.exec(select(Closure)).one().reason == "Sửa điện"

    def test_without_bookings_it_is_saved_at_once(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.admin)
        fields = {"start_day": "2027-03-09", "end_day": "2027-03-09", "reason": "Tổng vệ sinh"}
        response = client.post(f"/admin/sites/{center.site.id}/closures", data=form(**fields), headers=HTML)
        assert response.status_code == 200
        assert session.exec(select(Closure)).one().reason == "Tổng vệ sinh"


class TestBookingForm:
    def _fields(self, center: Center, **extra: object) -> dict[str, object]:
        return form(resource_id=center.room.id, day="2027-03-02", start="10:00", minutes=60, **extra)

    def test_a_refused_series_keeps_what_was_typed(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        other = BookingCreate(
            resource_id=center.room.id, start=at("2027-03-09 10:00"), end=at("2027-03-09 11:00")
        )
        bookings.book(session, actor(session, center.other_member), other, NOW)
        sign_in(client, app, center.member)
        response = client.post(
            "/bookings",
            data=self._fields(center, repeat="weekly", weekdays=[1], ends="count", count=3, note="Họp nhóm"),
            headers={"Accept": "text/html", "HX-Request": "true"},
        )
        assert response.status_code == 409
        assert 'id="bk-repeat" name="repeat" value="weekly" checked' in response.text
        assert 'name="count" value="3"' in response.text
        assert 'value="Họp nhóm"' in response.text
        assert session.exec(select(Booking).where(Booking.member_id == center.member.id)).first() is None

    def test_a_manager_books_for_a_member_by_email(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        response = client.post(
            "/bookings",
            data=self._fields(center, member=center.member.email),
            headers={"Accept": "text/html", "HX-Request": "true"},
        )
        assert response.status_code == 201
        made = session.exec(select(Booking)).one()
        assert (made.member_id, made.booked_by) == (center.member.id, center.manager.id)

    def test_a_member_cannot_book_for_another(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.other_member)
        page = client.get(
            f"/resources/{center.room.id}/slot", params={"start": at("2027-03-02 10:00").isoformat()}
        )
        assert 'name="member"' not in page.text
        response = client.post(
            "/bookings",
            data=self._fields(center, member=center.member.email),
            headers={"Accept": "text/html", "HX-Request": "true"},
        )
        assert response.status_code == 403
        assert session.exec(select(Booking)).first() is None
