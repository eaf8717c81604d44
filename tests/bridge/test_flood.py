"""One noisy gateway cannot stall the center: its readings are rate-limited, names nobody registered are
answered from memory, and its events (a card tap among them) still go through. Real broker, real
database."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from firmware_bridge.center import metrics
from firmware_bridge.center.dispatch import RateLimit, Registry, Route
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts
from tests.bridge.conftest import Lab
from tests.brokers import send, wait_until
from tests.factories import make_machine, make_site


def _dropped(reason: str) -> float:
    return float(metrics.MESSAGES_DROPPED.labels(reason=reason)._value.get())


class TestRateLimit:
    def test_a_bucket_gives_its_burst_then_its_rate(self) -> None:
        bucket = RateLimit(rate=2.0, burst=3.0)
        start = time.monotonic() + 1000  # a moment of its own: the bucket starts full
        assert [bucket.take(start) for _ in range(4)] == [True, True, True, False]
        assert bucket.take(start + 0.4) is False  # 0.8 of a token
        assert bucket.take(start + 0.5) is True  # one whole token after half a second


@pytest.mark.mqtt
class TestGatewayFlood:
    def test_readings_over_the_rate_are_dropped_and_counted_and_a_tap_still_goes_through(
        self, lab: Lab
    ) -> None:
        lab.bridge.gateway_rate_per_s, lab.bridge.gateway_burst = 0.1, 5.0
        before = _dropped("rate")
        readings = 60
        for i in range(readings):
            body = {
                "ts": format_ts(lab.clock()),
                "boot_id": lab.boot,
                "seq": i,
                "power_w": 900.0 if i % 2 else 5.0,
                "activity": "busy" if i % 2 else "idle",
            }
            lab.edge.publish(lab.topic("telemetry"), json.dumps(body).encode(), qos=0)
        # The burst (5) goes through; at 0.1 a second hardly another: the rest is dropped, counted.
        wait_until(lambda: _dropped("rate") - before >= readings - 10, what="the flood's readings dropped")
        lab.event("access.requested", {"request_id": "through-the-flood", "card_uid": lab.card})
        assert lab.wait_command(lambda c: c.get("request_id") == "through-the-flood")["cmd"] == "unlock"

    def test_another_gateway_has_a_bucket_of_its_own(self, lab: Lab) -> None:
        lab.bridge.gateway_rate_per_s, lab.bridge.gateway_burst = 0.1, 2.0
        before = _dropped("rate")
        body = {"ts": format_ts(lab.clock()), "boot_id": lab.boot, "seq": 1, "power_w": 5.0}
        for _ in range(10):
            lab.edge.publish(lab.topic("telemetry"), json.dumps(body).encode(), qos=0)
        wait_until(lambda: _dropped("rate") - before >= 8, what="8 of 10 readings dropped")
        # A heartbeat of another gateway is a reading too, with its own bucket: it passes.
        other = "gw-quiet"
        send(
            lab.edge, topics.heartbeat(lab.site, other), {"ts": format_ts(lab.clock()), "boot_id": "b"}, qos=0
        )
        time.sleep(0.5)
        assert _dropped("rate") - before == 8


class TestRegistry:
    def test_names_nobody_registered_do_not_reload_the_registry_per_message(
        self, fresh_engine: Engine
    ) -> None:
        with Session(fresh_engine, expire_on_commit=False) as session:
            site = make_site(session)
            laser = make_machine(session, site, gateway="gw-1")
            session.commit()
        registry = Registry(fresh_engine, refresh_s=3600, miss_reloads_per_s=4.0)
        assert registry.machine(laser.id) == Route(site.id, "gw-1")
        began = time.monotonic()
        misses = [registry.machine(f"ghost-{i}") for i in range(500)]
        elapsed = time.monotonic() - began
        assert misses == [None] * 500
        # One load for the known machine, then the miss budget: 4 at once and 4 a second.
        assert registry.loads <= 1 + 4 + int(4 * elapsed) + 1

    def test_a_machine_registered_after_the_load_is_found_at_its_first_message(
        self, fresh_engine: Engine
    ) -> None:
        with Session(fresh_engine, expire_on_commit=False) as session:
            site = make_site(session)
            make_machine(session, site, gateway="gw-1")
            session.commit()
        registry = Registry(fresh_engine, refresh_s=3600)
        assert registry.gateway_site("gw-1") == site.id
        with Session(fresh_engine, expire_on_commit=False) as session:
            site_row = catalogue_repo.get_site(session, site.id)
            assert site_row is not None
            newcomer = make_machine(session, site_row, name="CNC", gateway="gw-2")
            session.commit()
        assert registry.machine(newcomer.id) == Route(site.id, "gw-2")
        assert registry.gateway_site("gw-2") == site.id
