"""Every query of the machines' domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from devices.models import (
    Alert,
    AlertKind,
    DeviceEvent,
    Gateway,
    Machine,
    MachineCommand,
    MaintenancePlan,
    SeqCursor,
    UsageSession,
)


def get_machine(session: Session, machine_id: str) -> Machine | None:
    """The machine with this id, or None."""
    return session.get(Machine, machine_id)


def lock_machine(session: Session, machine_id: str) -> Machine | None:
    """The machine, its row locked until the transaction ends (PostgreSQL; SQLite writes are serial)."""
    query = select(Machine).where(Machine.id == machine_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.exec(query).first()


def list_machines(session: Session, site_id: str | None = None) -> Sequence[Machine]:
    """Machines, optionally of one site, by id."""
    query = select(Machine)
    if site_id is not None:
        query = query.where(Machine.site_id == site_id)
    return session.exec(query.order_by(col(Machine.id))).all()


def machines_of_gateway(session: Session, gateway_id: str) -> Sequence[Machine]:
    """The machines a gateway speaks for."""
    return session.exec(select(Machine).where(Machine.gateway_id == gateway_id)).all()


def get_gateway(session: Session, gateway_id: str) -> Gateway | None:
    """The gateway with this id, or None."""
    return session.get(Gateway, gateway_id)


def silent_machines(session: Session, now: datetime) -> list[Machine]:
    """Online machines that sent nothing for longer than their `offline_after_s`."""
    machines = session.exec(select(Machine).where(col(Machine.online))).all()
    return [
        m
        for m in machines
        if m.last_seen_at is not None and (now - m.last_seen_at).total_seconds() > m.offline_after_s
    ]


def insert_event(session: Session, event: DeviceEvent) -> bool:
    """Store the event; False if an event with its id is already stored (a redelivery)."""
    if session.get(DeviceEvent, event.event_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return False
    return True


def advance_seq(session: Session, gateway_id: str, machine_id: str, boot_id: str, seq: int) -> int:
    """Record the event's seq; returns how many seqs were skipped since the last one (0: none)."""
    cursor = session.get(SeqCursor, (gateway_id, machine_id, boot_id))
    if cursor is None:
        session.add(SeqCursor(gateway_id=gateway_id, machine_id=machine_id, boot_id=boot_id, last_seq=seq))
        return 0
    gap = max(0, seq - cursor.last_seq - 1)
    if seq > cursor.last_seq:
        cursor.last_seq = seq
        session.add(cursor)
    return gap


def get_session_by_external(session: Session, machine_id: str, external_id: str) -> UsageSession | None:
    """The usage session with this wire id on the machine, or None."""
    return session.exec(
        select(UsageSession).where(
            UsageSession.machine_id == machine_id, UsageSession.external_id == external_id
        )
    ).first()


def open_sessions(session: Session) -> Sequence[UsageSession]:
    """Usage sessions not ended yet."""
    return session.exec(select(UsageSession).where(col(UsageSession.ended_at).is_(None))).all()


def list_sessions(session: Session, machine_id: str, limit: int = 100) -> Sequence[UsageSession]:
    """The machine's usage sessions, newest first."""
    return session.exec(
        select(UsageSession)
        .where(UsageSession.machine_id == machine_id)
        .order_by(col(UsageSession.started_at).desc())
        .limit(limit)
    ).all()


def unlock_for_session(session: Session, machine_id: str, external_id: str) -> MachineCommand | None:
    """The unlock command that minted this session id, if the center sent one."""
    commands = session.exec(
        select(MachineCommand)
        .where(MachineCommand.machine_id == machine_id, MachineCommand.cmd == "unlock")
        .order_by(col(MachineCommand.created_at).desc())
        .limit(50)
    ).all()
    return next((c for c in commands if c.payload.get("session_id") == external_id), None)


def get_command(session: Session, cmd_id: str) -> MachineCommand | None:
    """The command with this id, or None."""
    return session.get(MachineCommand, cmd_id)


def list_plans(session: Session, machine_id: str | None = None) -> Sequence[MaintenancePlan]:
    """Maintenance plans, optionally of one machine."""
    query = select(MaintenancePlan)
    if machine_id is not None:
        query = query.where(MaintenancePlan.machine_id == machine_id)
    return session.exec(query.order_by(col(MaintenancePlan.id))).all()


def get_plan(session: Session, plan_id: int) -> MaintenancePlan | None:
    """The maintenance plan with this id, or None."""
    return session.get(MaintenancePlan, plan_id)


def get_alert(session: Session, alert_id: str) -> Alert | None:
    """The alert with this id, or None."""
    return session.get(Alert, alert_id)


def open_alert_by_key(session: Session, key: str) -> Alert | None:
    """The open alert for this condition, or None."""
    return session.exec(select(Alert).where(Alert.open_key == key)).first()


def list_alerts(
    session: Session,
    *,
    site_ids: Sequence[str] | None,
    open_only: bool,
    kind: AlertKind | None = None,
    machine_id: str | None = None,
    limit: int = 200,
) -> Sequence[Alert]:
    """Alerts, newest first."""
    query = select(Alert)
    if site_ids is not None:
        query = query.where(col(Alert.site_id).in_(site_ids))
    if open_only:
        query = query.where(col(Alert.resolved_at).is_(None))
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if machine_id is not None:
        query = query.where(Alert.machine_id == machine_id)
    return session.exec(query.order_by(col(Alert.opened_at).desc()).limit(limit)).all()
