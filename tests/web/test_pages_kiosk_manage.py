"""Kiosk actions and the manager's pages over the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.bookings import service
from booking.members.service import load_actor
from booking.models import Booking, BookingStatus, LedgerEntry, LedgerKind, MemberTraining, Resource
from booking.schemas import BookingCreate
from tests.conftest import NOW
from tests.factories import at
from tests.web.pages import HTML, HTMX, Center, form, make_center, sign_in


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _book(session: Session, center: Center, resource: Resource, start: str, end: str) -> Booking:
    actor = load_actor(session, center.member)
    data = BookingCreate(resource_id=resource.id, start=at(start), end=at(end))
    return service.book(session, actor, data, NOW)


class TestKiosk:
    def test_checks_in_by_code(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _book(session, center, center.room, "2027-03-01 09:00", "2027-03-01 10:00")
        sign_in(client, app, center.kiosk)
        response = client.post(
            f"/kiosk/{center.site.id}/check-in", data=form(code=booking.code.lower()), headers=HTMX
        )
        assert response.status_code == 200
        # A passer-by reads the kiosk too: the given name only, never the full name or the e-mail.
        assert "Lan" in response.text
        assert "Nguyễn Thị Lan" not in response.text
        assert center.member.email not in response.text
        assert response.headers["HX-Trigger"] == "kiosk-changed"
        session.refresh(booking)
        assert booking.status is BookingStatus.checked_in

    def test_checks_in_by_card(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _book(session, center, center.room, "2027-03-01 09:00", "2027-03-01 10:00")
        sign_in(client, app, center.kiosk)
        response = client.post(f"/kiosk/{center.site.id}/check-in", data=form(card="04a1b2c3"), headers=HTMX)
        assert response.status_code == 200, response.text
        session.refresh(booking)
        assert booking.status is BookingStatus.checked_in

    def test_an_unknown_card_is_said_in_words(self, client: TestClient, app: FastAPI, center: Center) -> None:
        sign_in(client, app, center.kiosk)
        response = client.post(f"/kiosk/{center.site.id}/check-in", data=form(card="DEADBEEF"), headers=HTMX)
        assert response.status_code == 404
        assert "Không có thành viên nào dùng thẻ DEADBEEF" in response.text

    def test_a_card_with_no_booking_now_is_said_in_words(
        self, client: TestClient, app: FastAPI, center: Center
    ) -> None:
        sign_in(client, app, center.kiosk)
        response = client.post(f"/kiosk/{center.site.id}/check-in", data=form(card="04A1B2C3"), headers=HTMX)
        assert response.status_code == 404
        assert "Lan hiện không có lượt đặt nào ở đây để check-in" in response.text
        assert "Nguyễn Thị Lan" not in response.text

    def test_another_sites_kiosk_cannot_check_in(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _book(session, center, center.room, "2027-03-01 09:00", "2027-03-01 10:00")
        sign_in(client, app, center.other_kiosk)
        response = client.post(
            f"/kiosk/{center.other_site.id}/check-in", data=form(code=booking.code), headers=HTMX
        )
        assert response.status_code == 404
        assert f"Không có lượt đặt nào mang mã {booking.code}" in response.text
        session.refresh(booking)
        assert booking.status is BookingStatus.confirmed

    def test_walk_in_books_the_next_slot_for_the_card_holder(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.kiosk)
        response = client.post(
            f"/kiosk/{center.site.id}/walk-in",
            data=form(card="04A1B2C3", resource_id=center.room.id),
            headers=HTMX,
        )
        assert response.status_code == 200, response.text
        booking = session.exec(select(Booking).where(Booking.member_id == center.member.id)).one()
        assert (booking.start_at, booking.end_at) == (at("2027-03-01 09:00"), at("2027-03-01 09:30"))
        # The member is there, at the kiosk, and the slot starts now: they are checked in.
        assert booking.status is BookingStatus.checked_in

    def test_rooms_show_now_and_next(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        _book(session, center, center.room, "2027-03-01 09:00", "2027-03-01 10:00")
        _book(session, center, center.room, "2027-03-01 13:00", "2027-03-01 14:00")
        sign_in(client, app, center.kiosk)
        html = client.get(f"/kiosk/{center.site.id}/rooms", headers=HTMX).text
        assert "đang dùng đến 10:00" in html
        assert "13:00–14:00" in html


class TestApprovals:
    def _pending(self, session: Session, center: Center) -> Booking:
        center.big_room.requires_approval = True
        session.add(center.big_room)
        session.flush()
        from booking.catalogue.cache import CATALOGUE

        CATALOGUE.invalidate()
        booking = _book(session, center, center.big_room, "2027-03-03 10:00", "2027-03-03 12:00")
        assert booking.status is BookingStatus.pending
        return booking

    def test_the_manager_approves(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = self._pending(session, center)
        sign_in(client, app, center.manager)
        assert f'id="pending-{booking.id}"' in client.get("/manage/approvals", headers=HTML).text
        response = client.post(f"/manage/bookings/{booking.id}/approve", data=form(note="OK"), headers=HTMX)
        assert response.status_code == 200
        assert (
            "Nothing awaits your decision." in response.text or "Không có gì chờ bạn duyệt." in response.text
        )
        session.refresh(booking)
        assert booking.status is BookingStatus.confirmed

    def test_the_manager_declines(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = self._pending(session, center)
        sign_in(client, app, center.manager)
        response = client.post(
            f"/manage/bookings/{booking.id}/reject", data=form(), headers=HTML, follow_redirects=False
        )
        assert response.status_code == 303
        session.refresh(booking)
        assert booking.status is BookingStatus.rejected

    def test_another_sites_manager_finds_nothing(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = self._pending(session, center)
        sign_in(client, app, center.other_manager)
        assert f'id="pending-{booking.id}"' not in client.get("/manage/approvals", headers=HTML).text
        response = client.post(f"/manage/bookings/{booking.id}/approve", data=form(), headers=HTML)
        assert response.status_code == 404
        session.refresh(booking)
        assert booking.status is BookingStatus.pending


class TestTrainings:
    def test_grants_and_revokes(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        sign_in(client, app, center.manager)
        page = client.get("/manage/trainings", headers=HTML).text
        # The member is picked from a list that searches names and e-mails as one types.
        assert 'list="g-members"' in page
        assert f'<option value="{center.member.email}">{center.member.name}</option>' in page
        typo = client.post(
            "/manage/trainings/grant",
            data=form(member="lann@exmaple.vn", training=center.training.id),
            headers=HTML,
        )
        assert typo.status_code == 404
        assert "lann@exmaple.vn" in typo.text
        response = client.post(
            "/manage/trainings/grant",
            data=form(member=center.other_member.email, training=center.training.id),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert session.get(MemberTraining, (center.other_member.id, center.training.id)) is not None
        response = client.post(
            "/manage/trainings/revoke",
            data=form(member=center.other_member.id, training=center.training.id),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert session.get(MemberTraining, (center.other_member.id, center.training.id)) is None


class TestReport:
    def test_booked_used_and_no_shows_per_kind(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        laser = _book(session, center, center.laser, "2027-03-01 10:00", "2027-03-01 12:00")
        laser.status = BookingStatus.completed
        room = _book(session, center, center.room, "2027-03-01 09:00", "2027-03-01 10:00")
        room.status = BookingStatus.no_show
        session.add_all([laser, room])
        # 90 minutes of real machine runtime, as the machines' bridge writes it.
        session.add(
            LedgerEntry(
                member_id=center.member.id,
                quota_group="laser",
                kind=LedgerKind.runtime,
                at=at("2027-03-01 11:00"),
                seconds=5400,
                booking_id=laser.id,
                created_at=NOW,
            )
        )
        session.flush()
        sign_in(client, app, center.manager)
        page = client.get(f"/manage/reports?site={center.site.id}&month=2027-03", headers=HTML)
        assert page.status_code == 200
        response = client.get(f"/manage/reports.csv?site={center.site.id}&month=2027-03")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
        # Headers and kinds are words in the reader's language; numbers keep a dot for decimals.
        by_kind = {row["Loại"]: row for row in rows}
        assert by_kind["Máy"]["Giờ đã đặt"] == "2.00"
        assert by_kind["Máy"]["Giờ đã dùng"] == "1.50"
        assert by_kind["Máy"]["Tỉ lệ vắng mặt"] == "0.0000"
        assert by_kind["Phòng họp"]["Vắng mặt"] == "1"
        assert by_kind["Phòng họp"]["Tỉ lệ vắng mặt"] == "1.0000"
        assert {row["Cơ sở"] for row in rows} == {center.site.name}


class TestSiteBookings:
    def test_lists_the_days_bookings_and_cancels_one(
        self, client: TestClient, app: FastAPI, session: Session, center: Center
    ) -> None:
        booking = _book(session, center, center.room, "2027-03-02 10:00", "2027-03-02 11:00")
        sign_in(client, app, center.manager)
        page = client.get(f"/manage/bookings?site={center.site.id}&day=2027-03-02", headers=HTML)
        assert booking.code in page.text
        assert "Nguyễn Thị Lan" in page.text
        response = client.post(
            f"/manage/bookings/{booking.id}/cancel",
            data=form(back="/manage/bookings?day=2027-03-02"),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.headers["location"] == "/manage/bookings?day=2027-03-02"
        session.refresh(booking)
        assert booking.status is BookingStatus.cancelled
