"""Fixtures of the browser tests: the demo center served by uvicorn, and headless Chromium.

The app runs under uvicorn in a thread on a fresh, migrated SQLite database seeded with the demo data
(one per test module); its clock is pinned to a Monday morning so the journeys' bookings are valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.clock import FakeClock
from tests.e2e.support import CHROMIUM_ARGS, MONDAY_MORNING, TIMEOUT_MS, Center
from tests.servers import running_server
from tests.services import require_chromium
from web import demo
from web.app import create_app
from web.db import make_engine, session_scope
from web.migrate import upgrade
from web.settings import Settings


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    """The demo center served by uvicorn on a free port."""
    database = tmp_path_factory.mktemp("e2e") / "fablab.db"
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    upgrade(engine)
    clock = FakeClock(MONDAY_MORNING)
    with session_scope(engine) as session:
        demo.seed_demo(session, clock())
    settings = Settings(
        environment="test", secret_key="e2e-secret-key-of-enough-length-0123456789", database_url=url
    )
    app = create_app(settings, engine=engine, clock=clock)
    try:
        with running_server(app) as base_url:
            yield Center(url=base_url, engine=engine, clock=clock)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium; the journeys are skipped, loudly, only when it is not installed."""
    chromium_binary = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(chromium_binary), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies) and page, at a laptop's size."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="vi-VN")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
