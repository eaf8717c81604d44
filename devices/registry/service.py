"""The registry: machines and their gateways, their live state as the contract publishes it, commands.

Each function works inside the caller's transaction and never commits. What machines must be told is
said through the `MachineLink` port; the bridge sends it once the transaction has committed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlmodel import Session

from booking.bookings import repository as bookings_repo
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.errors import Conflict, InvalidRequest, NotFound
from booking.members import repository as members_repo
from booking.members.actors import SYSTEM, Actor
from booking.models import ResourceKind
from booking.schemas import ResourceCreate
from devices.models import Gateway, Machine, MachineCommand, new_id
from devices.ports import CommandKind, CommandOut, MachineLink
from devices.registry import repository as repo
from devices.schemas import MachineCreate, MachineRead
from devices.state import Facts, derive_state

# --- machines and gateways ----------------------------------------------------------------------


def register_machine(session: Session, actor: Actor | None, data: MachineCreate, now: datetime) -> Machine:
    """Register a machine: a bookable resource of kind `machine`, and the gateway that speaks for it.

    `actor` is the administrator registering it; None only for the command line and the system, which
    act for the operator.
    """
    # The catalogue checks who acts (an administrator, or the system) and refreshes its cache.
    catalogue.create_resource(
        session,
        actor if actor is not None else SYSTEM,
        ResourceCreate(
            id=data.id,
            site_id=data.site_id,
            kind=ResourceKind.machine,
            name=data.name,
            name_en=data.name_en,
            training_id=data.training_id,
            quota_group=data.quota_group,
            max_minutes=data.max_minutes,
            buffer_minutes=data.buffer_minutes,
        ),
    )
    return attach_machine(session, data, now)


def attach_machine(session: Session, data: MachineCreate, now: datetime) -> Machine:
    """Give an existing `machine` resource its gateway and live state."""
    resource = catalogue.get_resource_or_raise(session, data.id)
    if resource.kind is not ResourceKind.machine:
        raise InvalidRequest(
            "{name} is a {value}, not a machine", name=resource.name, value=resource.kind.value
        )
    if repo.get_machine(session, data.id) is not None:
        raise Conflict("the machine '{id}' is already registered", id=data.id)
    machine = Machine(
        id=data.id,
        site_id=resource.site_id,
        gateway_id=data.gateway_id,
        adapter=data.adapter,
        offline_after_s=data.offline_after_s,
        grace_s=data.grace_s,
        busy_on_w=data.busy_on_w,
        busy_off_w=data.busy_off_w,
        since=now,
    )
    session.add(machine)
    if repo.get_gateway(session, data.gateway_id) is None:
        session.add(Gateway(id=data.gateway_id, site_id=resource.site_id))
    session.flush()
    return machine


def get_machine_or_raise(session: Session, machine_id: str) -> Machine:
    """The machine, or NotFound."""
    machine = repo.get_machine(session, machine_id)
    if machine is None:
        raise NotFound("there is no machine '{machine_id}'", machine_id=machine_id)
    return machine


def machine_name(session: Session, machine: Machine) -> str:
    """The machine's name as people know it (its resource's), or its id."""
    resource = catalogue_repo.get_resource(session, machine.id)
    return resource.name if resource else machine.id


def machine_read(session: Session, machine: Machine, now: datetime) -> MachineRead:
    """The machine's live status as the contract publishes it."""
    resource = catalogue_repo.get_resource(session, machine.id)
    member = members_repo.get_member(session, machine.member_id) if machine.member_id else None
    return MachineRead(
        machine=machine.id,
        site=machine.site_id,
        state=machine.state,
        activity=machine.activity,
        online=machine.online,
        session_id=machine.session_id,
        member=member.name[:64] if member else None,
        booking_id=machine.booking_id,
        since=machine.since,
        deadline=machine.deadline,
        rev=machine.rev,
        ts=now,
        name=resource.name if resource else machine.id,
        name_en=resource.name_en if resource else "",
        power_w=machine.power_w,
        fault=f"{machine.fault_code}: {machine.fault_message}" if machine.fault_code else None,
    )


def list_machines(session: Session, now: datetime, site_id: str | None = None) -> list[MachineRead]:
    """Every machine's live status."""
    return [machine_read(session, m, now) for m in repo.list_machines(session, site_id)]


def gateway_heartbeat(session: Session, gateway_id: str, boot_id: str, now: datetime) -> None:
    """The gateway is alive."""
    gateway = repo.get_gateway(session, gateway_id)
    if gateway is not None:
        gateway.last_seen_at, gateway.boot_id, gateway.state = now, boot_id, "ready"
        session.add(gateway)


# --- live state ---------------------------------------------------------------------------------


def refresh_state(session: Session, link: MachineLink, machine: Machine, now: datetime) -> bool:
    """Recompute the machine's state from the facts; publish and return True if anything shown changed."""
    current = bookings_repo.booking_at(session, machine.id, now)
    blocked = bool(catalogue_repo.block_messages(session, machine.id, now, now + timedelta(seconds=1)))
    state = derive_state(
        Facts(
            online=machine.online,
            fault=machine.fault_code is not None,
            in_session=machine.session_id is not None,
            blocked=blocked,
            reserved=current is not None,
        )
    )
    if machine.session_id is None:
        machine.booking_id = current.id if current else None
        machine.member_id = current.member_id if current else None
        machine.deadline = current.end_at if current else None
    shown = "|".join(
        str(value)
        for value in (
            state,
            machine.activity,
            machine.online,
            machine.session_id,
            machine.booking_id,
            machine.member_id,
            machine.deadline,
            machine.fault_code,
        )
    )
    changed = shown != machine.shown
    if state != machine.state:
        machine.since = now
        machine.state = state
    if changed:
        machine.shown = shown
        machine.rev += 1
        session.add(machine)
        session.flush()
        link.publish_status(machine_read(session, machine, now))
    return changed


def refresh_all(session: Session, link: MachineLink, now: datetime) -> int:
    """Recompute every machine's state (bookings start and end with the clock). Returns how many changed."""
    return sum(refresh_state(session, link, m, now) for m in repo.list_machines(session))


# --- commands -----------------------------------------------------------------------------------


def repeat_answer(session: Session, link: MachineLink, machine: Machine, request_id: str) -> bool:
    """Send again, under its own cmd_id, the answer this card tap already had; False if it had none.

    A controller that hears nothing within a second sends its tap again (the same event): the first
    answer may have been lost with a bridge process that died between its commit and its send. The
    gateway acknowledges a cmd_id it already has as `duplicate` and does not act twice.
    """
    command = repo.answer_to_request(session, machine.id, request_id)
    if command is None:
        return False
    link.send(
        CommandOut(
            cmd_id=command.cmd_id,
            site=machine.site_id,
            gateway=machine.gateway_id,
            machine=machine.id,
            cmd=cast("CommandKind", command.cmd),
            ts=command.created_at,
            fields=dict(command.payload),
        )
    )
    return True


def send_command(
    session: Session, link: MachineLink, machine: Machine, cmd: CommandKind, now: datetime, **fields: object
) -> str:
    """Record a command for the machine and hand it to the link (sent after the commit); its id."""
    cmd_id = new_id()
    session.add(
        MachineCommand(cmd_id=cmd_id, machine_id=machine.id, cmd=cmd, payload=dict(fields), created_at=now)
    )
    link.send(
        CommandOut(
            cmd_id=cmd_id,
            site=machine.site_id,
            gateway=machine.gateway_id,
            machine=machine.id,
            cmd=cmd,
            ts=now,
            fields=dict(fields),
        )
    )
    return cmd_id


def acknowledge_command(session: Session, cmd_id: str, result: str, now: datetime) -> None:
    """The gateway answered a command."""
    command = repo.get_command(session, cmd_id)
    if command is not None and command.result is None:
        command.result, command.acked_at = result, now
        session.add(command)
