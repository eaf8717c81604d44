"""The machines' use cases: registry, live state, access decisions, usage, maintenance, alerts.

Each function works inside the caller's transaction and never commits. What machines must be told is
said through the `MachineLink` port; the bridge sends it once the transaction has committed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session
from ulid import ULID

from booking import spans
from booking.bookings import repository as bookings_repo
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import rules as catalogue_rules
from booking.catalogue import service as catalogue
from booking.catalogue.cache import CATALOGUE
from booking.errors import (
    Conflict,
    DomainError,
    InvalidRequest,
    NotFound,
    NotPermitted,
    QuotaExceeded,
)
from booking.ledger import service as ledger
from booking.members import repository as members_repo
from booking.members import rules as members_rules
from booking.members import service as members
from booking.members.actors import SYSTEM, Actor
from booking.models import ResourceKind, Role
from booking.schemas import ResourceCreate
from devices import repository as repo
from devices import rules
from devices.models import (
    Activity,
    Alert,
    AlertKind,
    DeviceEvent,
    Gateway,
    Machine,
    MachineCommand,
    MaintenanceLog,
    MaintenancePlan,
    UsageSession,
)
from devices.ports import CommandKind, CommandOut, MachineLink
from devices.schemas import (
    AlertRead,
    EventIn,
    MachineCreate,
    MachineRead,
    MaintenancePlanCreate,
    MaintenancePlanRead,
    UsageSessionRead,
)
from devices.state import Facts, derive_state

log = logging.getLogger(__name__)


def new_id() -> str:
    return str(ULID()).lower()


# =============================================================================================
# Registry


def register_machine(session: Session, data: MachineCreate, now: datetime) -> Machine:
    """Register a machine: a bookable resource of kind `machine`, and the gateway that speaks for it."""
    catalogue.create_resource(
        session,
        SYSTEM,
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
        raise InvalidRequest(f"{resource.name} is a {resource.kind.value}, not a machine")
    if repo.get_machine(session, data.id) is not None:
        raise Conflict(f"the machine '{data.id}' is already registered")
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
        raise NotFound(f"there is no machine '{machine_id}'")
    return machine


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
        power_w=machine.power_w,
        fault=f"{machine.fault_code}: {machine.fault_message}" if machine.fault_code else None,
    )


def list_machines(session: Session, now: datetime, site_id: str | None = None) -> list[MachineRead]:
    """Every machine's live status."""
    return [machine_read(session, m, now) for m in repo.list_machines(session, site_id)]


def list_sessions(
    session: Session, actor: Actor, machine_id: str, limit: int = 100
) -> list[UsageSessionRead]:
    """The machine's usage sessions, newest first (managers of its site)."""
    machine = get_machine_or_raise(session, machine_id)
    if not actor.manages(machine.site_id):
        raise NotPermitted("only the site's managers see a machine's sessions")
    return [
        UsageSessionRead(
            id=s.id,
            machine=s.machine_id,
            member=s.member_id,
            booking_id=s.booking_id,
            started_at=s.started_at,
            ended_at=s.ended_at,
            duration_s=s.duration_s,
            busy_s=s.busy_s,
            energy_wh=s.energy_wh,
            stop_type=s.stop_type,
        )
        for s in repo.list_sessions(session, machine_id, limit)
    ]


# =============================================================================================
# Live state


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
    gateway = repo.get_gateway(session, gateway_id)
    if gateway is None:
        return
    gateway.state, gateway.boot_id, gateway.last_seen_at = state, boot_id, now
    session.add(gateway)
    for machine in repo.machines_of_gateway(session, gateway_id):
        if state == "lost":
            _set_online(session, link, machine, False, now, why=f"its gateway {gateway_id} was lost")
        else:
            machine.last_seen_at = now
            _set_online(session, link, machine, True, now)


def gateway_heartbeat(session: Session, gateway_id: str, boot_id: str, now: datetime) -> None:
    """The gateway is alive."""
    gateway = repo.get_gateway(session, gateway_id)
    if gateway is not None:
        gateway.last_seen_at, gateway.boot_id, gateway.state = now, boot_id, "ready"
        session.add(gateway)


def machine_availability(
    session: Session, link: MachineLink, machine: Machine, online: bool, now: datetime
) -> None:
    """The device's own will (mirrored by its gateway): online or not."""
    if online:
        machine.last_seen_at = now
    _set_online(session, link, machine, online, now, why="the device reported itself offline")


def _set_online(
    session: Session, link: MachineLink, machine: Machine, online: bool, now: datetime, why: str = ""
) -> None:
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
                f"{_name(session, machine)} is offline: {why}",
                now,
            )
        session.add(machine)
    refresh_state(session, link, machine, now)


def telemetry(
    session: Session,
    link: MachineLink,
    machine: Machine,
    now: datetime,
    *,
    power_w: float | None,
    activity: Activity | None,
    energy_wh_total: float | None = None,
) -> None:
    """The latest measurements: they prove the machine alive and may change its activity."""
    machine.last_seen_at = now
    if power_w is not None:
        machine.power_w = power_w
    if activity is not None and activity != machine.activity:
        machine.activity = activity
        _note_activity(session, machine, activity, now)
    if not machine.online:
        _set_online(session, link, machine, True, now)
    else:
        refresh_state(session, link, machine, now)


def _note_activity(session: Session, machine: Machine, activity: Activity, now: datetime) -> None:
    """Keep the open session's busy time up to date as the machine turns busy or idle."""
    if machine.session_id is None:
        return
    usage = repo.get_session_by_external(session, machine.id, machine.session_id)
    if usage is None or usage.ended_at is not None:
        return
    if activity is Activity.busy and usage.busy_since is None:
        usage.busy_since = now
    elif activity is not Activity.busy and usage.busy_since is not None:
        usage.busy_so_far_s += (now - usage.busy_since).total_seconds()
        usage.busy_since = None
    session.add(usage)


def _name(session: Session, machine: Machine) -> str:
    resource = catalogue_repo.get_resource(session, machine.id)
    return resource.name if resource else machine.id


# =============================================================================================
# Events


def record_event(
    session: Session, gateway_id: str, machine: Machine, event: EventIn, now: datetime
) -> tuple[bool, int]:
    """Store the event once; (True if new, seqs skipped before it)."""
    stored = repo.insert_event(
        session,
        DeviceEvent(
            event_id=event.event_id,
            machine_id=machine.id,
            gateway_id=gateway_id,
            boot_id=event.boot_id,
            seq=event.seq,
            type=event.type,
            ts=event.ts,
            received_at=now,
            data=dict(event.data),
        ),
    )
    if not stored:
        return False, 0
    machine.last_seen_at = now
    return True, repo.advance_seq(session, gateway_id, machine.id, event.boot_id, event.seq)


def handle_event(
    session: Session, link: MachineLink, machine: Machine, event: EventIn, now: datetime
) -> None:
    """Act on a newly stored event."""
    data = event.data
    if event.type == "access.requested":
        access_requested(session, link, machine, str(data["request_id"]), str(data["card_uid"]), now)
    elif event.type == "session.started":
        card = data.get("card_uid")
        session_started(
            session, link, machine, str(data["session_id"]), str(card) if card else None, event.ts, now
        )
    elif event.type == "session.activity":
        activity = Activity(str(data["activity"]))
        if machine.activity != activity:
            machine.activity = activity
            _note_activity(session, machine, activity, now)
        refresh_state(session, link, machine, now)
    elif event.type == "session.stopped":
        session_stopped(
            session,
            link,
            machine,
            str(data["session_id"]),
            now,
            stop_type=str(data["stop_type"]),
            duration_s=_number(data.get("duration_s")),
            busy_s=_number(data.get("busy_s")),
            energy_wh=_number(data.get("energy_wh")),
        )
    elif event.type in ("job.started", "job.finished", "job.failed"):
        if event.type != "job.started":
            machine.jobs += 1
            session.add(machine)
    elif event.type == "fault.raised":
        fault_raised(session, link, machine, str(data["code"]), str(data["message"]), now)
    elif event.type == "fault.cleared":
        fault_cleared(
            session,
            link,
            machine,
            now,
            by="machine",
            note=f"cleared by the machine: {data.get('message', '')}",
        )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


# --- access --------------------------------------------------------------------------------------


def _command(
    link: MachineLink, session: Session, machine: Machine, cmd: CommandKind, now: datetime, **fields: object
) -> str:
    cmd_id = new_id()
    session.add(
        MachineCommand(cmd_id=cmd_id, machine_id=machine.id, cmd=cmd, payload=dict(fields), created_at=now)
    )
    gateway = machine.gateway_id
    link.send(
        CommandOut(
            cmd_id=cmd_id,
            site=machine.site_id,
            gateway=gateway,
            machine=machine.id,
            cmd=cmd,
            ts=now,
            fields=dict(fields),
        )
    )
    return cmd_id


def access_requested(
    session: Session, link: MachineLink, machine: Machine, request_id: str, card_uid: str, now: datetime
) -> None:
    """A card at the machine: unlock for a member with a valid booking, training and quota, or deny why."""
    reason, unlock = _decide(session, machine, card_uid, now)
    if reason is not None:
        log.info("deny %s at %s: %s", card_uid, machine.id, reason)
        _command(link, session, machine, "deny", now, request_id=request_id, reason=reason)
        return
    assert unlock is not None
    member_id, booking_id, max_duration = unlock
    member = members_repo.get_member(session, member_id)
    session_id = new_id()
    if booking_id is not None:
        bookings.mark_used(session, booking_id, now)
    machine.member_id, machine.booking_id = member_id, booking_id
    machine.deadline = now + timedelta(seconds=max_duration)
    session.add(machine)
    _command(
        link,
        session,
        machine,
        "unlock",
        now,
        request_id=request_id,
        session_id=session_id,
        member=(member.name if member else member_id)[:64],
        max_duration_s=max_duration,
    )
    refresh_state(session, link, machine, now)


def _decide(
    session: Session, machine: Machine, card_uid: str, now: datetime
) -> tuple[str | None, tuple[str, str | None, int] | None]:
    member = members_repo.get_member_by_card(session, card_uid)
    if member is None or not member.active or member.role is Role.kiosk:
        return "unknown_card", None
    if not machine.online:
        return "closed", None
    if machine.fault_code is not None:
        return "fault", None
    for block in catalogue_repo.open_blocks(session, machine.id):
        return (
            "maintenance"
            if block.reason == "maintenance"
            else "fault"
            if block.reason == "fault"
            else "manager"
        ), None
    resource = CATALOGUE.resource(session, machine.id)
    tz = resource.site.tz
    window = next(
        (
            w
            for w in catalogue_rules.opening_windows(now.astimezone(tz).date(), resource.site.hours, tz)
            if w.start <= now < w.end
        ),
        None,
    )
    closures = catalogue.site_closures(session, resource.site, spans.Span(now, now + timedelta(minutes=1)))
    if window is None or closures:
        return "closed", None
    if resource.training_id is not None:
        try:
            members_rules.check_training(
                resource.training_id,
                members_repo.trainings_held(session, member.id),
                now,
                resource.training_name or "",
                resource.name,
            )
        except NotPermitted:
            return "no_training", None
    early = now + timedelta(minutes=15)
    held = bookings_repo.member_booking_at(session, machine.id, member.id, now, early)
    if held is None:
        actor = members.load_actor(session, member)
        try:
            with session.begin_nested():
                held = bookings.book_walk_in(session, actor, machine.id, now)
        except QuotaExceeded:
            return "quota_exhausted", None
        except DomainError as exc:
            log.info("no walk-in for %s on %s: %s", member.id, machine.id, exc.detail)
            return "no_booking", None
    runtime_left = ledger.runtime_left_s(session, member.id, member.plan_id, resource.quota_group, now, tz)
    if runtime_left is not None and runtime_left <= 0:
        return "quota_exhausted", None
    duration = rules.max_duration_s(
        now,
        booking_end=held.end_at,
        grace_s=machine.grace_s,
        runtime_left_s=runtime_left,
        closes_at=window.end,
    )
    if duration <= 0:
        return "booking_ended", None
    return None, (member.id, held.id, duration)


# --- sessions ------------------------------------------------------------------------------------


def session_started(
    session: Session,
    link: MachineLink,
    machine: Machine,
    external_id: str,
    card_uid: str | None,
    started: datetime,
    now: datetime,
) -> UsageSession:
    """A use began: charge it to the member the center unlocked for, the card's member, or the booking's."""
    existing = repo.get_session_by_external(session, machine.id, external_id)
    if existing is not None:
        return existing
    member_id: str | None = None
    booking_id: str | None = None
    unlock = repo.unlock_for_session(session, machine.id, external_id)
    if unlock is not None:
        member_id, booking_id = machine.member_id, machine.booking_id
    if member_id is None and card_uid:
        member = members_repo.get_member_by_card(session, card_uid)
        member_id = member.id if member else None
    current = bookings_repo.booking_at(session, machine.id, now, early=now + timedelta(minutes=15))
    if current is not None and (member_id is None or current.member_id == member_id):
        member_id, booking_id = current.member_id, current.id
        bookings.mark_used(session, current.id, now)
    resource = catalogue_repo.get_resource(session, machine.id)
    usage = UsageSession(
        id=new_id(),
        machine_id=machine.id,
        external_id=external_id,
        member_id=member_id,
        booking_id=booking_id,
        card_uid=card_uid,
        quota_group=resource.quota_group if resource else None,
        started_at=min(started, now),
        busy_since=now if machine.activity is Activity.busy else None,
    )
    session.add(usage)
    machine.session_id, machine.member_id, machine.booking_id = external_id, member_id, booking_id
    if current is not None and machine.deadline is None:
        machine.deadline = current.end_at
    session.add(machine)
    session.flush()
    if member_id is None:
        open_alert(
            session,
            AlertKind.unbooked_use,
            machine.site_id,
            machine.id,
            f"{_name(session, machine)} is in use with no booking and no card (session {external_id})",
            now,
            key=f"unbooked_use:{machine.id}:{external_id}",
        )
    refresh_state(session, link, machine, now)
    return usage


def session_stopped(
    session: Session,
    link: MachineLink,
    machine: Machine,
    external_id: str,
    now: datetime,
    *,
    stop_type: str,
    duration_s: float,
    busy_s: float,
    energy_wh: float,
) -> UsageSession | None:
    """A use ended: store its figures, charge its runtime once, count it on the machine."""
    usage = repo.get_session_by_external(session, machine.id, external_id)
    if usage is None:
        usage = session_started(
            session, link, machine, external_id, None, now - timedelta(seconds=duration_s), now
        )
    if usage.ended_at is not None:
        return usage
    usage.ended_at = now
    usage.duration_s, usage.busy_s, usage.energy_wh, usage.stop_type = (
        duration_s,
        busy_s,
        energy_wh,
        stop_type,
    )
    usage.busy_since = None
    session.add(usage)
    machine.runtime_s += round(busy_s)
    machine.energy_wh += energy_wh
    if machine.adapter != "octoprint":  # printers count jobs from their job events
        machine.jobs += 1
    if usage.member_id is not None and usage.quota_group is not None and busy_s > 0:
        ledger.charge_runtime(
            session,
            member_id=usage.member_id,
            quota_group=usage.quota_group,
            at=usage.started_at,
            seconds=round(busy_s),
            now=now,
            booking_id=usage.booking_id,
            reference=usage.id,
        )
    if machine.session_id == external_id:
        machine.session_id = None
        machine.deadline = None
    session.add(machine)
    session.flush()
    refresh_state(session, link, machine, now)
    return usage


def fault_raised(
    session: Session, link: MachineLink, machine: Machine, code: str, message: str, now: datetime
) -> None:
    """The machine reports a fault: it is blocked, an alert opens, members booked on it are told."""
    machine.fault_code, machine.fault_message = code[:64], message[:500]
    session.add(machine)
    name = _name(session, machine)
    bookings.block_resource(session, machine.id, "fault", f"fault {code}: {message}"[:500], now)
    open_alert(session, AlertKind.fault, machine.site_id, machine.id, f"{name} fault {code}: {message}", now)
    refresh_state(session, link, machine, now)


def fault_cleared(
    session: Session, link: MachineLink, machine: Machine, now: datetime, *, by: str, note: str
) -> None:
    """The fault is over: the block lifts and the fault alert is resolved."""
    machine.fault_code = machine.fault_message = None
    session.add(machine)
    bookings.clear_blocks(session, machine.id, "fault", now)
    resolve_alerts_for(session, machine.id, AlertKind.fault, now, note, by=by)
    refresh_state(session, link, machine, now)


def acknowledge_command(session: Session, cmd_id: str, result: str, now: datetime) -> None:
    """The gateway answered a command."""
    command = repo.get_command(session, cmd_id)
    if command is not None and command.result is None:
        command.result, command.acked_at = result, now
        session.add(command)


# =============================================================================================
# Alerts


def open_alert(
    session: Session,
    kind: AlertKind,
    site_id: str,
    machine_id: str | None,
    message: str,
    now: datetime,
    *,
    key: str | None = None,
    plan_id: int | None = None,
    member_id: str | None = None,
) -> Alert | None:
    """Open an alert unless the same condition already has one open."""
    key = key or f"{kind.value}:{machine_id}:{plan_id or ''}"
    if repo.open_alert_by_key(session, key) is not None:
        return None
    alert = Alert(
        id=new_id(),
        kind=kind,
        site_id=site_id,
        machine_id=machine_id,
        plan_id=plan_id,
        member_id=member_id,
        message=message[:1000],
        open_key=key,
        opened_at=now,
    )
    session.add(alert)
    session.flush()
    return alert


def resolve_alerts_for(
    session: Session, machine_id: str, kind: AlertKind, now: datetime, note: str, *, by: str = "system"
) -> int:
    """Resolve the machine's open alerts of a kind (the condition is over)."""
    alerts = repo.list_alerts(session, site_ids=None, open_only=True, kind=kind, machine_id=machine_id)
    for alert in alerts:
        _resolve(session, alert, by, note, now)
    return len(alerts)


def _resolve(session: Session, alert: Alert, by: str, note: str, now: datetime) -> None:
    alert.resolved_at, alert.resolved_by, alert.open_key = now, by, None
    alert.note = (alert.note + "\n" + note).strip() if note else alert.note
    session.add(alert)


def alert_read(alert: Alert) -> AlertRead:
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
    )


def list_alerts(
    session: Session, actor: Actor, *, open_only: bool, site_id: str | None = None
) -> list[AlertRead]:
    """Alerts of the sites the actor manages, newest first."""
    if not (actor.is_admin or actor.managed_sites):
        raise NotPermitted("only managers see alerts")
    if site_id is not None and not actor.manages(site_id):
        raise NotPermitted(f"you do not manage the site '{site_id}'")
    sites = [site_id] if site_id else (None if actor.is_admin else sorted(actor.managed_sites))
    return [alert_read(a) for a in repo.list_alerts(session, site_ids=sites, open_only=open_only)]


def _alert_for(session: Session, actor: Actor, alert_id: str) -> Alert:
    alert = repo.get_alert(session, alert_id)
    if alert is None or not actor.manages(alert.site_id):
        raise NotFound(f"there is no alert '{alert_id}'")
    return alert


def acknowledge_alert(session: Session, actor: Actor, alert_id: str, note: str, now: datetime) -> Alert:
    """A manager has seen the alert."""
    alert = _alert_for(session, actor, alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, actor.id
        alert.note = (alert.note + "\n" + note).strip() if note else alert.note
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
    _resolve(session, alert, actor.id, note, now)
    if alert.kind is AlertKind.fault and alert.machine_id:
        machine = get_machine_or_raise(session, alert.machine_id)
        fault_cleared(session, link, machine, now, by=actor.id, note=note)
    session.flush()
    return alert


# =============================================================================================
# Maintenance


def plan_read(plan: MaintenancePlan, machine: Machine, now: datetime) -> MaintenancePlanRead:
    progress = _progress(plan, machine, now)
    return MaintenancePlanRead(
        id=plan.id or 0,
        machine=plan.machine_id,
        name=plan.name,
        every_runtime_h=plan.every_runtime_h,
        every_jobs=plan.every_jobs,
        every_days=plan.every_days,
        last_done_at=plan.last_done_at,
        status=progress.status,
        progress=progress.reason,
        ratio=round(progress.ratio, 3),
    )


def _progress(plan: MaintenancePlan, machine: Machine, now: datetime) -> rules.PlanProgress:
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


def add_plan(
    session: Session, actor: Actor | None, machine_id: str, data: MaintenancePlanCreate, now: datetime
) -> MaintenancePlan:
    """A maintenance plan: every N runtime hours, N jobs or N days, counted from now."""
    machine = get_machine_or_raise(session, machine_id)
    if actor is not None and not actor.manages(machine.site_id):
        raise NotPermitted("only the site's managers plan maintenance")
    if not (data.every_runtime_h or data.every_jobs or data.every_days):
        raise InvalidRequest("a plan needs an interval: every_runtime_h, every_jobs or every_days")
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
    machine = get_machine_or_raise(session, machine_id)
    if actor is not None and not actor.manages(machine.site_id):
        raise NotFound(f"there is no machine '{machine_id}'")
    return [plan_read(p, machine, now) for p in repo.list_plans(session, machine_id)]


def mark_done(
    session: Session, link: MachineLink, actor: Actor, plan_id: int, note: str, now: datetime
) -> MaintenancePlan:
    """Maintenance was done: its counters restart, its alerts resolve, the block it caused lifts."""
    plan = repo.get_plan(session, plan_id)
    machine = repo.get_machine(session, plan.machine_id) if plan else None
    if plan is None or machine is None or not actor.manages(machine.site_id):
        raise NotFound(f"there is no maintenance plan {plan_id}")
    plan.last_done_at, plan.runtime_s_at_done, plan.jobs_at_done = now, machine.runtime_s, machine.jobs
    session.add(plan)
    session.add(
        MaintenanceLog(plan_id=plan_id, machine_id=machine.id, done_at=now, done_by=actor.id, note=note)
    )
    for alert in repo.list_alerts(session, site_ids=None, open_only=True, machine_id=machine.id):
        if alert.plan_id == plan_id:
            _resolve(session, alert, actor.id, f"maintenance done: {note}".strip(), now)
    session.flush()
    if not any(_progress(p, machine, now).status == "overdue" for p in repo.list_plans(session, machine.id)):
        bookings.clear_blocks(session, machine.id, "maintenance", now)
    refresh_state(session, link, machine, now)
    return plan


def check_maintenance(session: Session, link: MachineLink, now: datetime) -> int:
    """Open `due` and `overdue` alerts; an overdue plan blocks its machine. Returns alerts opened."""
    opened = 0
    for machine in repo.list_machines(session):
        overdue = False
        for plan in repo.list_plans(session, machine.id):
            progress = _progress(plan, machine, now)
            name = _name(session, machine)
            if progress.status == "overdue":
                overdue = True
                if open_alert(
                    session,
                    AlertKind.overdue,
                    machine.site_id,
                    machine.id,
                    f"{name}: maintenance '{plan.name}' is overdue ({progress.reason})",
                    now,
                    plan_id=plan.id,
                ):
                    opened += 1
            elif progress.status == "due" and open_alert(
                session,
                AlertKind.due,
                machine.site_id,
                machine.id,
                f"{name}: maintenance '{plan.name}' is due soon ({progress.reason})",
                now,
                plan_id=plan.id,
            ):
                opened += 1
        if overdue and not catalogue_repo.open_blocks(session, machine.id, "maintenance"):
            bookings.block_resource(session, machine.id, "maintenance", "maintenance overdue", now)
            refresh_state(session, link, machine, now)
    return opened


# =============================================================================================
# Time-driven checks


def check_offline(session: Session, link: MachineLink, now: datetime) -> list[str]:
    """Machines silent for longer than their `offline_after_s` go offline (and raise an alert)."""
    went = []
    for machine in repo.silent_machines(session, now):
        _set_online(session, link, machine, False, now, why=f"nothing heard for {machine.offline_after_s} s")
        went.append(machine.id)
    return went


def enforce_sessions(session: Session, link: MachineLink, now: datetime) -> int:
    """Warn, then lock, sessions at the end of their runtime quota or booking; returns commands sent."""
    sent = 0
    for usage in repo.open_sessions(session):
        machine = repo.get_machine(session, usage.machine_id)
        if machine is None or usage.member_id is None:
            continue
        member = members_repo.get_member(session, usage.member_id)
        running = usage.busy_so_far_s + (
            (now - usage.busy_since).total_seconds() if usage.busy_since else 0.0
        )
        left = ledger.runtime_left_s(
            session,
            usage.member_id,
            member.plan_id if member else None,
            usage.quota_group,
            now,
            CATALOGUE.resource(session, machine.id).site.tz,
            running_s=running,
        )
        limit = ledger.runtime_limit_s(session, member.plan_id if member else None, usage.quota_group)
        if left is not None and left <= 0 and not usage.lock_sent:
            _command(
                link,
                session,
                machine,
                "lock",
                now,
                session_id=usage.external_id,
                reason="quota_exhausted",
                grace_s=machine.grace_s,
            )
            usage.lock_sent = True
            open_alert(
                session,
                AlertKind.quota,
                machine.site_id,
                machine.id,
                f"{member.name if member else usage.member_id} used up their runtime quota "
                f"on {_name(session, machine)}",
                now,
                key=f"quota:{usage.id}",
                member_id=usage.member_id,
            )
            sent += 1
        elif (
            left is not None
            and limit
            and left <= limit * (1 - rules.QUOTA_WARN_RATIO)
            and not usage.warned_quota
        ):
            _command(
                link,
                session,
                machine,
                "warn",
                now,
                session_id=usage.external_id,
                message=f"{int(left // 60)} min of runtime quota left",
                seconds_left=max(0, int(left)),
            )
            usage.warned_quota = True
            sent += 1
        held = bookings_repo.get_booking(session, usage.booking_id) if usage.booking_id else None
        if held is not None and not usage.lock_sent:
            if now >= held.end_at:
                _command(
                    link,
                    session,
                    machine,
                    "lock",
                    now,
                    session_id=usage.external_id,
                    reason="booking_ended",
                    grace_s=machine.grace_s,
                )
                usage.lock_sent = True
                sent += 1
            elif now >= held.end_at - rules.END_WARN and not usage.warned_end:
                seconds = int((held.end_at - now).total_seconds())
                _command(
                    link,
                    session,
                    machine,
                    "warn",
                    now,
                    session_id=usage.external_id,
                    message=f"your booking ends in {max(1, seconds // 60)} min",
                    seconds_left=seconds,
                )
                usage.warned_end = True
                sent += 1
        session.add(usage)
    return sent


def refresh_all(session: Session, link: MachineLink, now: datetime) -> int:
    """Recompute every machine's state (bookings start and end with the clock). Returns how many changed."""
    return sum(refresh_state(session, link, m, now) for m in repo.list_machines(session))
