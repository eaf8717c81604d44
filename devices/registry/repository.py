"""Every query of the registry: machines, gateways and the commands sent to machines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from booking.models import Resource
from devices.models import Gateway, Machine, MachineCommand


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


def machines_of_sites(session: Session, site_ids: Sequence[str]) -> Sequence[Machine]:
    """The machines of these sites, in no particular order."""
    return session.exec(select(Machine).where(col(Machine.site_id).in_(site_ids))).all()


def machine_names_of_sites(session: Session, site_ids: Sequence[str]) -> Sequence[tuple[str, str]]:
    """(id, resource name) of the sites' machines, in no particular order."""
    return session.exec(
        select(Machine.id, Resource.name)
        .join(Resource, col(Resource.id) == col(Machine.id))
        .where(col(Machine.site_id).in_(site_ids))
    ).all()


def machines_of_gateway(session: Session, gateway_id: str) -> Sequence[Machine]:
    """The machines a gateway speaks for."""
    return session.exec(select(Machine).where(Machine.gateway_id == gateway_id)).all()


def silent_machines(session: Session, now: datetime) -> list[Machine]:
    """Online machines that sent nothing for longer than their `offline_after_s`."""
    machines = session.exec(select(Machine).where(col(Machine.online))).all()
    return [
        m
        for m in machines
        if m.last_seen_at is not None and (now - m.last_seen_at).total_seconds() > m.offline_after_s
    ]


def get_gateway(session: Session, gateway_id: str) -> Gateway | None:
    """The gateway with this id, or None."""
    return session.get(Gateway, gateway_id)


def get_command(session: Session, cmd_id: str) -> MachineCommand | None:
    """The command with this id, or None."""
    return session.get(MachineCommand, cmd_id)


def answer_to_request(session: Session, machine_id: str, request_id: str) -> MachineCommand | None:
    """The unlock or deny that answered this card tap, if the center sent one."""
    commands = session.exec(
        select(MachineCommand)
        .where(MachineCommand.machine_id == machine_id, col(MachineCommand.cmd).in_(("unlock", "deny")))
        .order_by(col(MachineCommand.created_at).desc())
        .limit(50)
    ).all()
    return next((c for c in commands if c.payload.get("request_id") == request_id), None)


def unlock_for_session(session: Session, machine_id: str, external_id: str) -> MachineCommand | None:
    """The unlock command that minted this session id, if the center sent one."""
    commands = session.exec(
        select(MachineCommand)
        .where(MachineCommand.machine_id == machine_id, MachineCommand.cmd == "unlock")
        .order_by(col(MachineCommand.created_at).desc())
        .limit(50)
    ).all()
    return next((c for c in commands if c.payload.get("session_id") == external_id), None)
