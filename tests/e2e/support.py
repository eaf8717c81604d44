"""What the browser tests share: Chromium's flags, the pinned clock, screenshots, signing in.

Debian's Chromium at /usr/bin/chromium, driven by Playwright's Python package (no downloaded browser).
Screenshots of the pages visited go to test-output/screenshots/ for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from tests.clock import FakeClock
from tests.factories import at
from web import demo

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
# Monday 1 March 2027, 09:00 in Hồ Chí Minh City: the demo center is open and no holiday is near.
MONDAY_MORNING = at("2027-03-01 09:00")
TIMEOUT_MS = 10_000
# The sizes the pages are checked at: a laptop and a phone (the iPhone-sized 390×844).
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


@dataclass
class Center:
    url: str
    engine: Engine
    clock: FakeClock


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot for review."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, center: Center, email: str) -> None:
    """Sign in with the demo password (the browser then stands on the member's first page)."""
    page.goto(f"{center.url}/signin")
    page.fill("#email", email)
    page.fill("#password", demo.DEMO_PASSWORD)
    page.click("form.signin button[type=submit]")


def slot(start: str) -> str:
    """The grid cell of a slot starting at a local time."""
    return f'[data-start="{at(start).isoformat()}"]'
