"""Access at the machine: a card is presented; unlock it for a member with a valid booking, training
and quota (booking the slot under way as a walk-in if none is held), or deny, saying why.

Each function works inside the caller's transaction and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from booking import spans
from booking.bookings import repository as bookings_repo
from booking.bookings import service as bookings
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import rules as catalogue_rules
from booking.catalogue import service as catalogue
from booking.catalogue.cache import CATALOGUE
from booking.errors import DomainError, NotPermitted, QuotaExceeded
from booking.ledger import service as ledger
from booking.members import repository as members_repo
from booking.members import rules as members_rules
from booking.members import service as members
from booking.models import Booking, Role
from devices.access import rules
from devices.models import Machine, new_id
from devices.ports import MachineLink
from devices.registry import service as registry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unlock:
    """Who the machine is unlocked for, on which booking, and for how many seconds at most.

    It holds the member's name and the booking as `decide` read them: the tap's transaction reads
    neither again (a row whose object nobody holds any more leaves the session's identity map, and
    asking for it by id is one more query while the member waits at the machine)."""

    member_id: str
    booking_id: str | None
    max_duration_s: int
    member_name: str = ""
    booking: Booking | None = field(default=None, compare=False, repr=False)


def access_requested(
    session: Session, link: MachineLink, machine: Machine, request_id: str, card_uid: str, now: datetime
) -> None:
    """A card at the machine: unlock for a member with a valid booking, training and quota, or deny why."""
    decision = decide(session, machine, card_uid, now)
    if isinstance(decision, str):
        log.info("deny %s at %s: %s", card_uid, machine.id, decision)
        registry.send_command(session, link, machine, "deny", now, request_id=request_id, reason=decision)
        return
    if decision.booking is not None:
        bookings.mark_used(session, decision.booking.id, now)
    machine.member_id, machine.booking_id = decision.member_id, decision.booking_id
    machine.deadline = now + timedelta(seconds=decision.max_duration_s)
    session.add(machine)
    registry.send_command(
        session,
        link,
        machine,
        "unlock",
        now,
        request_id=request_id,
        session_id=new_id(),
        member=(decision.member_name or decision.member_id)[:64],
        max_duration_s=decision.max_duration_s,
    )
    registry.refresh_state(session, link, machine, now)


def decide(session: Session, machine: Machine, card_uid: str, now: datetime) -> Unlock | rules.DenyReason:
    """The unlock the card earns at the machine now, or the contract's reason to deny it.

    Books the slot under way as a walk-in when the member holds no booking (in a savepoint, so a
    refused walk-in writes nothing).
    """
    member = members_repo.get_member_by_card(session, card_uid)
    if member is None or not member.active or member.role is Role.kiosk:
        return "unknown_card"
    if not machine.online:
        return "closed"
    if machine.fault_code is not None:
        return "fault"
    for block in catalogue_repo.open_blocks(session, machine.id):
        return rules.block_reason(block.reason)
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
        return "closed"
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
            return "no_training"
    held = bookings_repo.member_booking_at(session, machine.id, member.id, now, now + rules.EARLY_START)
    if held is None:
        actor = members.load_actor(session, member)
        try:
            with session.begin_nested():
                held = bookings.book_walk_in(session, actor, machine.id, now)
        except QuotaExceeded:
            return "quota_exhausted"
        except DomainError as exc:
            log.info("no walk-in for %s on %s: %s", member.id, machine.id, exc.detail)
            return "no_booking"
    runtime_left = ledger.runtime_left_s(session, member.id, member.plan_id, resource.quota_group, now, tz)
    if runtime_left is not None and runtime_left <= 0:
        return "quota_exhausted"
    duration = rules.max_duration_s(
        now,
        booking_end=held.end_at,
        grace_s=machine.grace_s,
        runtime_left_s=runtime_left,
        closes_at=window.end,
    )
    if duration <= 0:
        return "booking_ended"
    return Unlock(member.id, held.id, duration, member.name, held)
