"""Machines: live status, usage sessions, maintenance plans; alerts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from devices import service
from devices.schemas import (
    AlertDecision,
    AlertRead,
    MachineRead,
    MaintenancePlanCreate,
    MaintenancePlanRead,
    UsageSessionRead,
)
from firmware_bridge.center.commands import OutboxLink
from web.deps import ActorDep, NowDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["machines"])


def _send(request: Request, link: OutboxLink) -> None:
    request.app.state.machines.send(link)


@router.get("/machines")
def list_machines(
    session: SessionDep,
    _actor: ActorDep,
    now: NowDep,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[MachineRead]:
    """Every machine's live status (CONTRACT §1 status, plus name, power and fault)."""
    return service.list_machines(session, now, site)


@router.get("/machines/{machine_id}")
def get_machine(machine_id: str, session: SessionDep, _actor: ActorDep, now: NowDep) -> MachineRead:
    """One machine's live status."""
    return service.machine_read(session, service.get_machine_or_raise(session, machine_id), now)


@router.get("/machines/{machine_id}/sessions")
def list_sessions(
    machine_id: str, session: SessionDep, actor: ActorDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[UsageSessionRead]:
    """The machine's usage sessions, newest first (managers of its site)."""
    return service.list_sessions(session, actor, machine_id, limit)


@router.get("/machines/{machine_id}/maintenance")
def list_plans(
    machine_id: str, session: SessionDep, actor: ActorDep, now: NowDep
) -> list[MaintenancePlanRead]:
    """The machine's maintenance plans and how far each is through its interval (managers of its site)."""
    return service.list_plans(session, machine_id, now, actor)


@router.post("/machines/{machine_id}/maintenance", status_code=201)
def add_plan(
    machine_id: str, data: MaintenancePlanCreate, session: SessionDep, actor: ActorDep, now: NowDep
) -> MaintenancePlanRead:
    """Plan maintenance every N runtime hours, N jobs or N days (managers of its site)."""
    plan = service.add_plan(session, actor, machine_id, data, now)
    session.commit()
    return service.plan_read(plan, service.get_machine_or_raise(session, machine_id), now)


@router.post("/maintenance/{plan_id}/done")
def mark_done(
    plan_id: int,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    data: AlertDecision | None = None,
) -> MaintenancePlanRead:
    """Record that the maintenance was done: its counter restarts and its block lifts."""
    link = OutboxLink()
    plan = service.mark_done(session, link, actor, plan_id, data.note if data else "", now)
    session.commit()
    _send(request, link)
    return service.plan_read(plan, service.get_machine_or_raise(session, plan.machine_id), now)


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    actor: ActorDep,
    open: bool = False,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AlertRead]:
    """Alerts of the sites the manager manages, newest first; `open=true` for unresolved only."""
    return service.list_alerts(session, actor, open_only=open, site_id=site)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    alert_id: str, session: SessionDep, actor: ActorDep, now: NowDep, data: AlertDecision | None = None
) -> AlertRead:
    """A manager has seen the alert."""
    alert = service.acknowledge_alert(session, actor, alert_id, data.note if data else "", now)
    session.commit()
    return service.alert_read(alert)


@router.post("/alerts/{alert_id}/resolve")
def resolve(
    alert_id: str,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    now: NowDep,
    data: AlertDecision | None = None,
) -> AlertRead:
    """A manager closes the alert, with a note; a fault alert's machine returns to service."""
    link = OutboxLink()
    alert = service.resolve_alert(session, link, actor, alert_id, data.note if data else "", now)
    session.commit()
    _send(request, link)
    return service.alert_read(alert)
