"""Events in real headless Chromium on the demo center: a guest registers for the pitching night and
gets a code, another visitor's open page sees the seats left fall by itself, a member cancels their
place, and the kiosk marks a registrant present by their code."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select

from booking.models import Attendance, Event, Registration, RegistrationStatus
from tests.e2e.support import Center, shot, sign_in
from tests.factories import at
from web.db import session_scope

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PITCHING = "Đêm gọi vốn khởi nghiệp"
TRAINING = "An toàn máy cắt laser (2 buổi)"


def _event_id(center: Center, title: str) -> str:
    with session_scope(center.engine) as session:
        return session.exec(select(Event.id).where(Event.title == title)).one()


def test_register_watch_the_seats_fall_and_cancel(browser: Any, page: Any, center: Center) -> None:
    from playwright.sync_api import expect

    # A visitor with no account finds the pitching night on the public calendar.
    page.goto(f"{center.url}/events")
    expect(page.locator("h1")).to_have_text("Sự kiện, hội thảo và lớp học")
    shot(page, "events-01-calendar")
    page.click(f"text={PITCHING}")
    expect(page.locator("#seats")).to_contain_text("Còn 57 chỗ")

    # Someone else has the same page open: it follows the seats by itself.
    other = browser.new_context(locale="vi-VN").new_page()
    other.goto(page.url)
    expect(other.locator("#seats")).to_contain_text("Còn 57 chỗ")

    page.fill("#g-name", "Đỗ Thị Hải")
    page.fill("#g-email", "hai@example.vn")
    page.click("form.panel button[type=submit]")
    expect(page.locator("h2#my-reg")).to_have_text("Bạn đã đăng ký")
    code = page.locator("[data-registration-code]").inner_text()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", code)
    shot(page, "events-02-guest-registered")
    expect(other.locator("#seats")).to_contain_text("Còn 56 chỗ", timeout=25_000)
    other.context.close()

    # A member who registered for the laser training gives up their place.
    sign_in(page, center, "minh@fablab.local")
    page.goto(f"{center.url}/events/{_event_id(center, TRAINING)}")
    expect(page.locator("h2#my-reg")).to_have_text("Đăng ký của tôi")
    expect(page.locator("#seats")).to_contain_text("Còn 7 chỗ")
    page.click("summary:has-text('Hủy đăng ký của tôi')")
    page.click("details.confirm button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("Đăng ký đã được hủy")
    expect(page.locator("#seats")).to_contain_text("Còn 8 chỗ")
    shot(page, "events-03-cancelled")


def test_the_kiosk_marks_a_registrant_present_by_code(page: Any, center: Center) -> None:
    from playwright.sync_api import expect

    event_id = _event_id(center, PITCHING)
    with session_scope(center.engine) as session:
        registration = session.exec(
            select(Registration).where(
                Registration.event_id == event_id,
                Registration.member_id == "team",
                Registration.status == RegistrationStatus.registered,
            )
        ).first()
        assert registration is not None
        code = registration.code
    center.clock.set(at("2027-03-12 18:20"))
    try:
        sign_in(page, center, "kiosk@fablab.local")
        expect(page.locator(".kiosk-head h1")).to_be_visible()
        expect(page.locator("#rooms")).to_contain_text(PITCHING)
        page.fill("#k-code", code.lower())
        page.locator("#k-code").press("Enter")
        expect(page.locator("#kiosk-result")).to_contain_text("bạn đã được điểm danh")
        shot(page, "events-04-kiosk-attendance")
    finally:
        center.clock.set(at("2027-03-01 09:00"))
    with session_scope(center.engine) as session:
        assert session.exec(select(Attendance).where(Attendance.registration_id == registration.id)).first()
