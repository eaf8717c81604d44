"""Journeys in real headless Chromium against a real server on the demo center.

The demo center and the browser are fixtures of tests/e2e/conftest.py; screenshots of every page
visited go to test-output/screenshots/ for review.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import Session, select

from booking.bookings import service
from booking.members import service as members
from booking.models import Booking, BookingStatus
from booking.schemas import BookingCreate
from tests.e2e.support import TIMEOUT_MS, Center, shot, sign_in, slot
from tests.factories import at
from web.db import session_scope

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class TestMemberJourney:
    def test_books_sees_conflict_and_cancels(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        page.goto(f"{center.url}/signin")
        shot(page, "01-signin")
        sign_in(page, center, "lan@fablab.local")
        expect(page.locator("h1")).to_have_text("Bạn muốn đặt gì?")
        shot(page, "02-catalogue")

        # Click one: a free slot opens the booking panel; click two: book it.
        page.goto(f"{center.url}/resources/meeting-2?day=2027-03-02")
        page.click(slot("2027-03-02 10:00"))
        expect(page.locator("#panel form#booking-form")).to_be_visible()
        page.select_option("#bk-minutes", "60")
        shot(page, "03-resource-panel")
        page.click("#booking-form button[type=submit]")
        expect(page.locator("#panel .notice")).to_contain_text("Mã check-in")
        code = page.locator("#panel .code").first.inner_text()
        # The grid refreshed itself: the slot is now marked as the member's own.
        expect(page.locator(f".slot.mine{slot('2027-03-02 10:00')}")).to_be_visible()
        shot(page, "04-booked")

        page.click("nav a[href='/bookings']")
        expect(page.locator("#my-bookings")).to_contain_text(code)
        expect(page.locator("#my-bookings")).to_contain_text("Phòng họp 2")
        shot(page, "05-my-bookings")

        # An overlapping slot: 09:00 for two hours runs into the 10:00 booking.
        page.goto(f"{center.url}/resources/meeting-2?day=2027-03-02")
        page.click(slot("2027-03-02 09:00"))
        page.select_option("#bk-minutes", "120")
        page.click("#booking-form button[type=submit]")
        refusal = page.locator("#panel .error-box")
        expect(refusal).to_contain_text("Khung giờ này đã kín")
        expect(refusal).to_contain_text("Bạn đã đặt Phòng họp 2 10:00–11:00 thứ Ba 02/03")
        shot(page, "06-conflict")

        page.goto(f"{center.url}/bookings")
        # Cancelling asks first: the button opens a confirmation, which does it.
        page.click(f"#my-bookings article:has-text('{code}') summary.danger")
        expect(page.locator(f"#my-bookings article:has-text('{code}') details.confirm form")).to_contain_text(
            "Hủy lượt đặt này?"
        )
        page.click(f"#my-bookings article:has-text('{code}') details.confirm button.danger")
        expect(page.locator("#my-bookings .notice")).to_contain_text("Đã hủy lượt đặt.")
        expect(page.locator("#my-bookings")).to_contain_text("Không có lượt đặt sắp tới.")
        shot(page, "07-cancelled")
        with Session(center.engine) as session:
            booking = session.exec(select(Booking).where(Booking.code == code)).one()
            assert booking.status is BookingStatus.cancelled

    def test_finds_a_room_and_reads_the_account_page(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "team@fablab.local")  # an English-speaking member
        expect(page.locator("h1")).to_have_text("What would you like to book?")
        page.goto(f"{center.url}/search")
        page.fill("#s-people", "6")
        page.fill("#s-day", "2027-03-02")
        page.fill("#s-start", "14:00")
        page.fill("#s-end", "16:00")
        page.click("form[action='/search'] button[type=submit]")
        expect(page.locator("#results")).to_contain_text("places are free")
        expect(page.locator("#found-group-1")).to_be_visible()
        shot(page, "08-search")
        page.click("#found-group-1 button[type=submit]")
        expect(page.locator("#book-group-1 .notice")).to_contain_text("Check-in code")
        shot(page, "09-search-booked")
        page.goto(f"{center.url}/me")
        expect(page.locator("h2", has_text="My quotas")).to_be_visible()
        expect(page.locator("#feed-url")).to_have_value(re.compile(r"/ical/.+\.ics$"))
        shot(page, "10-account")


class TestKioskJourney:
    def test_checks_a_booking_in_by_code(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        with session_scope(center.engine) as session:
            member = members.find_member(session, "minh@fablab.local")
            actor = members.load_actor(session, member)
            now = center.clock()
            booking = service.book(
                session,
                actor,
                BookingCreate(
                    resource_id="group-1", start=at("2027-03-01 09:00"), end=at("2027-03-01 10:00")
                ),
                now,
            )
            code = booking.code

        sign_in(page, center, "kiosk@fablab.local")
        expect(page).to_have_url(f"{center.url}/kiosk/biic")
        page.set_viewport_size({"width": 1920, "height": 1080})
        expect(page.locator("#rooms")).to_contain_text("Phòng làm việc nhóm 1")
        shot(page, "11-kiosk")
        page.fill("#k-code", code.lower())
        page.click("form[hx-post$='/check-in']:has(#k-code) button[type=submit]")
        expect(page.locator("#kiosk-result .result.ok")).to_contain_text("bạn đã check-in")
        # The rooms and walk-in lists refresh after the check-in; the result stays where it is.
        expect(page.locator("#rooms")).to_contain_text("đang dùng đến 10:00")
        expect(page.locator("#kiosk-result .result.ok")).to_contain_text("bạn đã check-in")
        shot(page, "12-kiosk-checked-in")
        with Session(center.engine) as session:
            stored = session.exec(select(Booking).where(Booking.code == code)).one()
            assert stored.status is BookingStatus.checked_in

        page.fill("#k-code", "ZZZZ2222")
        page.click("form[hx-post$='/check-in']:has(#k-code) button[type=submit]")
        expect(page.locator("#kiosk-result .result.fail")).to_contain_text(
            "Không có lượt đặt nào mang mã ZZZZ2222"
        )

    def test_shows_a_lost_server_and_recovers_by_itself(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "kiosk@fablab.local")
        banner = page.locator(".connection")
        expect(banner).to_be_hidden()
        # A refresh while the network is gone: the screen says so instead of freezing silently.
        page.context.set_offline(True)
        page.evaluate("htmx.trigger(document.body, 'kiosk-changed')")
        expect(banner).to_be_visible()
        shot(page, "13-kiosk-offline")
        # The next refresh that gets an answer clears the banner, with no one touching the screen.
        page.context.set_offline(False)
        page.evaluate("htmx.trigger(document.body, 'kiosk-changed')")
        expect(banner).to_be_hidden()

    def test_cannot_open_member_pages(self, page: Any, center: Center) -> None:
        sign_in(page, center, "kiosk@fablab.local")
        response = page.goto(f"{center.url}/bookings")
        assert response is not None
        assert response.status == 403


class TestManagerAndAdminPages:
    def test_every_manager_and_admin_page_renders(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "admin@fablab.local")
        for name, path in [
            ("14-manage", "/manage"),
            ("15-approvals", "/manage/approvals"),
            ("16-site-bookings", "/manage/bookings?day=2027-03-02"),
            ("17-trainings", "/manage/trainings"),
            ("18-report", "/manage/reports?month=2027-03"),
            ("19-admin", "/admin"),
            ("20-admin-sites", "/admin/sites"),
            ("21-admin-site", "/admin/sites/biic"),
            ("22-admin-resources", "/admin/resources"),
            ("23-admin-resource", "/admin/resources/laser-1"),
            ("24-admin-plans", "/admin/plans"),
            ("25-admin-members", "/admin/members"),
            ("32-machine-board", "/manage/machines"),
            ("33-alerts", "/manage/alerts?show=all"),
            ("34-maintenance", "/manage/maintenance"),
            ("35-machine", "/manage/machines/laser-1?days=30"),
        ]:
            response = page.goto(f"{center.url}{path}")
            assert response is not None
            assert response.status == 200, path
            expect(page.locator("h1")).to_be_visible()
            shot(page, name)

    def test_phone_sized_catalogue(self, browser: Any, center: Center) -> None:
        from playwright.sync_api import expect

        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        try:
            phone = context.new_page()
            phone.set_default_timeout(TIMEOUT_MS)
            sign_in(phone, center, "minh@fablab.local")
            expect(phone.locator("h1")).to_be_visible()
            shot(phone, "26-phone-catalogue")
            phone.goto(f"{center.url}/resources/meeting-1?view=day&day=2027-03-02")
            shot(phone, "27-phone-day-grid")
        finally:
            context.close()


class TestChangeJourney:
    def test_moves_a_booking_and_keeps_the_form_when_the_slot_is_taken(
        self, page: Any, center: Center
    ) -> None:
        from playwright.sync_api import expect

        with session_scope(center.engine) as session:
            lan = members.find_member(session, "lan@fablab.local")
            minh = members.find_member(session, "minh@fablab.local")
            ask = BookingCreate(
                resource_id="meeting-2", start=at("2027-03-05 09:00"), end=at("2027-03-05 10:00")
            )
            booking = service.book(session, members.load_actor(session, lan), ask, center.clock())
            taken = BookingCreate(
                resource_id="meeting-2", start=at("2027-03-05 15:00"), end=at("2027-03-05 16:00")
            )
            service.book(session, members.load_actor(session, minh), taken, center.clock())
            booking_id = booking.id

        sign_in(page, center, "lan@fablab.local")
        page.goto(f"{center.url}/bookings/{booking_id}")
        page.click("a:has-text('Đổi lịch')")
        expect(page.locator("h1")).to_have_text("Đổi lịch đặt")
        # The slot at 15:00 is someone else's: the move is refused and what was typed stays.
        page.fill("#mv-start", "15:00")
        page.fill("#mv-end", "16:00")
        page.click("#move-form button[type=submit]")
        expect(page.locator("#move-error")).to_contain_text("Chưa đổi được")
        expect(page.locator("#mv-start")).to_have_value("15:00")
        shot(page, "20-move-refused")
        page.fill("#mv-start", "13:00")
        page.fill("#mv-end", "14:30")
        page.click("#move-form button[type=submit]")
        expect(page.locator("main")).to_contain_text("Đã đổi lịch cho lượt đặt.")
        expect(page.locator(".big")).to_contain_text("13:00–14:30")
        shot(page, "21-moved")
        with Session(center.engine) as session:
            moved = session.get(Booking, booking_id)
            assert moved is not None
            assert (moved.start_at, moved.end_at) == (at("2027-03-05 13:00"), at("2027-03-05 14:30"))

    def test_one_tick_repeats_the_booking_weekly(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "lan@fablab.local")
        page.goto(f"{center.url}/resources/meeting-2?day=2027-03-04")
        page.click(slot("2027-03-04 16:00"))
        expect(page.locator("#panel form#booking-form")).to_be_visible()
        # The weekly options stay hidden until the one box is ticked; ticking it is enough.
        expect(page.locator("#booking-form input[name=count]")).to_be_hidden()
        page.click("label[for=bk-repeat]")
        expect(page.locator("#booking-form input[name=count]")).to_be_visible()
        page.fill("#booking-form input[name=count]", "3")
        page.click("#booking-form button[type=submit]")
        expect(page.locator("#panel .notice")).to_be_visible()
        with Session(center.engine) as session:
            starts = sorted(
                b.start_at
                for b in session.exec(select(Booking).where(Booking.resource_id == "meeting-2"))
                if b.series_id is not None
            )
        assert starts == [at("2027-03-04 16:00"), at("2027-03-11 16:00"), at("2027-03-18 16:00")]
