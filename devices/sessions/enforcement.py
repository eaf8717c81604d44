"""Enforcement of running sessions: warn the member, then lock the machine, at the end of their
runtime quota or of their booking. Run by a job every few seconds; each warning and lock is sent once.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from booking.bookings import repository as bookings_repo
from booking.catalogue.cache import CATALOGUE
from booking.ledger import service as ledger
from booking.members import repository as members_repo
from booking.messages import Minutes, TimeOfDay, message
from booking.models import Booking
from booking.notifications import notify
from devices.alerts import service as alerts
from devices.models import AlertKind
from devices.ports import MachineLink
from devices.registry import repository as registry_repo
from devices.registry import service as registry
from devices.sessions import repository as repo
from devices.sessions import rules


def enforce_sessions(session: Session, link: MachineLink, now: datetime) -> int:
    """Warn, then lock, sessions at the end of their runtime quota or booking; returns commands sent."""
    sent = 0
    for usage in repo.open_sessions(session):
        machine = registry_repo.get_machine(session, usage.machine_id)
        if machine is None or usage.member_id is None:
            continue
        member = members_repo.get_member(session, usage.member_id)
        plan_id = member.plan_id if member else None
        left = ledger.runtime_left_s(
            session,
            usage.member_id,
            plan_id,
            usage.quota_group,
            now,
            CATALOGUE.resource(session, machine.id).site.tz,
            running_s=rules.busy_s(usage.busy_so_far_s, usage.busy_since, now),
        )
        limit = ledger.runtime_limit_s(session, plan_id, usage.quota_group)
        if left is not None and left <= 0 and not usage.lock_sent:
            registry.send_command(
                session,
                link,
                machine,
                "lock",
                now,
                session_id=usage.external_id,
                reason="quota_exhausted",
                grace_s=machine.grace_s,
            )
            usage.lock_sent = True
            alerts.open_alert(
                session,
                AlertKind.quota,
                machine.site_id,
                machine.id,
                message(
                    "{name} used up their runtime quota on {machine}",
                    name=member.name if member else usage.member_id,
                    machine=registry.machine_name(session, machine),
                ),
                now,
                key=f"quota:{usage.id}",
                member_id=usage.member_id,
            )
            sent += 1
        elif left is not None and rules.quota_low(left, limit) and not usage.warned_quota:
            registry.send_command(
                session,
                link,
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
                registry.send_command(
                    session,
                    link,
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
                registry.send_command(
                    session,
                    link,
                    machine,
                    "warn",
                    now,
                    session_id=usage.external_id,
                    message=f"your booking ends in {max(1, seconds // 60)} min",
                    seconds_left=seconds,
                )
                usage.warned_end = True
                sent += 1
                _tell_booking_ends(session, held, registry.machine_name(session, machine), now)
        session.add(usage)
    return sent


def _tell_booking_ends(session: Session, held: Booking, machine_name: str, now: datetime) -> None:
    """The member at the machine is told (bell, e-mail, phone) as the machine shows its warning."""
    if held.end_warned_at is not None:
        return
    held.end_warned_at = now
    session.add(held)
    minutes = max(1, round((held.end_at - now).total_seconds() / 60))
    notify(
        session,
        held.member_id,
        "ending_soon",
        message(
            "Your booking of {machine} ends at {time}, in {minutes}; the machine locks then: "
            "finish the job and save your work",
            machine=machine_name,
            time=TimeOfDay(held.end_at, CATALOGUE.resource(session, held.resource_id).site.timezone),
            minutes=Minutes(minutes),
        ),
        booking=held,
        now=now,
    )
