"""Machines: live status, usage sessions, maintenance plans; alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from devices.alerts import service as alerts
from devices.maintenance import service as maintenance
from devices.registry import service as registry
from devices.schemas import (
    AlertDecision,
    AlertRead,
    MachineRead,
    MaintenancePlanCreate,
    MaintenancePlanRead,
    UsageSessionRead,
)
from devices.sessions import service as sessions
from web.deps import ActorDep, MachineUnitDep, NowDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["machines"])


@router.get("/machines")
def list_machines(
    session: SessionDep,
    _actor: ActorDep,
    now: NowDep,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[MachineRead]:
    """Every machine's live status (CONTRACT §1 status, plus name, power and fault)."""
    return registry.list_machines(session, now, site)


@router.get("/machines/{machine_id}")
def get_machine(machine_id: str, session: SessionDep, _actor: ActorDep, now: NowDep) -> MachineRead:
    """One machine's live status."""
    return registry.machine_read(session, registry.get_machine_or_raise(session, machine_id), now)


@router.get("/machines/{machine_id}/sessions")
def list_sessions(
    machine_id: str, session: SessionDep, actor: ActorDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[UsageSessionRead]:
    """The machine's usage sessions, newest first (managers of its site)."""
    return sessions.list_sessions(session, actor, machine_id, limit)


@router.get("/machines/{machine_id}/maintenance")
def list_plans(
    machine_id: str, session: SessionDep, actor: ActorDep, now: NowDep
) -> list[MaintenancePlanRead]:
    """The machine's maintenance plans and how far each is through its interval (managers of its site)."""
    return maintenance.list_plans(session, machine_id, now, actor)


@router.post("/machines/{machine_id}/maintenance", status_code=201)
def add_plan(
    machine_id: str, data: MaintenancePlanCreate, session: SessionDep, actor: ActorDep, now: NowDep
) -> MaintenancePlanRead:
    """Plan maintenance every N runtime hours, N jobs or N days (managers of its site)."""
    plan = maintenance.add_plan(session, actor, machine_id, data, now)
    session.commit()
    return maintenance.plan_read(plan, registry.get_machine_or_raise(session, machine_id), now)


@router.post("/maintenance/{plan_id}/done")
def mark_done(
    plan_id: int, unit: MachineUnitDep, actor: ActorDep, now: NowDep, data: AlertDecision | None = None
) -> MaintenancePlanRead:
    """Record that the maintenance was done: its counter restarts and its block lifts."""
    plan = maintenance.mark_done(unit.session, unit.link, actor, plan_id, data.note if data else "", now)
    unit.commit()
    return maintenance.plan_read(plan, registry.get_machine_or_raise(unit.session, plan.machine_id), now)


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    actor: ActorDep,
    open: bool = False,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AlertRead]:
    """Alerts of the sites the manager manages, newest first; `open=true` for unresolved only."""
    return alerts.list_alerts(session, actor, open_only=open, site_id=site)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    alert_id: str, session: SessionDep, actor: ActorDep, now: NowDep, data: AlertDecision | None = None
) -> AlertRead:
    """A manager has seen the alert."""
    alert = alerts.acknowledge_alert(session, actor, alert_id, data.note if data else "", now)
    session.commit()
    return alerts.alert_read(alert)


@router.post("/alerts/{alert_id}/resolve")
def resolve(
    alert_id: str, unit: MachineUnitDep, actor: ActorDep, now: NowDep, data: AlertDecision | None = None
) -> AlertRead:
    """A manager closes the alert, with a note; a fault alert's machine returns to service."""
    alert = alerts.resolve_alert(unit.session, unit.link, actor, alert_id, data.note if data else "", now)
    unit.commit()
    return alerts.alert_read(alert)
