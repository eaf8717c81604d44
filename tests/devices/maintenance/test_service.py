"""Maintenance on a real database: due, overdue (the machine blocked), done (the block lifted)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from booking.errors import InvalidRequest, NotFound
from booking.models import Role, Site
from devices.maintenance import service as maintenance
from devices.models import Alert, AlertKind, MachineState, MaintenanceLog, MaintenancePlan
from devices.schemas import MaintenancePlanCreate
from tests.conftest import NOW
from tests.devices.helpers import online, state
from tests.factories import actor, make_machine, make_member, make_site
from tests.links import RecordingLink


class TestMaintenance:
    def test_due_by_runtime_hours_then_done(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = online(session, laser.id, link)
        plan = maintenance.add_plan(
            session, None, laser.id, MaintenancePlanCreate(name="Clean lens", every_runtime_h=10), NOW
        )
        machine.runtime_s = int(9.2 * 3600)
        assert maintenance.check_maintenance(session, link, NOW) == 1
        due = session.exec(select(Alert).where(Alert.machine_id == laser.id)).one()
        assert (due.kind, due.message) == (
            AlertKind.due,
            "Laser 1: maintenance 'Clean lens' is due soon (9.2 of 10 runtime hours)",
        )
        machine.runtime_s = 10 * 3600
        maintenance.check_maintenance(session, link, NOW)
        assert state(machine) is MachineState.blocked
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        maintenance.mark_done(session, link, manager, plan.id or 0, "lens cleaned", NOW)
        assert state(machine) is MachineState.free
        assert maintenance.list_plans(session, laser.id, NOW)[0].status == "ok"
        assert (
            session.exec(
                select(func.count())
                .select_from(Alert)
                .where(Alert.machine_id == laser.id, col(Alert.resolved_at).is_(None))
            ).one()
            == 0
        )

    def test_a_plan_needs_an_interval(self, session: Session, site: Site) -> None:
        laser = make_machine(session, site)
        with pytest.raises(InvalidRequest) as caught:
            maintenance.add_plan(session, None, laser.id, MaintenancePlanCreate(name="Clean lens"), NOW)
        assert caught.value.detail == "a plan needs an interval: every so many runtime hours, jobs or days"
        assert (
            session.exec(select(MaintenancePlan).where(MaintenancePlan.machine_id == laser.id)).first()
            is None
        )

    def test_another_sites_manager_cannot_mark_it_done(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site)
        plan = maintenance.add_plan(
            session, None, laser.id, MaintenancePlanCreate(name="Clean lens", every_days=1), NOW
        )
        stranger = actor(session, make_member(session, role=Role.manager, manages=(make_site(session),)))
        with pytest.raises(NotFound) as caught:
            maintenance.mark_done(session, link, stranger, plan.id or 0, "", NOW + timedelta(days=1))
        assert caught.value.detail == f"there is no maintenance plan {plan.id}"
        assert session.exec(select(MaintenanceLog).where(MaintenanceLog.plan_id == plan.id)).first() is None
        assert plan.last_done_at == NOW
