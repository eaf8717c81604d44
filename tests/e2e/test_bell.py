"""The bell in Chromium: its unread count changes, without a reload, when a manager approves the
member's booking (it asks every 30 s, and at once when the window gets the focus back)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from booking.bookings import service as bookings
from booking.members.service import load_actor
from booking.models import Member
from tests.booking.helpers import ask
from tests.e2e.support import Center, shot, sign_in


def _member(session: Session, email: str) -> Member:
    return session.exec(select(Member).where(Member.email == email)).one()


def _come_back_until(page: Any, unread: int) -> None:
    """Give the window the focus back (as a member returning to the tab) until the bell shows
    `unread`; a focus that lands while the bell is being swapped is simply given again."""
    for _ in range(20):
        page.evaluate("window.dispatchEvent(new Event('focus'))")
        try:
            page.wait_for_selector(f'#bell [data-unread="{unread}"]', timeout=500)
            return
        except Exception:  # noqa: S112 - not yet: focus again
            continue
    raise AssertionError(f"the bell never showed {unread} unread")


class TestBell:
    def test_the_count_changes_when_a_manager_approves(self, page: Any, center: Center) -> None:
        from playwright.sync_api import expect

        sign_in(page, center, "minh@fablab.local")
        expect(page.locator("h1")).to_have_text("Bạn muốn đặt gì?")
        bell = page.locator("#bell")
        expect(bell).to_have_attribute("hx-trigger", "every 30s, focus from:window")
        before = (
            int(bell.locator("[data-unread]").get_attribute("data-unread") or 0)
            if bell.locator("[data-unread]").count()
            else 0
        )
        with Session(center.engine, expire_on_commit=False) as session:
            minh = _member(session, "minh@fablab.local")
            manager = _member(session, "manager@fablab.local")
            # The STEM classroom needs a manager's approval (and a day's notice).
            pending = bookings.book(
                session,
                load_actor(session, minh),
                ask("stem-lab", "2027-03-03 09:00", "2027-03-03 10:00"),
                center.clock(),
            )
            session.commit()
        _come_back_until(page, before + 1)
        with Session(center.engine, expire_on_commit=False) as session:
            bookings.approve(session, load_actor(session, manager), pending.id, center.clock())
            session.commit()
        _come_back_until(page, before + 2)
        shot(page, "bell-after-approval")
        bell.click()
        expect(page.locator("main")).to_contain_text("Lượt đặt của bạn đã được duyệt")
