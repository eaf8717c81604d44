"""Alerts, and the two conditions that open and close them by themselves: a machine offline, a fault.

An alert is opened once per condition (its key) and resolved when the condition is over, by the
system or by a manager; managers of the alert's site acknowledge and resolve it. A machine goes
offline (silent, its gateway lost, its own will) and comes back, or reports a fault and clears it,
here, because each of those opens or closes an alert; resolving a fault's alert by hand returns the
machine to service. Each function works inside the caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from booking.bookings import service as bookings
from booking.errors import NotFound, NotPermitted
from booking.members import repository as members_repo
from booking.members.actors import Actor
from booking.messages import Message, message
from booking.notifications import notify
from devices.alerts import repository as repo
from devices.alerts import rules
from devices.models import Activity, Alert, AlertKind, Machine, new_id
from devices.ports import MachineLink
from devices.registry import repository as registry_repo
from devices.registry import service as registry
from devices.schemas import AlertRead

# --- opening and resolving ------------------------------------------------------------------------


def open_alert(
    session: Session,
    kind: AlertKind,
    site_id: str,
    machine_id: str | None,
    said: str | Message,
    now: datetime,
    *,
    key: str | None = None,
    plan_id: int | None = None,
    member_id: str | None = None,
) -> Alert | None:
    """Open an alert unless the same condition already has one open."""
    key = key or rules.condition_key(kind, machine_id, plan_id)
    if repo.open_alert_by_key(session, key) is not None:
        return None
    alert = Alert(
        id=new_id(),
        kind=kind,
        site_id=site_id,
        machine_id=machine_id,
        plan_id=plan_id,
        member_id=member_id,
        message=(said.english() if isinstance(said, Message) else said)[:1000],
        data=said.to_json() if isinstance(said, Message) else None,
        open_key=key,
        opened_at=now,
    )
    session.add(alert)
    session.flush()
    _tell_managers(session, alert, now)
    return alert


def _tell_managers(session: Session, alert: Alert, now: datetime) -> None:
    """Every manager of the alert's site is told, in the app and by e-mail (their choice)."""
    text: Message = Message.from_json(alert.data) if alert.data else Message(alert.message)
    said = message("An alert at the FabLab: {text}", text=text)
    for manager_id in members_repo.managers_of(session, alert.site_id):
        notify(session, manager_id, f"alert_{alert.kind.value}", said, now=now, link="/manage/alerts")


def resolve_alerts_for(
    session: Session, machine_id: str, kind: AlertKind, now: datetime, note: str, *, by: str = "system"
) -> int:
    """Resolve the machine's open alerts of a kind (the condition is over)."""
    alerts = repo.list_alerts(session, site_ids=None, open_only=True, kind=kind, machine_id=machine_id)
    for alert in alerts:
        resolve(session, alert, by, note, now)
    return len(alerts)


def resolve_plan_alerts(
    session: Session, machine_id: str, plan_id: int, by: str, note: str, now: datetime
) -> None:
    """Resolve the open alerts a maintenance plan raised on its machine (the maintenance was done)."""
    for alert in repo.list_alerts(session, site_ids=None, open_only=True, machine_id=machine_id):
        if alert.plan_id == plan_id:
            resolve(session, alert, by, note, now)


def resolve(session: Session, alert: Alert, by: str, note: str, now: datetime) -> None:
    """Close the alert: the condition may open a new one from now on."""
    alert.resolved_at, alert.resolved_by, alert.open_key = now, by, None
    alert.note = rules.add_note(alert.note, note)
    session.add(alert)


# --- managers -------------------------------------------------------------------------------------


def alert_read(alert: Alert) -> AlertRead:
    """The alert as the API shows it."""
    return AlertRead(
        id=alert.id,
        kind=alert.kind,
        site=alert.site_id,
        machine=alert.machine_id,
        message=alert.message,
        opened_at=alert.opened_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
        note=alert.note,
        data=alert.data,
    )


def list_alerts(
    session: Session, actor: Actor, *, open_only: bool, site_id: str | None = None
) -> list[AlertRead]:
    """Alerts of the sites the actor manages, newest first."""
    if not (actor.is_admin or actor.managed_sites):
        raise NotPermitted("only managers see alerts")
    if site_id is not None and not actor.manages(site_id):
        raise NotPermitted("you do not manage the site '{site_id}'", site_id=site_id)
    sites = [site_id] if site_id else (None if actor.is_admin else sorted(actor.managed_sites))
    return [alert_read(a) for a in repo.list_alerts(session, site_ids=sites, open_only=open_only)]


def _alert_for(session: Session, actor: Actor, alert_id: str) -> Alert:
    alert = repo.get_alert(session, alert_id)
    if alert is None or not actor.manages(alert.site_id):
        raise NotFound("there is no alert '{alert_id}'", alert_id=alert_id)
    return alert


def acknowledge_alert(session: Session, actor: Actor, alert_id: str, note: str, now: datetime) -> Alert:
    """A manager has seen the alert."""
    alert = _alert_for(session, actor, alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, actor.id
        alert.note = rules.add_note(alert.note, note)
        session.add(alert)
    return alert


def resolve_alert(
    session: Session, link: MachineLink, actor: Actor, alert_id: str, note: str, now: datetime
) -> Alert:
    """A manager closes the alert; for a fault this also returns the machine to service."""
    alert = _alert_for(session, actor, alert_id)
    if alert.resolved_at is not None:
        return alert
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, actor.id
    resolve(session, alert, actor.id, note, now)
    if alert.kind is AlertKind.fault and alert.machine_id:
        machine = registry.get_machine_or_raise(session, alert.machine_id)
        fault_cleared(session, link, machine, now, by=actor.id, note=note)
    session.flush()
    return alert


# --- offline and back -----------------------------------------------------------------------------


def set_online(
    session: Session,
    link: MachineLink,
    machine: Machine,
    online: bool,
    now: datetime,
    why: Message | None = None,
) -> None:
    """The machine is reachable or not: an offline alert opens (saying why) or resolves."""
    if machine.online != online:
        machine.online = online
        if online:
            resolve_alerts_for(session, machine.id, AlertKind.offline, now, "back online")
        else:
            machine.activity = Activity.unknown
            open_alert(
                session,
                AlertKind.offline,
                machine.site_id,
                machine.id,
                message(
                    "{machine} is offline: {why}",
                    machine=registry.machine_name(session, machine),
                    why=why or message("no reason given"),
                ),
                now,
            )
        session.add(machine)
    registry.refresh_state(session, link, machine, now)


def gateway_state(
    session: Session,
    link: MachineLink,
    gateway_id: str,
    site_id: str,
    state: str,
    boot_id: str,
    now: datetime,
) -> None:
    """A gateway was born (`ready`) or lost (its will): its machines go online or offline with it."""
    gateway = registry_repo.get_gateway(session, gateway_id)
    if gateway is None:
        return
    gateway.state, gateway.boot_id, gateway.last_seen_at = state, boot_id, now
    session.add(gateway)
    for machine in registry_repo.machines_of_gateway(session, gateway_id):
        if state == "lost":
            set_online(
                session,
                link,
                machine,
                False,
                now,
                why=message("its gateway {gateway} was lost", gateway=gateway_id),
            )
        else:
            machine.last_seen_at = now
            set_online(session, link, machine, True, now)


def machine_availability(
    session: Session, link: MachineLink, machine: Machine, online: bool, now: datetime
) -> None:
    """The device's own will (mirrored by its gateway): online or not."""
    if online:
        machine.last_seen_at = now
    set_online(session, link, machine, online, now, why=message("the device reported itself offline"))


def check_offline(session: Session, link: MachineLink, now: datetime) -> list[str]:
    """Machines silent for longer than their `offline_after_s` go offline (and raise an alert)."""
    went = []
    for machine in registry_repo.silent_machines(session, now):
        set_online(
            session,
            link,
            machine,
            False,
            now,
            why=message("nothing heard for {seconds} s", seconds=machine.offline_after_s),
        )
        went.append(machine.id)
    return went


# --- faults ---------------------------------------------------------------------------------------


def fault_raised(
    session: Session, link: MachineLink, machine: Machine, code: str, message: str, now: datetime
) -> None:
    """The machine reports a fault: it is blocked, an alert opens, members booked on it are told."""
    machine.fault_code, machine.fault_message = code[:64], message[:500]
    session.add(machine)
    name = registry.machine_name(session, machine)
    bookings.block_resource(session, machine.id, "fault", f"fault {code}: {message}"[:500], now)
    # The device's own words stay as they came (a controller speaks no language of ours).
    fault = Message(
        "{machine} reported fault {code}: {text}", {"machine": name, "code": code, "text": message}
    )
    open_alert(session, AlertKind.fault, machine.site_id, machine.id, fault, now)
    registry.refresh_state(session, link, machine, now)


def fault_cleared(
    session: Session, link: MachineLink, machine: Machine, now: datetime, *, by: str, note: str
) -> None:
    """The fault is over: the block lifts and the fault alert is resolved."""
    machine.fault_code = machine.fault_message = None
    session.add(machine)
    bookings.clear_blocks(session, machine.id, "fault", now)
    resolve_alerts_for(session, machine.id, AlertKind.fault, now, note, by=by)
    registry.refresh_state(session, link, machine, now)
