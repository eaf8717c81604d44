"""What machines report, and the usage sessions it makes: events stored once and acted on, sessions
started and stopped (their runtime charged to the member), activity and telemetry.

Each function works inside the caller's transaction and never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import assert_never

from sqlmodel import Session

from booking.bookings import repository as bookings_repo
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.errors import NotPermitted
from booking.ledger import service as ledger
from booking.members import repository as members_repo
from booking.members.actors import Actor
from booking.messages import message
from devices.access import rules as access_rules
from devices.access import service as access
from devices.alerts import service as alerts
from devices.events import (
    AccessRequested,
    FaultCleared,
    FaultRaised,
    JobFailed,
    JobFinished,
    JobStarted,
    MachineEvent,
    SessionActivity,
    SessionStarted,
    SessionStopped,
    event_data,
)
from devices.models import Activity, AlertKind, DeviceEvent, Machine, UsageSession, new_id
from devices.ports import MachineLink
from devices.registry import repository as registry_repo
from devices.registry import service as registry
from devices.schemas import UsageSessionRead
from devices.sessions import repository as repo

# --- events -------------------------------------------------------------------------------------


def record_event(
    session: Session, gateway_id: str, machine: Machine, event: MachineEvent, now: datetime
) -> tuple[bool, int]:
    """Store the event once; (True if new, seqs skipped before it)."""
    envelope = event.envelope
    stored = repo.insert_event(
        session,
        DeviceEvent(
            event_id=envelope.event_id,
            machine_id=machine.id,
            gateway_id=gateway_id,
            boot_id=envelope.boot_id,
            seq=envelope.seq,
            type=event.type,
            ts=envelope.ts,
            received_at=now,
            data=event_data(event),
        ),
    )
    if not stored:
        return False, 0
    machine.last_seen_at = now
    return True, repo.advance_seq(session, gateway_id, machine.id, envelope.boot_id, envelope.seq)


def handle_repeated_event(session: Session, link: MachineLink, machine: Machine, event: MachineEvent) -> None:
    """Act on an event stored before: a card tap sent again gets its answer again, nothing else does."""
    if isinstance(event, AccessRequested):
        registry.repeat_answer(session, link, machine, event.request_id)


def handle_event(
    session: Session, link: MachineLink, machine: Machine, event: MachineEvent, now: datetime
) -> None:
    """Act on a newly stored event."""
    match event:
        case AccessRequested(request_id=request_id, card_uid=card_uid):
            access.access_requested(session, link, machine, request_id, card_uid, now)
        case SessionStarted(session_id=session_id, card_uid=card_uid):
            session_started(session, link, machine, session_id, card_uid, event.envelope.ts, now)
        case SessionActivity(activity=activity):
            note_activity(session, machine, activity, now)
            registry.refresh_state(session, link, machine, now)
        case SessionStopped():
            session_stopped(
                session,
                link,
                machine,
                event.session_id,
                now,
                stop_type=event.stop_type,
                duration_s=event.duration_s,
                busy_s=event.busy_s,
                energy_wh=event.energy_wh,
            )
        case JobStarted():
            pass
        case JobFinished() | JobFailed():
            machine.jobs += 1
            session.add(machine)
        case FaultRaised(code=code, message=message):
            alerts.fault_raised(session, link, machine, code, message, now)
        case FaultCleared(message=message):
            alerts.fault_cleared(
                session, link, machine, now, by="machine", note=f"cleared by the machine: {message}"
            )
        case _:
            assert_never(event)


# --- activity -----------------------------------------------------------------------------------


def note_activity(session: Session, machine: Machine, activity: Activity, now: datetime) -> None:
    """The machine turned busy, idle or off: keep the open session's busy time up to date."""
    if machine.activity == activity:
        return
    machine.activity = activity
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
    if activity is not None:
        note_activity(session, machine, activity, now)
    if not machine.online:
        alerts.set_online(session, link, machine, True, now)
    else:
        registry.refresh_state(session, link, machine, now)


# --- sessions -----------------------------------------------------------------------------------


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
    unlock = registry_repo.unlock_for_session(session, machine.id, external_id)
    if unlock is not None:
        member_id, booking_id = machine.member_id, machine.booking_id
    if member_id is None and card_uid:
        member = members_repo.get_member_by_card(session, card_uid)
        member_id = member.id if member else None
    current = bookings_repo.booking_at(session, machine.id, now, early=now + access_rules.EARLY_START)
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
        alerts.open_alert(
            session,
            AlertKind.unbooked_use,
            machine.site_id,
            machine.id,
            message(
                "{machine} is in use with no booking and no card",
                machine=registry.machine_name(session, machine),
            ),
            now,
            key=f"unbooked_use:{machine.id}:{external_id}",
        )
    registry.refresh_state(session, link, machine, now)
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
    registry.refresh_state(session, link, machine, now)
    return usage


def list_sessions(
    session: Session, actor: Actor, machine_id: str, limit: int = 100
) -> list[UsageSessionRead]:
    """The machine's usage sessions, newest first (managers of its site)."""
    machine = registry.get_machine_or_raise(session, machine_id)
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
