"""Every page on a phone and to axe-core, in real headless Chromium on the demo center.

Three checks, each over every page a member, a kiosk, a manager and an admin opens, in Vietnamese:
- at 390×844 no page lays out wider than the screen (no sideways scrolling);
- axe-core (from npm, pinned in package-lock.json and read here from node_modules; the pages never
  load it) finds nothing serious or critical, on a laptop (1366×800) and on the phone;
- a member books from the day view on a phone: tap a slot, the form opens as a sheet over it, book.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from booking.bookings import service
from booking.members import service as members
from booking.models import Booking, BookingStatus
from booking.schemas import BookingCreate
from tests.e2e.support import DESKTOP, PHONE, TIMEOUT_MS, Center, shot, sign_in, slot
from tests.factories import at
from web.db import session_scope

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# axe's impact levels that fail the test; "minor" and "moderate" findings are printed only.
BLOCKING = ("serious", "critical")
SIZES = {"desktop": DESKTOP, "phone": PHONE}


@dataclass(frozen=True)
class Tour:
    """The pages one kind of user opens, signed in as `email` (None: not signed in)."""

    email: str | None
    paths: tuple[str, ...]


@pytest.fixture(scope="module")
def booking_id(center: Center) -> str:
    """A booking of Lan's (so her booking, change and list pages have something to show)."""
    with session_scope(center.engine) as session:
        lan = members.find_member(session, "lan@fablab.local")
        ask = BookingCreate(resource_id="laser-2", start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00"))
        booking = service.book(session, members.load_actor(session, lan), ask, center.clock())
        return booking.id


def tours(booking: str) -> dict[str, Tour]:
    """Every page, by who opens it."""
    return {
        "signed-out": Tour(None, ("/signin", "/signup", "/forgot-password")),
        "member": Tour(
            "lan@fablab.local",
            (
                "/",
                "/?site=biic&kind=machine",
                "/resources/laser-2",
                "/resources/laser-2?day=2027-03-02&view=day",
                "/resources/laser-2?day=2027-03-02&view=week&start="
                + at("2027-03-02 14:00").isoformat().replace("+", "%2B"),
                "/resources/coworking",
                "/resources/meeting-1?view=day&day=2027-03-02",
                "/search",
                "/search?people=6&day=2027-03-02&start=14:00&end=16:00",
                "/bookings",
                f"/bookings/{booking}",
                f"/bookings/{booking}/change",
                "/me",
                "/me/problems",
                "/notifications",
            ),
        ),
        "kiosk": Tour("kiosk@fablab.local", ("/kiosk/biic",)),
        "manager": Tour(
            "manager@fablab.local",
            (
                "/manage",
                "/manage/approvals",
                "/manage/bookings?day=2027-03-02",
                "/manage/trainings",
                "/manage/reports?month=2027-03",
                "/manage/machines",
                "/manage/alerts?show=all",
                "/manage/maintenance",
                "/manage/machines/laser-1?days=30",
            ),
        ),
        "admin": Tour(
            "admin@fablab.local",
            (
                "/admin",
                "/admin/sites",
                "/admin/sites/biic",
                "/admin/resources",
                "/admin/resources/laser-1",
                "/admin/plans",
                "/admin/members",
                "/admin/webhooks",
            ),
        ),
    }


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script; `make assets` (part of `make test`) installs it with `npm ci`."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make assets` (npm ci) first")
    return AXE.read_text(encoding="utf-8")


def open_as(browser: Any, center: Center, size: str, email: str | None) -> Any:
    """A fresh context of the given size, signed in as `email` and reading Vietnamese."""
    # axe is injected as an inline script, which the pages' Content-Security-Policy rightly refuses.
    context = browser.new_context(viewport=SIZES[size], locale="vi-VN", bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    if email is not None:
        sign_in(page, center, email)
        page.wait_for_load_state()
        if page.locator(".lang button[value=vi][aria-pressed=false]").count():
            page.click(".lang button[value=vi]")  # the admin reads English by default
            page.wait_for_load_state()
    return page


def visit(page: Any, center: Center, path: str) -> None:
    """Open a page in Vietnamese; on a phone, wait for a resource's week to become its day view."""
    response = page.goto(f"{center.url}{path}")
    assert response is not None
    assert response.status == 200, path
    assert page.locator("html").get_attribute("lang") == "vi", path
    if (
        page.viewport_size["width"] <= PHONE["width"]
        and "view=" not in path
        and page.locator("#grid").count()
    ):
        page.locator('#grid[data-view="day"]').wait_for()


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0 when it fits)."""
    width: int = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return width


def axe_findings(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it stands."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    findings: list[dict[str, Any]] = page.evaluate(
        """async (blocking) => {
            // The live boards poll every few seconds: hold their requests while axe reads the page,
            // so that nothing is swapped under it.
            const hold = (event) => event.preventDefault();
            document.body.addEventListener("htmx:beforeRequest", hold);
            let result;
            try {
                result = await axe.run(document, {resultTypes: ["violations"]});
            } finally {
                document.body.removeEventListener("htmx:beforeRequest", hold);
            }
            return result.violations
                .filter((v) => blocking.includes(v.impact))
                .map((v) => ({
                    rule: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " — " + n.failureSummary),
                }));
        }""",
        list(BLOCKING),
    )
    return findings


class TestNoSidewaysScrollOnAPhone:
    @pytest.mark.parametrize("who", ["signed-out", "member", "kiosk", "manager", "admin"])
    def test_every_page_fits_390px(self, browser: Any, center: Center, booking_id: str, who: str) -> None:
        tour = tours(booking_id)[who]
        page = open_as(browser, center, "phone", tour.email)
        try:
            too_wide = {}
            for path in tour.paths:
                visit(page, center, path)
                if (extra := overflow(page)) > 0:
                    too_wide[path] = extra
                    shot(page, f"phone-too-wide-{who}-{len(too_wide)}")
            assert too_wide == {}, f"wider than a 390 px screen by this many pixels: {too_wide}"
        finally:
            page.context.close()


class TestAxe:
    @pytest.mark.parametrize("size", ["desktop", "phone"])
    @pytest.mark.parametrize("who", ["signed-out", "member", "kiosk", "manager", "admin"])
    def test_no_serious_or_critical_violation(
        self, browser: Any, center: Center, booking_id: str, axe_source: str, who: str, size: str
    ) -> None:
        tour = tours(booking_id)[who]
        page = open_as(browser, center, size, tour.email)
        try:
            found = {}
            for path in tour.paths:
                visit(page, center, path)
                if findings := axe_findings(page, axe_source):
                    found[path] = findings
            if who == "member":
                # The booking form as it opens from the grid (the panel on a laptop, a sheet on a phone).
                visit(page, center, "/resources/meeting-2?day=2027-03-03&view=day")
                page.click(slot("2027-03-03 10:00"))
                page.locator("#booking-form").wait_for()
                if findings := axe_findings(page, axe_source):
                    found["the booking form opened from a slot"] = findings
            assert found == {}, json.dumps(found, ensure_ascii=False, indent=1)
        finally:
            page.context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A phone-sized page (390×844, touch) reading Vietnamese."""
    context = browser.new_context(viewport=PHONE, locale="vi-VN", has_touch=True, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def box(page: Any, selector: str) -> dict[str, float]:
    """Where an element is on the screen, in CSS pixels."""
    found: dict[str, float] | None = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not laid out"
    return found


class TestBookingOnAPhone:
    def test_taps_a_slot_of_the_day_view_and_books_in_the_sheet(self, phone: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(phone, center, "minh@fablab.local")
        # No view asked for: a phone gets today as one column of large slots, and nothing sideways.
        visit(phone, center, "/resources/group-2")
        grid = phone.locator("#grid")
        expect(grid).to_have_attribute("data-view", "day")
        expect(grid.locator("thead th:not(.time)")).to_have_count(1)
        assert overflow(phone) <= 0
        target = phone.locator(slot("2027-03-01 16:00"))
        assert box(phone, slot("2027-03-01 16:00"))["height"] >= 44  # a thumb's target
        shot(phone, "40-phone-day-view")

        target.tap()
        sheet = phone.locator("[data-sheet]")
        expect(sheet).to_have_class("panel is-open")
        expect(sheet.locator("#booking-form")).to_be_visible()
        # The sheet is fixed to the bottom of the screen, with the tapped slot in sight above it.
        assert sheet.evaluate("e => getComputedStyle(e).position") == "fixed"
        sheet_box, slot_box = box(phone, "[data-sheet]"), box(phone, slot("2027-03-01 16:00"))
        assert sheet_box["y"] + sheet_box["height"] == pytest.approx(PHONE["height"], abs=1)
        assert slot_box["y"] >= 0
        assert slot_box["y"] + slot_box["height"] <= sheet_box["y"] + 1
        expect(target).to_have_attribute("aria-current", "true")
        # The focus went into the form, not left behind in the grid.
        assert phone.evaluate("document.activeElement.closest('#booking-form') !== null")
        assert overflow(phone) <= 0
        shot(phone, "41-phone-sheet")

        phone.select_option("#bk-minutes", "60")
        phone.locator("#booking-form button[type=submit]").tap()
        expect(sheet.locator(".notice")).to_contain_text("Mã check-in")
        code = sheet.locator(".code").first.inner_text()
        expect(phone.locator(f".slot.mine{slot('2027-03-01 16:00')}")).to_be_attached()
        shot(phone, "42-phone-booked")
        with Session(center.engine) as session:
            booked = session.exec(select(Booking).where(Booking.code == code)).one()
            assert (booked.resource_id, booked.start_at, booked.end_at) == (
                "group-2",
                at("2027-03-01 16:00"),
                at("2027-03-01 17:00"),
            )
            assert booked.status is BookingStatus.confirmed

        # The sheet closes with its button, handing the screen back to the grid.
        phone.locator("[data-sheet-close]").tap()
        expect(sheet).not_to_have_class("panel is-open")
        expect(phone.locator("#booking-form")).to_have_count(0)

    def test_the_week_stays_inside_its_box_when_asked_for(self, phone: Any, center: Center) -> None:
        sign_in(phone, center, "minh@fablab.local")
        visit(phone, center, "/resources/laser-2?view=week&day=2027-03-02")
        assert phone.locator("#grid").get_attribute("data-view") == "week"
        assert overflow(phone) <= 0
        # Its seven columns scroll inside the grid's box, and the way on ("Sau ›") is on the screen.
        later = box(phone, ".grid-nav a:has-text('Sau')")
        assert later["x"] + later["width"] <= PHONE["width"]


class TestKeyboardAndColours:
    def test_enter_on_a_slot_moves_the_focus_into_the_form(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "lan@fablab.local")
        visit(page, center, "/resources/laser-2?day=2027-03-02")
        page.locator(slot("2027-03-02 15:00")).focus()
        page.keyboard.press("Enter")
        expect(page.locator("#panel #booking-form")).to_be_visible()
        expect(page.locator("#bk-start")).to_have_value("15:00")
        assert page.evaluate("document.activeElement.closest('#booking-form') !== null")
        # Tab goes on through the form.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#booking-form') !== null")

    def test_the_chosen_slot_and_yours_do_not_share_a_colour(
        self, page: Any, center: Center, booking_id: str
    ) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "lan@fablab.local")
        visit(page, center, "/resources/laser-2?day=2027-03-02")
        chosen = page.locator(slot("2027-03-02 13:00"))
        chosen.click()
        expect(chosen).to_have_attribute("aria-current", "true")
        page.mouse.move(0, 0)  # no hover colour
        mine = page.locator(f".slot.mine{slot('2027-03-02 10:00')}")  # Lan's booking (the fixture)
        background = "e => getComputedStyle(e).backgroundColor"
        assert chosen.evaluate(background) != mine.evaluate(background)
        # ... and the legend names both.
        expect(page.locator(".legend .mine")).to_have_text("của bạn")
        expect(page.locator(".legend .selected")).to_have_text("đang chọn")
        # Choosing another slot moves the mark.
        page.locator(slot("2027-03-02 14:00")).click()
        expect(page.locator(slot("2027-03-02 14:00"))).to_have_attribute("aria-current", "true")
        expect(page.locator("#grid .slot[aria-current]")).to_have_count(1)


class TestKioskOnAPhone:
    def test_check_in_comes_first_and_the_offline_banner_leaves_the_clock_visible(
        self, phone: Any, center: Center
    ) -> None:
        from playwright.sync_api import expect

        sign_in(phone, center, "kiosk@fablab.local")
        expect(phone.locator("#k-code")).to_be_visible()
        code, rooms = box(phone, "#k-code"), box(phone, "#rooms")
        assert code["y"] + code["height"] <= PHONE["height"]  # on the first screen, no scrolling
        assert code["y"] < rooms["y"]
        phone.context.set_offline(True)
        phone.evaluate("htmx.trigger(document.body, 'kiosk-changed')")
        banner = phone.locator(".connection")
        expect(banner).to_be_visible()
        shot(phone, "43-phone-kiosk-offline")
        clock, bar = box(phone, "#kiosk-clock"), box(phone, ".connection")
        assert bar["y"] + bar["height"] <= clock["y"], "the banner covers the clock"
        assert clock["y"] + clock["height"] <= PHONE["height"]
        phone.context.set_offline(False)
        phone.evaluate("htmx.trigger(document.body, 'kiosk-changed')")
        expect(banner).to_be_hidden()
