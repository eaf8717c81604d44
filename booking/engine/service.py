"""The booking engine's use cases: load what booking a resource for a member needs, check a slot,
and insert it under the database's guards with its quota reserved. Never commits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.catalogue.cache import CATALOGUE, ResourceInfo
from booking.catalogue.rules import QuotaLimits, check_closures, check_opening_hours
from booking.engine import repository as repo
from booking.engine.rules import block_end, check_free_seats, check_seats, check_times, taken_message
from booking.engine.status import initial_status
from booking.errors import Conflict, NotPermitted
from booking.ledger import service as ledger_service
from booking.members import repository as members_repo
from booking.members import service as members
from booking.members.actors import Actor, MemberInfo
from booking.members.rules import check_training
from booking.messages import At, Message, Name, Slot, message
from booking.models import Booking, BookingStatus, Role
from booking.security import new_booking_code, new_id
from booking.spans import ClosureSpan, SeatSpan, Span, peak_seats
from booking.sql import Pause, Steps, all_or_nothing, built, finish

# A rule checked in two steps: its question asked of the database, then this, which judges the answer.
Check = Callable[[], None]

# Check-in codes are drawn at random; a collision is rare, five in a row mean something is wrong.
CODE_ATTEMPTS = 5


@dataclass(slots=True)
class Target:
    """What booking a resource for a member needs loaded once, also across a whole series."""

    member: MemberInfo
    resource: ResourceInfo
    quota_limits: list[QuotaLimits]
    by_manager: bool
    closures: list[ClosureSpan] = field(default_factory=list)
    # The manager or kiosk booking on the member's behalf, None when members book for themselves.
    booked_by: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return self.resource.site.tz


def load_target(
    session: Session,
    actor: Actor,
    resource_id: str,
    member_id: str | None,
    now: datetime,
    *,
    card_presented: bool = False,
) -> Target:
    """The resource and the member a booking is for (the actor, or a member a manager names, or the
    holder of the card presented at the site's kiosk: `card_presented`, a walk-in and nothing else);
    refuses a suspended member and one who lacks the resource's training."""
    resource = CATALOGUE.resource(session, resource_id)
    site_id = resource.site_id
    if actor.member.role is Role.kiosk and not (card_presented and actor.is_kiosk_of(site_id)):
        raise NotPermitted("a kiosk books only walk-ins, for the card presented at it")
    if member_id is None or member_id == actor.id:
        member = actor.member
    else:
        if not (actor.manages(site_id) or actor.is_kiosk_of(site_id)):
            raise NotPermitted("only the site's managers and its kiosk can book for another member")
        member = MemberInfo.of(members.get_member_or_raise(session, member_id))
    if not member.active:
        raise NotPermitted("the account of {name} is suspended", name=member.name)
    if resource.site.approve_members and not member.approved:
        raise NotPermitted(
            "{site} lets members who signed up book once a manager has approved their account; "
            "the account of {name} awaits that approval",
            site=Name(resource.site.name, resource.site.name_en or None),
            name=member.name,
        )
    limits: list[QuotaLimits] = []
    if member.plan_id is not None and resource.quota_group is not None:
        limits = CATALOGUE.quota_limits(session, member.plan_id, resource.quota_group)
    if resource.training_id is not None:
        check_training(
            resource.training_id,
            members_repo.trainings_held(session, member.id),
            now,
            resource.training_name or resource.training_id,
            resource.name,
        )
    return Target(
        member=member,
        resource=resource,
        quota_limits=limits,
        by_manager=actor.manages(site_id),
        booked_by=actor.id if member.id != actor.id else None,
    )


def reads_database(database: str, actor: Actor, resource_id: str, member_id: str | None) -> bool:
    """Whether `load_target` and `with_closures` for this booking would read the database, not only
    this process's snapshots: one of them missing or stale, another member's account to load, a
    training to look up."""
    if member_id is not None and member_id != actor.id:
        return True
    known, resource = CATALOGUE.peek_resource(database, resource_id)
    if not known:
        return True
    if resource is None:  # no such resource: load_target refuses it from the snapshot
        return False
    if resource.training_id is not None:
        return True
    plan, group = actor.member.plan_id, resource.quota_group
    if plan is not None and group is not None and not CATALOGUE.knows_quota_limits(database, plan, group):
        return True
    return not CATALOGUE.knows_closures(database, resource.site_id)


def reads_member_rows(actor: Actor, target: Target) -> bool:
    """Whether `load_target` read the member's rows for this target (another member's account, the
    trainings held): what the write transaction reads again, to judge by what it holds."""
    return target.member.id != actor.id or target.resource.training_id is not None


def with_closures(session: Session, target: Target, start: datetime, end: datetime) -> Target:
    """The target with the site's closures over [start, end) loaded (once, for a whole series)."""
    target.closures = catalogue.site_closures(session, target.resource.site, Span(start, end))
    return target


def check_slot_rules(
    target: Target, start: datetime, end: datetime, seats: int, now: datetime, *, walk_in: bool = False
) -> None:
    """Every rule that needs no look at other bookings: times, hours, closures, seats."""
    resource = target.resource
    check_times(start, end, resource.rules, now, target.tz, walk_in=walk_in)
    check_seats(seats, resource.capacity, resource.exclusive, resource.name)
    place = resource.site.display_name
    check_opening_hours(start, end, resource.site.hours, target.tz, place)
    check_closures(start, end, target.closures, target.tz, place)


def check_free(
    session: Session, target: Target, start: datetime, end: datetime, seats: int, *, moving: str | None = None
) -> None:
    """Refuse a taken slot, naming the booking or the seats that hold it; `moving` is a booking being
    moved, which does not stand in its own way."""
    ask_free(session, target, start, end, seats, moving=moving)()


def ask_free(
    session: Session, target: Target, start: datetime, end: datetime, seats: int, *, moving: str | None = None
) -> Check:
    """`check_free` in two steps: lock the resource and ask what holds the slot now
    (HotStatement.ask); the check returned refuses a taken slot when called."""
    resource = target.resource
    # Bookings of one resource queue here (PostgreSQL): a pool's seats are counted one booking at a
    # time, and the loser of a race on an exclusive resource reads the winner's committed row; without
    # it, two inserts that conflict can each wait on the other inside the exclusion constraint until
    # PostgreSQL breaks the deadlock a second later.
    repo.lock_resource(session, resource.id)
    if not resource.exclusive:
        touching = repo.ask_active_bookings_touching(session, resource.id, start, end)

        def seats_free() -> None:
            taken = [SeatSpan(b.start_at, b.end_at, b.seats) for b in touching() if b.id != moving]
            in_use = peak_seats(taken, start, end)
            slot = Slot(start, end, target.tz.key)
            check_free_seats(in_use, seats, resource.capacity, resource.name, slot)

        return seats_free
    blocked_until = block_end(end, resource.buffer_minutes)
    if moving is None:
        first = repo.ask_first_exclusive_conflict(session, resource.id, start, blocked_until)
    else:
        others = repo.ask_active_bookings_touching(session, resource.id, start, blocked_until)

        def first() -> repo.Holder | None:
            return next((b for b in others() if b.id != moving), None)

    def slot_free() -> None:
        holder = first()
        if holder is not None:
            raise Conflict(_taken(target, holder, start, end))

    return slot_free


def check_in_service(session: Session, target: Target, start: datetime, end: datetime) -> None:
    """Refuse a span during which the resource is out of service (a fault, overdue maintenance)."""
    ask_in_service(session, target, start, end)()


def ask_in_service(session: Session, target: Target, start: datetime, end: datetime) -> Check:
    """`check_in_service` in two steps: ask for the resource's blocks over the span now
    (HotStatement.ask); the check returned refuses when called if there is one."""
    blocks = catalogue_repo.ask_block_messages(session, target.resource.id, start, end)

    def in_service() -> None:
        for reason, block_start in blocks():
            raise Conflict(
                "{name} is out of service since {since} ({message}); "
                "it takes no bookings until a manager clears it",
                name=target.resource.name,
                since=At(block_start, target.tz.key),
                message=reason,
            )

    return in_service


def _taken(target: Target, holder: repo.Holder, start: datetime, end: datetime) -> Message:
    resource = target.resource
    return taken_message(
        resource.name,
        resource.buffer_minutes,
        start,
        end,
        holder.start_at,
        holder.end_at,
        holder.member_id == target.member.id,
        target.tz,
    )


def book_one(
    session: Session,
    target: Target,
    start: datetime,
    end: datetime,
    seats: int,
    now: datetime,
    *,
    note: str = "",
    series_id: str | None = None,
    walk_in: bool = False,
    new_code: Callable[[], str] = new_booking_code,
) -> Booking:
    """Book one slot for the target's member: every rule, then the guarded insert and the ledger."""
    booking = draft_one(
        target, start, end, seats, now, note=note, series_id=series_id, walk_in=walk_in, new_code=new_code
    )
    return write_one(session, target, booking, now, new_code=new_code)


def draft_one(
    target: Target,
    start: datetime,
    end: datetime,
    seats: int,
    now: datetime,
    *,
    note: str = "",
    series_id: str | None = None,
    walk_in: bool = False,
    new_code: Callable[[], str] = new_booking_code,
) -> Booking:
    """The row that booking one slot would insert, once every rule that reads no other booking
    passes (times, hours, closures, seats): made before the write transaction, which then holds the
    write slot only for what must be asked there (`write_one`)."""
    check_slot_rules(target, start, end, seats, now, walk_in=walk_in)
    resource = target.resource
    return _new_booking(
        target,
        start,
        end,
        seats,
        now,
        status=initial_status(resource.requires_approval, target.by_manager),
        code=new_code(),
        quota_group=resource.quota_group,
        note=note,
        series_id=series_id,
        booked_by=target.booked_by,
    )


def write_one(
    session: Session,
    target: Target,
    booking: Booking,
    now: datetime,
    *,
    new_code: Callable[[], str] = new_booking_code,
) -> Booking:
    """Insert a drafted row (`draft_one`) if, in this transaction, the resource is in service, the
    slot free and the member within the quotas; then reserve its time in the ledger."""
    return finish(write_one_steps(session, target, booking, now, new_code=new_code))


def write_one_steps(
    session: Session,
    target: Target,
    booking: Booking,
    now: datetime,
    *,
    new_code: Callable[[], str] = new_booking_code,
) -> Steps[Booking]:
    """`write_one` in steps (booking.sql.Steps): it pauses once its questions are asked, and once its
    INSERT is."""
    start, end, seats = booking.start_at, booking.end_at, booking.seats
    # The three questions go out together (one round trip on PostgreSQL, after both locks), and are
    # judged in this order. Lock order is member, then resource: the same in every transaction, so
    # no deadlock.
    in_service = ask_in_service(session, target, start, end)
    ledger_service.hold_balance(session, target.member.id)
    free = ask_free(session, target, start, end, seats)
    within_quotas = ledger_service.ask_quotas(
        session, target.member.id, target.quota_limits, start, end, seats, target.tz, now
    )
    yield Pause.ASKED
    in_service()
    free()
    within_quotas()
    if all_or_nothing(session):
        # Its INSERT goes out with the COMMIT, unread: a refusal of the row fails the COMMIT, and the
        # booking is written again alone, where the refusal is read and answered (`_insert`).
        repo.insert_booking_unread(session, booking)
        yield Pause.WRITING
    else:
        inserted = repo.ask_insert_booking(session, booking)
        yield Pause.WRITING
        _insert(session, target, booking, new_code, inserted)
    ledger_service.reserve(session, booking, now)
    return booking


def lock_claims(session: Session, claims: Sequence[Claim]) -> None:
    """Lock, in one order for every transaction, the members and the resources of several writes
    (`claims`) that one transaction will make together: all the members by id, then all the resources
    by id. Each write then takes its own locks again (no-ops), in the same order as a write alone:
    member, then resource; so transactions that write several bookings at once cannot deadlock with
    each other or with one that writes one."""
    members = sorted({member for member, _resource in claims})
    resources = sorted({resource for _member, resource in claims})
    ledger_service.hold_balances(session, members)
    repo.lock_resources(session, resources)


# What a booking's write locks: its member's ledger and its resource (their ids).
Claim = tuple[str, str]


def claim(target: Target) -> Claim:
    """The locks a booking of this target takes (`lock_claims`)."""
    return (target.member.id, target.resource.id)


def event_target(session: Session, actor: Actor, resource_id: str) -> Target:
    """The room or space an event's session books, for the manager who runs the event: the event is
    theirs, so neither their plan's quota nor the resource's training applies."""
    resource = CATALOGUE.resource(session, resource_id)
    return Target(member=actor.member, resource=resource, quota_limits=[], by_manager=True)


def book_for_event(
    session: Session,
    target: Target,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    event_id: str,
    note: str,
) -> Booking:
    """Book a room or space for one session of an event: the site's hours and closures, the resource
    in service and free (its whole pool of seats), and the same guarded insert as any booking. A
    member's rules (lead time, longest booking, booking horizon, quota) do not apply to the center's
    own events; the booking is confirmed, and the no-show job leaves it alone."""
    resource = target.resource
    place = resource.site.display_name
    check_opening_hours(start, end, resource.site.hours, target.tz, place)
    check_closures(start, end, target.closures, target.tz, place)
    check_in_service(session, target, start, end)
    seats = 1 if resource.exclusive else resource.capacity
    check_free(session, target, start, end, seats)
    booking = _new_booking(
        target,
        start,
        end,
        seats,
        now,
        status=BookingStatus.confirmed,
        code=new_booking_code(),
        quota_group=None,
        note=note,
        event_id=event_id,
    )
    _insert(session, target, booking, new_booking_code)
    return booking


def _new_booking(
    target: Target,
    start: datetime,
    end: datetime,
    seats: int,
    now: datetime,
    *,
    status: BookingStatus,
    code: str,
    quota_group: str | None,
    note: str,
    series_id: str | None = None,
    booked_by: str | None = None,
    event_id: str | None = None,
) -> Booking:
    """A new booking row of the target's member on its resource (not yet inserted)."""
    resource = target.resource
    return built(
        Booking,
        {
            "id": new_id(),
            "resource_id": resource.id,
            "site_id": resource.site_id,
            "member_id": target.member.id,
            "start_at": start,
            "end_at": end,
            "block_end": block_end(end, resource.buffer_minutes),
            "seats": seats,
            "exclusive": resource.exclusive,
            "status": status,
            "code": code,
            "quota_group": quota_group,
            "series_id": series_id,
            "note": note,
            "created_at": now,
            "updated_at": now,
            "checked_in_at": None,
            "decided_by": None,
            "booked_by": booked_by,
            "event_id": event_id,
        },
    )


def _insert(
    session: Session,
    target: Target,
    booking: Booking,
    new_code: Callable[[], str],
    asked: Callable[[], None] | None = None,
) -> None:
    """The guarded insert (its first attempt already `asked`, or not): a new code after a collision,
    the winner named after a lost race."""
    for _attempt in range(CODE_ATTEMPTS):
        try:
            (asked or repo.ask_insert_booking(session, booking))()
            return
        except repo.CodeTaken:
            asked = None
            booking.code = new_code()
        except repo.OverlapRace as exc:
            holder = repo.first_exclusive_conflict(
                session, booking.resource_id, booking.start_at, booking.block_end
            )
            detail = (
                _taken(target, holder, booking.start_at, booking.end_at)
                if holder is not None
                else message(
                    "{resource} was booked {slot} by someone else a moment ago",
                    resource=target.resource.name,
                    slot=Slot(booking.start_at, booking.end_at, target.tz.key),
                )
            )
            raise Conflict(detail) from exc
    raise Conflict(
        "{attempts} check-in codes in a row were already taken, so {name} {slot} was not booked; "
        "please try again",
        attempts=CODE_ATTEMPTS,
        name=target.resource.name,
        slot=Slot(booking.start_at, booking.end_at, target.tz.key),
    )
