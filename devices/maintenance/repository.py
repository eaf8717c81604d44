"""Every query of maintenance: plans and the log of maintenance done."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from devices.models import Machine, MaintenanceLog, MaintenancePlan


def get_plan(session: Session, plan_id: int) -> MaintenancePlan | None:
    """The maintenance plan with this id, or None."""
    return session.get(MaintenancePlan, plan_id)


def list_plans(session: Session, machine_id: str | None = None) -> Sequence[MaintenancePlan]:
    """Maintenance plans, optionally of one machine, by id."""
    query = select(MaintenancePlan)
    if machine_id is not None:
        query = query.where(MaintenancePlan.machine_id == machine_id)
    return session.exec(query.order_by(col(MaintenancePlan.id))).all()


def plans_of_machines(session: Session, machine_ids: Sequence[str]) -> Sequence[MaintenancePlan]:
    """The plans of these machines, in no particular order."""
    return session.exec(select(MaintenancePlan).where(col(MaintenancePlan.machine_id).in_(machine_ids))).all()


def plans_with_machines(
    session: Session, *, site_ids: Sequence[str] | None = None, machine_id: str | None = None
) -> Sequence[tuple[MaintenancePlan, Machine]]:
    """Plans with their machines, of the sites' machines (or of one machine), in no particular order."""
    query = select(MaintenancePlan, Machine).join(Machine, col(Machine.id) == col(MaintenancePlan.machine_id))
    if site_ids is not None:
        query = query.where(col(Machine.site_id).in_(site_ids))
    if machine_id is not None:
        query = query.where(Machine.id == machine_id)
    return session.exec(query).all()


def list_log(
    session: Session,
    *,
    site_ids: Sequence[str] | None = None,
    machine_id: str | None = None,
    limit: int = 50,
) -> Sequence[tuple[MaintenanceLog, str, str]]:
    """Maintenance done on the sites' (or one machine's) machines, newest first: (entry, plan name, site)."""
    query = (
        select(MaintenanceLog, MaintenancePlan.name, Machine.site_id)
        .join(MaintenancePlan, col(MaintenancePlan.id) == col(MaintenanceLog.plan_id))
        .join(Machine, col(Machine.id) == col(MaintenanceLog.machine_id))
    )
    if site_ids is not None:
        query = query.where(col(Machine.site_id).in_(site_ids))
    if machine_id is not None:
        query = query.where(MaintenanceLog.machine_id == machine_id)
    return session.exec(
        query.order_by(col(MaintenanceLog.done_at).desc(), col(MaintenanceLog.id).desc()).limit(limit)
    ).all()
