"""A manager watches a simulated machine turn busy on the live board, in real headless Chromium.

A real uvicorn server whose app runs the center's MQTT bridge on the shared Mosquitto at
127.0.0.1:1883, listening only to a site made for this test; behind a real edge gateway
(`firmware_bridge.sim.demo.EdgeDemo`), a simulated Tasmota plug feeds a laser that cuts a scripted
job. The board must show the laser come online, then in use and working, with no reload of the page.

Everything runs on the wall clock: the gateway stamps its events with it, and the center believes
only times near its own (devices.events.sane_event_time), so the app's clock is not pinned here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.models import Role
from firmware_bridge.sim.demo import EdgeDemo
from firmware_bridge.sim.simulator import laser_job
from tests.brokers import unique
from tests.e2e.support import CHROMIUM_ARGS, TIMEOUT_MS, shot
from tests.factories import PASSWORD, make_machine, make_member, make_site
from tests.servers import running_server
from tests.services import require_chromium
from web.app import create_app
from web.db import make_engine
from web.migrate import upgrade
from web.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.mqtt, pytest.mark.slow]

# The simulated lab runs 30 times faster than the wall clock; the job starts 15 s (wall) after the
# devices do, leaving the board time to show the laser online first, and cuts for 40 s (wall).
TIME_SCALE = 30.0
JOB_AT_WALL_S = 15.0
JOB_MINUTES = 20.0


@dataclass
class Lab:
    url: str
    engine: Engine
    site: str
    gateway: str
    machine: str
    manager_email: str
    broker: str


@pytest.fixture
def lab(tmp_path: Path, broker_url: str) -> Iterator[Lab]:
    """A fresh center with one laser on its own gateway, served with its bridge on the broker."""
    url = f"sqlite:///{tmp_path / 'fablab.db'}"
    engine = make_engine(url)
    upgrade(engine)
    # Ids unique on the shared broker: retained messages of other runs must not reach this center.
    site_id, gateway = unique("e2e-site"), unique("e2e-gw")
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session, id=site_id, name="Xưởng thử nghiệm")
        manager = make_member(
            session, role=Role.manager, name="Trần Thị Mai", email=f"{site_id}@example.org", manages=(site,)
        )
        laser = make_machine(session, site, name="Laser CO2", gateway=gateway, adapter="tasmota")
        session.commit()
        machine_id, email = laser.id, manager.email
    settings = Settings(
        environment="test",
        secret_key="e2e-secret-key-of-enough-length-0123456789",
        database_url=url,
        mqtt_url=broker_url,
        bridge_sites=site_id,
        bridge_client_id=unique("e2e-center"),
        scheduler_enabled=False,
    )
    app = create_app(settings, engine=engine)
    try:
        with running_server(app) as base_url:
            bridge = app.state.machines.bridge
            assert bridge is not None
            assert bridge.wait_connected(20), "the center's bridge did not connect to the broker"
            yield Lab(base_url, engine, site_id, gateway, machine_id, email, broker_url)
    finally:
        engine.dispose()


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """Headless Debian Chromium at a wall screen's size."""
    chromium_binary = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_binary), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="vi-VN")
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


class TestLiveBoard:
    def test_a_simulated_laser_turns_busy_without_a_reload(self, page: Any, lab: Lab, tmp_path: Path) -> None:
        from playwright.sync_api import expect

        page.goto(f"{lab.url}/signin")
        page.fill("#email", lab.manager_email)
        page.fill("#password", PASSWORD)
        page.click("form.signin button[type=submit]")
        expect(page.locator("h1")).to_be_visible()
        page.goto(f"{lab.url}/manage/machines")
        row = page.locator(f"#machine-{lab.machine}")
        expect(row).to_have_attribute("data-state", "offline")
        expect(row).to_contain_text("Mất kết nối")
        shot(page, "28-machine-board-offline")
        # A mark on this very document: it survives the board's refreshes, not a reload.
        page.evaluate("window.__sameDocument = true")

        demo = EdgeDemo(
            lab.site,
            lab.gateway,
            lab.broker,
            [(lab.machine, "laser")],
            state_dir=tmp_path,
            time_scale=TIME_SCALE,
            period_s=0.25,
            random_activity=False,
            scenario=laser_job(lab.machine, at_s=JOB_AT_WALL_S * TIME_SCALE, minutes=JOB_MINUTES),
        )
        demo.start()
        try:
            assert demo.wait_ready(20), "the simulated gateway did not connect"
            # The gateway's birth brings the laser online: free, idling at a few watts.
            expect(row).to_have_attribute("data-state", "free", timeout=20_000)
            expect(row).to_contain_text("Trống")
            shot(page, "29-machine-board-online")
            # The scripted job draws cutting power: the gateway opens a session and reports it busy.
            expect(row).to_have_attribute("data-state", "in_use", timeout=40_000)
            expect(row).to_have_attribute("data-activity", "busy", timeout=20_000)
            expect(row.locator(".mstate")).to_have_text("Đang sử dụng")
            expect(row.locator(".activity")).to_have_text("đang chạy")
            expect(row.locator("td.num")).to_contain_text(" W")
            shot(page, "30-machine-board-busy")
            assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"

            with lab.engine.connect() as connection:
                open_sessions = connection.execute(
                    sa.text("SELECT count(*) FROM usagesession WHERE machine_id = :m AND ended_at IS NULL"),
                    {"m": lab.machine},
                ).scalar()
            assert open_sessions == 1

            # The machine's own page shows the running session and its open alert (no booking, no card).
            page.click(f"#machine-{lab.machine} a.machine-name")
            expect(page.locator("#machine-status .machine-status")).to_have_attribute("data-state", "in_use")
            expect(page.locator("table.sessions")).to_contain_text("đang diễn ra")
            expect(page.locator("#alerts")).to_contain_text("Sử dụng không đặt trước")
            shot(page, "31-machine-page-in-use")
        finally:
            demo.stop()
