"""End to end: a simulated laser behind a real gateway, through the real broker, into the center."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.bookings import service as booking
from booking.schemas import BookingCreate
from firmware_bridge.center.bridge import CenterBridge
from firmware_bridge.sim.demo import EdgeDemo
from firmware_bridge.sim.simulator import laser_job
from tests.brokers import unique, wait_until
from tests.factories import actor, make_machine, make_member, make_site

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
OPEN_24H = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _scalar(engine: Engine, sql: str, **params: object) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar()


@pytest.fixture
def booked_laser(fresh_engine: Engine, broker_url: str) -> Iterator[tuple[str, str, str, str, str]]:
    """A site open around the clock, laser-1 on a gateway, and a member's booking under way now."""
    now = datetime.now(UTC)  # the gateway stamps real time, so the center runs on it too
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session, id=unique("e2e"), opening_hours=OPEN_24H, holiday_country="")
        gateway = unique("gw")
        machine = make_machine(session, site, name="Laser 1", gateway=gateway, grace_s=60).id
        member = make_member(session)
        start = now.replace(minute=0, second=0, microsecond=0)
        held = booking.book(
            session,
            actor(session, member),
            BookingCreate(resource_id=machine, start=start, end=start + timedelta(hours=2)),
            start - timedelta(minutes=1),
        )
        session.commit()
        yield site.id, gateway, machine, member.id, held.id


class TestSimulatedLaserJob:
    def test_a_laser_job_on_a_booked_slot_is_charged_to_its_member(
        self,
        fresh_engine: Engine,
        broker_url: str,
        booked_laser: tuple[str, str, str, str, str],
        tmp_path: Path,
    ) -> None:
        site, gateway, machine, member_id, booking_id = booked_laser
        bridge = CenterBridge(fresh_engine, broker_url, client_id=unique("center"), sites=[site])
        bridge.start()
        assert bridge.wait_connected(20)
        # A 12-minute laser job, played 120 times faster than life (6 s), on a Tasmota plug.
        edge = EdgeDemo(
            site,
            gateway,
            broker_url,
            [(machine, "laser")],
            state_dir=tmp_path,
            time_scale=120,
            period_s=0.25,
            random_activity=False,
            seed=3,
            scenario=laser_job(machine, at_s=30, minutes=12),
        )
        try:
            edge.start()
            assert edge.wait_ready(20)
            wait_until(
                lambda: (
                    _scalar(fresh_engine, "SELECT count(*) FROM usagesession WHERE ended_at IS NOT NULL") == 1
                ),
                60,
                "the job's session stored",
            )
            row = dict(
                zip(
                    ("member_id", "booking_id", "busy_s", "energy_wh", "stop_type"),
                    _row(
                        fresh_engine,
                        "SELECT member_id, booking_id, busy_s, energy_wh, stop_type FROM usagesession",
                    ),
                    strict=True,
                )
            )
            assert (row["member_id"], row["booking_id"]) == (member_id, booking_id)
            assert row["busy_s"] > 0
            assert row["energy_wh"] > 0
            charged = _scalar(
                fresh_engine,
                "SELECT sum(seconds) FROM ledgerentry WHERE kind = 'runtime' AND member_id = :m",
                m=member_id,
            )
            assert charged == round(row["busy_s"])
            assert (
                _scalar(fresh_engine, "SELECT status FROM booking WHERE id = :b", b=booking_id)
                == "checked_in"
            )
        finally:
            edge.stop()
            bridge.stop()


def _row(engine: Engine, sql: str) -> tuple[Any, ...]:
    with engine.connect() as connection:
        return tuple(connection.execute(sa.text(sql)).one())
