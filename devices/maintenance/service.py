"""Maintenance: plans every N runtime hours, N jobs or N days; due and overdue checks; done, and its log.

An overdue plan blocks its machine until the maintenance is done. Each function works inside the
caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.errors import InvalidRequest, NotFound, NotPermitted
from booking.members.actors import Actor
from booking.messages import message
from devices.alerts import service as alerts
from devices.maintenance import repository as repo
from devices.maintenance import rules
from devices.models import AlertKind, Machine, MaintenanceLog, MaintenancePlan
from devices.ports import MachineLink
from devices.registry import repository as registry_repo
from devices.registry import service as registry
from devices.schemas import MaintenancePlanCreate, MaintenancePlanRead


def progress(plan: MaintenancePlan, machine: Machine, now: datetime) -> rules.PlanProgress:
    """How far the plan is through its interval on this machine's counters."""
    return rules.plan_progress(
        now=now,
        last_done_at=plan.last_done_at,
        runtime_s=machine.runtime_s,
        runtime_s_at_done=plan.runtime_s_at_done,
        jobs=machine.jobs,
        jobs_at_done=plan.jobs_at_done,
        every_runtime_h=plan.every_runtime_h,
        every_jobs=plan.every_jobs,
        every_days=plan.every_days,
    )


def plan_read(plan: MaintenancePlan, machine: Machine, now: datetime) -> MaintenancePlanRead:
    """The plan as the API shows it, with its status and progress."""
    reached = progress(plan, machine, now)
    return MaintenancePlanRead(
        id=plan.id or 0,
        machine=plan.machine_id,
        name=plan.name,
        every_runtime_h=plan.every_runtime_h,
        every_jobs=plan.every_jobs,
        every_days=plan.every_days,
        last_done_at=plan.last_done_at,
        status=reached.status,
        progress=reached.reason,
        ratio=round(reached.ratio, 3),
    )


def add_plan(
    session: Session, actor: Actor | None, machine_id: str, data: MaintenancePlanCreate, now: datetime
) -> MaintenancePlan:
    """A maintenance plan: every N runtime hours, N jobs or N days, counted from now."""
    machine = registry.get_machine_or_raise(session, machine_id)
    if actor is not None and not actor.manages(machine.site_id):
        raise NotPermitted("only the site's managers plan maintenance")
    if not (data.every_runtime_h or data.every_jobs or data.every_days):
        raise InvalidRequest("a plan needs an interval: every so many runtime hours, jobs or days")
    plan = MaintenancePlan(
        machine_id=machine.id,
        name=data.name,
        every_runtime_h=data.every_runtime_h,
        every_jobs=data.every_jobs,
        every_days=data.every_days,
        last_done_at=now,
        runtime_s_at_done=machine.runtime_s,
        jobs_at_done=machine.jobs,
    )
    session.add(plan)
    session.flush()
    return plan


def list_plans(
    session: Session, machine_id: str, now: datetime, actor: Actor | None = None
) -> list[MaintenancePlanRead]:
    """The machine's maintenance plans and how far each is through its interval (its site's managers)."""
    machine = registry.get_machine_or_raise(session, machine_id)
    if actor is not None and not actor.manages(machine.site_id):
        raise NotFound("there is no machine '{machine_id}'", machine_id=machine_id)
    return [plan_read(p, machine, now) for p in repo.list_plans(session, machine_id)]


def mark_done(
    session: Session, link: MachineLink, actor: Actor, plan_id: int, note: str, now: datetime
) -> MaintenancePlan:
    """Maintenance was done: its counters restart, its alerts resolve, the block it caused lifts."""
    plan = repo.get_plan(session, plan_id)
    machine = registry_repo.get_machine(session, plan.machine_id) if plan else None
    if plan is None or machine is None or not actor.manages(machine.site_id):
        raise NotFound("there is no maintenance plan {plan_id}", plan_id=plan_id)
    plan.last_done_at, plan.runtime_s_at_done, plan.jobs_at_done = now, machine.runtime_s, machine.jobs
    session.add(plan)
    session.add(
        MaintenanceLog(plan_id=plan_id, machine_id=machine.id, done_at=now, done_by=actor.id, note=note)
    )
    alerts.resolve_plan_alerts(
        session, machine.id, plan_id, actor.id, f"maintenance done: {note}".strip(), now
    )
    session.flush()
    if not any(progress(p, machine, now).status == "overdue" for p in repo.list_plans(session, machine.id)):
        bookings.clear_blocks(session, machine.id, "maintenance", now)
    registry.refresh_state(session, link, machine, now)
    return plan


def check_maintenance(session: Session, link: MachineLink, now: datetime) -> int:
    """Open `due` and `overdue` alerts; an overdue plan blocks its machine. Returns alerts opened."""
    opened = 0
    for machine in registry_repo.list_machines(session):
        overdue = False
        for plan in repo.list_plans(session, machine.id):
            reached = progress(plan, machine, now)
            name = registry.machine_name(session, machine)
            if reached.status == "overdue":
                overdue = True
                if alerts.open_alert(
                    session,
                    AlertKind.overdue,
                    machine.site_id,
                    machine.id,
                    message(
                        "{machine}: maintenance '{plan}' is overdue ({progress})",
                        machine=name,
                        plan=plan.name,
                        progress=reached.said,
                    ),
                    now,
                    plan_id=plan.id,
                ):
                    opened += 1
            elif reached.status == "due" and alerts.open_alert(
                session,
                AlertKind.due,
                machine.site_id,
                machine.id,
                message(
                    "{machine}: maintenance '{plan}' is due soon ({progress})",
                    machine=name,
                    plan=plan.name,
                    progress=reached.said,
                ),
                now,
                plan_id=plan.id,
            ):
                opened += 1
        if overdue and not catalogue_repo.open_blocks(session, machine.id, "maintenance"):
            bookings.block_resource(session, machine.id, "maintenance", "maintenance overdue", now)
            registry.refresh_state(session, link, machine, now)
    return opened
