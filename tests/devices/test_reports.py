"""What the managers' machine pages read, on a real database: board rows, use per day, plans, log."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from booking.bookings import service as booking
from booking.errors import NotFound
from booking.models import Role, Site
from booking.schemas import BookingCreate
from devices import reports
from devices.alerts import service as alerts
from devices.maintenance import service as maintenance
from devices.models import Activity, Machine
from devices.registry import service as registry
from devices.schemas import MaintenancePlanCreate
from devices.sessions import service as sessions
from tests.conftest import NOW
from tests.factories import actor, at, make_machine, make_member, make_site
from tests.links import RecordingLink

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(session)


def _machine(session: Session, site: Site, name: str = "Laser 1") -> Machine:
    return registry.get_machine_or_raise(session, make_machine(session, site, name=name).id)


def _use(
    session: Session, link: RecordingLink, machine: Machine, external: str, start: str, busy_s: float
) -> None:
    started = at(start)
    sessions.session_started(session, link, machine, external, None, started, started)
    sessions.session_stopped(
        session,
        link,
        machine,
        external,
        started + timedelta(seconds=busy_s + 600),
        stop_type="idle",
        duration_s=busy_s + 600,
        busy_s=busy_s,
        energy_wh=10,
    )


class TestManagedMachine:
    def test_another_sites_manager_finds_nothing(self, session: Session, site: Site) -> None:
        machine = _machine(session, site)
        stranger = make_member(session, role=Role.manager, manages=(make_site(session),))
        with pytest.raises(NotFound, match=f"there is no machine '{machine.id}' among yours"):
            reports.managed_machine(session, actor(session, stranger), machine.id)

    def test_the_sites_manager_gets_it(self, session: Session, site: Site) -> None:
        machine = _machine(session, site)
        manager = make_member(session, role=Role.manager, manages=(site,))
        assert reports.managed_machine(session, actor(session, manager), machine.id) is machine


class TestBoard:
    def test_rows_carry_time_left_alerts_and_the_worst_plan(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = _machine(session, site, "Laser 1")
        cnc = _machine(session, site, "CNC")
        member = make_member(session)
        booking.book(
            session,
            actor(session, member),
            BookingCreate(resource_id=laser.id, start=at("2027-03-01 09:00"), end=at("2027-03-01 10:30")),
            NOW - timedelta(hours=1),
        )
        alerts.machine_availability(session, link, laser, True, NOW)
        sessions.session_started(session, link, laser, "s-1", None, NOW, NOW)
        sessions.telemetry(session, link, laser, NOW, power_w=900.0, activity=Activity.busy)
        alerts.fault_raised(session, link, cnc, "E1", "spindle stalled", NOW)
        maintenance.add_plan(session, None, cnc.id, MaintenancePlanCreate(name="Oil", every_runtime_h=1), NOW)
        maintenance.add_plan(
            session, None, cnc.id, MaintenancePlanCreate(name="Belt", every_runtime_h=10), NOW
        )
        cnc.runtime_s += 3600  # the first plan is overdue, the second is not
        session.add(cnc)
        session.flush()

        rows = reports.board(session, [site.id], NOW)

        assert [r.status.name for r in rows] == ["CNC", "Laser 1"]
        cnc_row, laser_row = rows
        assert (laser_row.status.state, laser_row.status.activity) == ("in_use", "busy")
        assert laser_row.seconds_left == 90 * 60
        assert laser_row.status.power_w == 900.0
        assert (laser_row.open_alerts, laser_row.maintenance) == (0, "ok")
        assert cnc_row.open_alerts == 1
        assert cnc_row.maintenance == "overdue"
        assert cnc_row.seconds_left is None

    def test_other_sites_are_left_out(self, session: Session, site: Site) -> None:
        _machine(session, make_site(session))
        assert reports.board(session, [site.id], NOW) == []


class TestDailyUsage:
    def test_booked_and_busy_hours_per_local_day(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = _machine(session, site)
        member = make_member(session)
        booking.book(
            session,
            actor(session, member),
            BookingCreate(resource_id=laser.id, start=at("2027-03-01 09:00"), end=at("2027-03-01 11:00")),
            NOW - timedelta(days=3),
        )
        _use(session, link, laser, "s-sat", "2027-02-27 14:00", busy_s=5400)
        _use(session, link, laser, "s-sat-2", "2027-02-27 16:00", busy_s=1800)
        _use(session, link, laser, "s-long-ago", "2027-02-01 10:00", busy_s=3600)
        # Running since 08:30 and busy since 08:45: a quarter of an hour so far at 09:00.
        sessions.session_started(session, link, laser, "s-now", None, at("2027-03-01 08:30"), NOW)
        sessions.telemetry(
            session, link, laser, at("2027-03-01 08:45"), power_w=900.0, activity=Activity.busy
        )

        days = reports.daily_usage(session, laser.id, TZ, date(2027, 3, 1), 3, NOW)

        assert [(d.day, d.booked_h, d.used_h) for d in days] == [
            (date(2027, 2, 27), 0.0, 2.0),
            (date(2027, 2, 28), 0.0, 0.0),
            (date(2027, 3, 1), 2.0, 0.25),
        ]

    def test_a_cancelled_booking_holds_no_hours(self, session: Session, site: Site) -> None:
        laser = _machine(session, site)
        member = make_member(session)
        held = booking.book(
            session,
            actor(session, member),
            BookingCreate(resource_id=laser.id, start=at("2027-03-02 09:00"), end=at("2027-03-02 10:00")),
            NOW,
        )
        booking.cancel(session, actor(session, member), held.id, NOW)
        days = reports.daily_usage(session, laser.id, TZ, date(2027, 3, 2), 1, NOW)
        assert days[0].booked_h == 0.0


class TestMaintenance:
    def test_plans_most_urgent_first_with_their_counters(self, session: Session, site: Site) -> None:
        laser = _machine(session, site)
        maintenance.add_plan(session, None, laser.id, MaintenancePlanCreate(name="Tube", every_days=90), NOW)
        maintenance.add_plan(session, None, laser.id, MaintenancePlanCreate(name="Lens", every_jobs=4), NOW)
        laser.jobs += 3
        session.add(laser)
        session.flush()

        rows = reports.plan_rows(session, NOW + timedelta(days=9), site_ids=[site.id])

        assert [(r.plan.name, r.plan.status, r.jobs, r.days) for r in rows] == [
            ("Lens", "ok", 3, 9.0),
            ("Tube", "ok", 3, 9.0),
        ]
        assert rows[0].plan.ratio == 0.75

    def test_the_log_newest_first_with_names_and_only_my_sites(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = _machine(session, site)
        elsewhere = _machine(session, make_site(session), "Elsewhere")
        manager = make_member(session, role=Role.admin, name="Trần Thị Mai")
        who = actor(session, manager)
        plan = maintenance.add_plan(
            session, None, laser.id, MaintenancePlanCreate(name="Lens", every_days=7), NOW
        )
        other = maintenance.add_plan(
            session, None, elsewhere.id, MaintenancePlanCreate(name="Oil", every_days=7), NOW
        )
        assert plan.id is not None
        assert other.id is not None
        maintenance.mark_done(session, link, who, plan.id, "first", NOW)
        maintenance.mark_done(session, link, who, plan.id, "second", NOW + timedelta(days=7))
        maintenance.mark_done(session, link, who, other.id, "not here", NOW)

        rows = reports.maintenance_log(session, site_ids=[site.id])

        assert [(r.entry.note, r.plan_name, r.machine_name, r.done_by) for r in rows] == [
            ("second", "Lens", "Laser 1", "Trần Thị Mai"),
            ("first", "Lens", "Laser 1", "Trần Thị Mai"),
        ]
