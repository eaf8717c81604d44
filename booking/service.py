"""The booking domain's use cases. Services load, apply the rules, write and flush; never commit."""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlmodel import Session
from ulid import ULID

from booking import repository as repo
from booking import rules
from booking.catalogue import CATALOGUE, ResourceInfo
from booking.errors import (
    Conflict,
    DomainError,
    InvalidRequest,
    NotFound,
    NotPermitted,
    TooManyAttempts,
    Unauthenticated,
)
from booking.models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatus,
    Closure,
    LedgerEntry,
    LedgerKind,
    LoginFailure,
    ManagerSite,
    Member,
    MemberTraining,
    Notification,
    Resource,
    ResourceBlock,
    ResourceKind,
    Role,
    Series,
    Site,
    WaitlistEntry,
    WaitlistStatus,
)
from booking.rules import ClosureSpan, SeatSpan, Span
from booking.schemas import (
    AvailabilityRead,
    BookingCreate,
    BookingRead,
    ClosureCreate,
    FreeSpan,
    MemberCreate,
    MemberTrainingRead,
    PlanRead,
    QuotaRead,
    QuotaRuleRead,
    ResourceCreate,
    ResourceRead,
    ResourceRules,
    SeriesRead,
    SiteCreate,
    SkippedOccurrence,
    WaitlistCreate,
    WaitlistRead,
)
from booking.security import hash_password, new_booking_code, new_token, verify_password

# The widest span one availability request may cover.
MAX_AVAILABILITY_DAYS = 62


def new_id() -> str:
    """A new lowercase ULID: unique, unguessable enough for URLs, sortable by creation."""
    return str(ULID()).lower()


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A signed-in member as a plain value: safe to keep between requests and share across threads."""

    id: str
    email: str
    name: str
    role: Role
    plan_id: str | None
    card_uid: str | None
    language: str
    kiosk_site_id: str | None
    token_version: int
    active: bool

    @classmethod
    def of(cls, member: Member) -> MemberInfo:
        return cls(
            id=member.id,
            email=member.email,
            name=member.name,
            role=Role(member.role),
            plan_id=member.plan_id,
            card_uid=member.card_uid,
            language=member.language,
            kiosk_site_id=member.kiosk_site_id,
            token_version=member.token_version,
            active=member.active,
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a member and the sites they manage."""

    member: MemberInfo
    managed_sites: frozenset[str] = field(default_factory=frozenset)

    @property
    def id(self) -> str:
        return self.member.id

    @property
    def is_admin(self) -> bool:
        return self.member.role is Role.admin

    def manages(self, site_id: str) -> bool:
        """Whether the actor may act on the site's bookings and machines as a manager."""
        return self.is_admin or site_id in self.managed_sites

    def is_kiosk_of(self, site_id: str) -> bool:
        return self.member.role is Role.kiosk and self.member.kiosk_site_id == site_id


def load_actor(session: Session, member: Member) -> Actor:
    """The actor for a signed-in member."""
    sites = repo.managed_sites(session, member.id) if member.role is Role.manager else set()
    return Actor(member=MemberInfo.of(member), managed_sites=frozenset(sites))


# =============================================================================================
# Catalogue: sites, closures, resources, plans


def get_site_or_raise(session: Session, site_id: str) -> Site:
    """The site, or NotFound."""
    site = repo.get_site(session, site_id)
    if site is None:
        raise NotFound(f"there is no site '{site_id}'")
    return site


def create_site(session: Session, data: SiteCreate) -> Site:
    """Add a site after checking its time zone and opening hours."""
    rules.zone(data.timezone)
    rules.parse_opening_hours(data.opening_hours)
    if repo.get_site(session, data.id) is not None:
        raise Conflict(f"a site with id '{data.id}' already exists")
    site = Site(**data.model_dump())
    session.add(site)
    session.flush()
    return site


def add_closure(session: Session, actor: Actor, site_id: str, data: ClosureCreate) -> Closure:
    """Close a site for a span (a manager's own closure, beside public holidays)."""
    get_site_or_raise(session, site_id)
    if not actor.manages(site_id):
        raise NotPermitted("only the site's managers can close it")
    if data.end <= data.start:
        raise InvalidRequest("a closure's end must be after its start")
    closure = Closure(site_id=site_id, start_at=data.start, end_at=data.end, reason=data.reason)
    session.add(closure)
    session.flush()
    return closure


def get_resource_or_raise(session: Session, resource_id: str) -> Resource:
    """The resource, or NotFound."""
    resource = repo.get_resource(session, resource_id)
    if resource is None or not resource.active:
        raise NotFound(f"there is no resource '{resource_id}'")
    return resource


def create_resource(session: Session, data: ResourceCreate) -> Resource:
    """Add a bookable resource after checking its site, training and rules."""
    get_site_or_raise(session, data.site_id)
    if repo.get_resource(session, data.id) is not None:
        raise Conflict(f"a resource with id '{data.id}' already exists")
    if data.training_id is not None and repo.get_training(session, data.training_id) is None:
        raise InvalidRequest(f"there is no training '{data.training_id}'")
    if data.min_minutes > data.max_minutes:
        raise InvalidRequest("min_minutes must not exceed max_minutes")
    resource = Resource(**data.model_dump())
    session.add(resource)
    session.flush()
    return resource


def resource_read(resource: Resource) -> ResourceRead:
    """A resource as the API shows it."""
    return ResourceRead(
        id=resource.id,
        site=resource.site_id,
        kind=resource.kind,
        name=resource.name,
        name_en=resource.name_en,
        description=resource.description,
        capacity=resource.capacity,
        requires_training=resource.training_id,
        rules=ResourceRules(
            slot_minutes=resource.slot_minutes,
            min_minutes=resource.min_minutes,
            max_minutes=resource.max_minutes,
            lead_minutes=resource.lead_minutes,
            max_days_ahead=resource.max_days_ahead,
            buffer_minutes=resource.buffer_minutes,
            requires_approval=resource.requires_approval,
            allow_walk_in=resource.allow_walk_in,
            quota_group=resource.quota_group,
        ),
        active=resource.active,
    )


def list_plans(session: Session) -> list[PlanRead]:
    """Every plan with its quota rules."""
    return [
        PlanRead(
            id=plan.id,
            name=plan.name,
            name_en=plan.name_en,
            monthly_price_vnd=plan.monthly_price_vnd,
            quotas=[QuotaRuleRead.model_validate(rule) for rule in repo.list_quota_rules(session, plan.id)],
        )
        for plan in repo.list_plans(session)
    ]


class SiteLike(Protocol):
    """What closures need of a site: a Site row or a catalogue SiteInfo."""

    @property
    def id(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def holiday_country(self) -> str: ...


def site_closures(session: Session, site: SiteLike, span: Span) -> list[ClosureSpan]:
    """Managers' closures and public holidays of the site touching the span."""
    tz = rules.zone(site.timezone)
    closures = repo.list_closures(session, site.id, span)
    if site.holiday_country:
        first = span.start.astimezone(tz).year
        last = span.end.astimezone(tz).year
        closures.extend(
            holiday
            for holiday in rules.holiday_closures(site.holiday_country, range(first, last + 1), tz)
            if rules.overlaps(holiday.start, holiday.end, span.start, span.end)
        )
    return closures


# =============================================================================================
# Members, sign-in, trainings


def get_member_or_raise(session: Session, member_id: str) -> Member:
    """The member, or NotFound."""
    member = repo.get_member(session, member_id)
    if member is None:
        raise NotFound(f"there is no member '{member_id}'")
    return member


def find_member(session: Session, id_or_email: str) -> Member:
    """The member with this id or e-mail address, or NotFound."""
    member = (
        repo.get_member_by_email(session, id_or_email)
        if "@" in id_or_email
        else repo.get_member(session, id_or_email)
    )
    if member is None:
        raise NotFound(f"there is no member '{id_or_email}'")
    return member


def _member_slug(session: Session, email: str) -> str:
    local = unicodedata.normalize("NFKD", email.split("@", 1)[0]).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", local.lower()).strip("-")[:48] or "member"
    candidate, n = base, 1
    while repo.member_id_taken(session, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def create_member(
    session: Session, data: MemberCreate, now: datetime, *, password_hash: str | None = None
) -> Member:
    """Create an account; managers get their sites, a kiosk is bound to its one site."""
    email = data.email.strip().lower()
    if repo.get_member_by_email(session, email) is not None:
        raise Conflict(f"an account with the e-mail {email} already exists")
    if data.plan_id is not None and repo.get_plan(session, data.plan_id) is None:
        raise InvalidRequest(f"there is no plan '{data.plan_id}'")
    for site_id in data.sites:
        get_site_or_raise(session, site_id)
    if data.role is Role.kiosk and len(data.sites) != 1:
        raise InvalidRequest("a kiosk account is bound to exactly one site (--site)")
    if data.role is Role.manager and not data.sites:
        raise InvalidRequest("a manager needs at least one site to manage (--site)")
    card = data.card_uid.upper() if data.card_uid else None
    if card is not None and repo.get_member_by_card(session, card) is not None:
        raise Conflict(f"the card {card} already belongs to another member")
    member = Member(
        id=_member_slug(session, email),
        email=email,
        name=data.name or email.split("@", 1)[0],
        password_hash=password_hash or hash_password(data.password),
        role=data.role,
        plan_id=data.plan_id,
        card_uid=card,
        language=data.language,
        kiosk_site_id=data.sites[0] if data.role is Role.kiosk else None,
        ical_token=new_token(),
        created_at=now,
    )
    session.add(member)
    session.flush()
    if data.role is Role.manager:
        for site_id in data.sites:
            session.add(ManagerSite(member_id=member.id, site_id=site_id))
        session.flush()
    return member


def authenticate(
    session: Session,
    email: str,
    password: str,
    now: datetime,
    *,
    address: str = "",
    max_failures: int = 5,
    window: timedelta = timedelta(minutes=5),
) -> Member:
    """The member whose e-mail and password these are; refuses after too many failures."""
    email = email.strip().lower()
    since = now - window
    if repo.count_login_failures(session, email, since) >= max_failures:
        oldest = repo.oldest_login_failure(session, email, since) or now
        wait = max(1, math.ceil((oldest + window - now).total_seconds() / 60))
        raise TooManyAttempts(f"too many failed sign-ins for {email}; try again in {wait} min")
    member = repo.get_member_by_email(session, email)
    if member is None or not member.active or not verify_password(member.password_hash, password):
        repo.add_login_failure(session, LoginFailure(email=email, address=address[:64], at=now))
        session.flush()
        raise Unauthenticated("the e-mail or the password is wrong")
    repo.clear_login_failures(session, email)
    return member


def set_password(session: Session, member: Member, password: str) -> None:
    """Set a new password; every token and session the member held stops working."""
    if len(password) < 8:
        raise InvalidRequest("a password needs at least 8 characters")
    member.password_hash = hash_password(password)
    member.token_version += 1
    session.add(member)
    session.flush()


def grant_training(
    session: Session, actor: Actor | None, member_id: str, training_id: str, now: datetime
) -> MemberTraining:
    """Record that a member holds a training (renewing its expiry if they already did)."""
    if actor is not None and not (actor.is_admin or actor.managed_sites):
        raise NotPermitted("only managers can grant trainings")
    member = find_member(session, member_id)
    training = repo.get_training(session, training_id)
    if training is None:
        raise NotFound(f"there is no training '{training_id}'")
    expires = now + timedelta(days=training.valid_days) if training.valid_days else None
    grant = session.get(MemberTraining, (member.id, training.id))
    if grant is None:
        grant = MemberTraining(member_id=member.id, training_id=training.id, granted_at=now)
    grant.granted_at, grant.expires_at = now, expires
    grant.granted_by = actor.id if actor is not None else None
    session.add(grant)
    session.flush()
    return grant


def revoke_training(session: Session, actor: Actor, member_id: str, training_id: str) -> None:
    """Withdraw a member's training."""
    if not (actor.is_admin or actor.managed_sites):
        raise NotPermitted("only managers can revoke trainings")
    member = find_member(session, member_id)
    grant = session.get(MemberTraining, (member.id, training_id))
    if grant is None:
        raise NotFound(f"{member.name} does not hold the training '{training_id}'")
    session.delete(grant)
    session.flush()


def list_member_trainings(session: Session, member: MemberInfo, now: datetime) -> list[MemberTrainingRead]:
    """The member's trainings, with whether each is still valid."""
    names = {t.id: t.name for t in repo.list_trainings(session)}
    return [
        MemberTrainingRead(
            training_id=g.training_id,
            name=names.get(g.training_id, g.training_id),
            granted_at=g.granted_at,
            expires_at=g.expires_at,
            valid=g.expires_at is None or g.expires_at > now,
        )
        for g in repo.list_member_trainings(session, member.id)
    ]


# =============================================================================================
# Bookings


def booking_read(booking: Booking) -> BookingRead:
    """A booking as the API shows it."""
    return BookingRead(
        id=booking.id,
        resource_id=booking.resource_id,
        site=booking.site_id,
        member=booking.member_id,
        start=booking.start_at,
        end=booking.end_at,
        seats=booking.seats,
        status=booking.status,
        code=booking.code,
        series_id=booking.series_id,
        note=booking.note,
        created_at=booking.created_at,
        checked_in_at=booking.checked_in_at,
    )


@dataclass(slots=True)
class _Target:
    """What booking a resource for a member needs loaded once, also across a whole series."""

    member: MemberInfo
    resource: ResourceInfo
    quota_limits: list[rules.QuotaLimits]
    by_manager: bool
    closures: list[ClosureSpan] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return self.resource.site.tz


def _load_target(
    session: Session, actor: Actor, resource_id: str, member_id: str | None, now: datetime
) -> _Target:
    resource = CATALOGUE.resource(session, resource_id)
    site_id = resource.site_id
    if member_id is None or member_id == actor.id:
        if actor.member.role is Role.kiosk:
            raise InvalidRequest("a kiosk books for a member: give the member")
        member = actor.member
    else:
        if not (actor.manages(site_id) or actor.is_kiosk_of(site_id)):
            raise NotPermitted("only the site's managers and its kiosk can book for another member")
        member = MemberInfo.of(get_member_or_raise(session, member_id))
    if not member.active:
        raise NotPermitted(f"the account of {member.name} is suspended")
    limits: list[rules.QuotaLimits] = []
    if member.plan_id is not None and resource.quota_group is not None:
        limits = CATALOGUE.quota_limits(session, member.plan_id, resource.quota_group)
    if resource.training_id is not None:
        rules.check_training(
            resource.training_id,
            repo.trainings_held(session, member.id),
            now,
            resource.training_name or resource.training_id,
            resource.name,
        )
    return _Target(member=member, resource=resource, quota_limits=limits, by_manager=actor.manages(site_id))


def _check_slot_rules(
    target: _Target, start: datetime, end: datetime, seats: int, now: datetime, *, walk_in: bool = False
) -> None:
    """Every rule that needs no look at other bookings: times, hours, closures, seats."""
    resource = target.resource
    rules.check_times(start, end, resource.rules, now, target.tz, walk_in=walk_in)
    rules.check_seats(seats, resource.capacity, resource.exclusive, resource.name)
    place = resource.site.display_name
    rules.check_opening_hours(start, end, resource.site.hours, target.tz, place)
    rules.check_closures(start, end, target.closures, target.tz, place)


def _check_free(session: Session, target: _Target, start: datetime, end: datetime, seats: int) -> None:
    """Refuse a taken slot, naming the booking or the seats that hold it."""
    resource = target.resource
    if not resource.exclusive:
        repo.lock_resource(session, resource.id)
        taken = [
            SeatSpan(b.start_at, b.end_at, b.seats)
            for b in repo.active_bookings_touching(session, resource.id, start, end)
        ]
        in_use = rules.peak_seats(taken, start, end)
        if in_use + seats > resource.capacity:
            free = max(resource.capacity - in_use, 0)
            raise Conflict(
                f"{resource.name} has {free} of {resource.capacity} seats free at its busiest "
                f"during {rules.format_span(start, end, target.tz)}; {seats} were asked for"
            )
        return
    # Bookings of one resource queue here (PostgreSQL) so the loser of a race reads the winner's
    # committed row; without it, two inserts that conflict can each wait on the other inside the
    # exclusion constraint until PostgreSQL breaks the deadlock a second later.
    repo.lock_resource(session, resource.id)
    blocked_until = rules.block_end(end, resource.buffer_minutes)
    holder = repo.first_exclusive_conflict(session, resource.id, start, blocked_until)
    if holder is not None:
        raise Conflict(_taken_message(target, holder, start, end))


def _check_in_service(session: Session, target: _Target, start: datetime, end: datetime) -> None:
    """Refuse a span during which the resource is out of service (a fault, overdue maintenance)."""
    for message, block_start in repo.block_messages(session, target.resource.id, start, end):
        since = block_start.astimezone(target.tz).strftime("%Y-%m-%d %H:%M")
        raise Conflict(
            f"{target.resource.name} is out of service since {since} ({message}); "
            "it takes no bookings until a manager clears it"
        )


def _taken_message(target: _Target, holder: repo.Holder, start: datetime, end: datetime) -> str:
    resource = target.resource
    span = rules.format_span(holder.start_at, holder.end_at, target.tz)
    if holder.member_id == target.member.id:
        message = f"you already booked {resource.name} {span}"
    else:
        message = f"{resource.name} is booked {span}"
    if resource.buffer_minutes and not rules.overlaps(start, end, holder.start_at, holder.end_at):
        message += f", and it needs {resource.buffer_minutes} min between bookings"
    return message


def _check_quotas(
    session: Session, target: _Target, start: datetime, end: datetime, seats: int, now: datetime
) -> None:
    """Refuse a booking past any quota rule of the member's plan for the resource's group."""
    if not target.quota_limits:
        return
    group = target.quota_limits[0].quota_group
    requested = int((end - start).total_seconds()) * seats
    spans = [rules.period_bounds(start, limits.period, target.tz) for limits in target.quota_limits]
    usage = repo.quota_usage(
        session,
        target.member.id,
        group,
        spans,
        now,
        count_bookings=any(limits.max_bookings is not None for limits in target.quota_limits),
        count_future=any(limits.max_future_bookings is not None for limits in target.quota_limits),
    )
    for limits, used in zip(target.quota_limits, usage, strict=True):
        rules.check_quota(limits, used, requested)


def _book_one(
    session: Session,
    target: _Target,
    start: datetime,
    end: datetime,
    seats: int,
    now: datetime,
    *,
    note: str = "",
    series_id: str | None = None,
    walk_in: bool = False,
) -> Booking:
    """Book one slot for the target's member: every rule, then the guarded insert and the ledger."""
    _check_slot_rules(target, start, end, seats, now, walk_in=walk_in)
    _check_in_service(session, target, start, end)
    # Lock order is member, then resource (pools): the same in every transaction, so no deadlock.
    repo.lock_member(session, target.member.id)
    _check_free(session, target, start, end, seats)
    _check_quotas(session, target, start, end, seats, now)
    resource = target.resource
    status = (
        BookingStatus.pending
        if resource.requires_approval and not target.by_manager
        else BookingStatus.confirmed
    )
    booking = Booking(
        id=new_id(),
        resource_id=resource.id,
        site_id=resource.site_id,
        member_id=target.member.id,
        start_at=start,
        end_at=end,
        block_end=rules.block_end(end, resource.buffer_minutes),
        seats=seats,
        exclusive=resource.exclusive,
        status=status,
        code=new_booking_code(),
        quota_group=resource.quota_group,
        series_id=series_id,
        note=note,
        created_at=now,
        updated_at=now,
        checked_in_at=None,
        decided_by=None,
    )
    for _attempt in range(5):
        try:
            repo.insert_booking(session, booking)
            break
        except repo.CodeTaken:
            booking.code = new_booking_code()
        except repo.OverlapRace as exc:
            holder = repo.first_exclusive_conflict(session, resource.id, start, booking.block_end)
            detail = (
                _taken_message(target, holder, start, end)
                if holder is not None
                else f"{resource.name} was booked {rules.format_span(start, end, target.tz)} "
                "by someone else a moment ago"
            )
            raise Conflict(detail) from exc
    if resource.quota_group is not None:
        repo.insert_ledger_entry(
            session,
            member_id=target.member.id,
            quota_group=resource.quota_group,
            kind=LedgerKind.booked,
            at=start,
            seconds=int((end - start).total_seconds()) * seats,
            booking_id=booking.id,
            now=now,
        )
    return booking


def _with_closures(session: Session, target: _Target, start: datetime, end: datetime) -> _Target:
    target.closures = site_closures(session, target.resource.site, Span(start, end))
    return target


def book(session: Session, actor: Actor, data: BookingCreate, now: datetime) -> Booking:
    """Book one slot; refuses with the rule and the numbers, or Conflict naming the slot."""
    if data.rrule:
        raise InvalidRequest("use book_series for a recurring booking")
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    target = _load_target(session, actor, data.resource_id, data.member, now)
    _with_closures(session, target, start, end)
    return _book_one(session, target, start, end, data.seats, now, note=data.note)


@dataclass(slots=True)
class SeriesResult:
    series: Series
    bookings: list[Booking]
    skipped: list[SkippedOccurrence]

    def read(self) -> SeriesRead:
        return SeriesRead(
            series_id=self.series.id,
            rrule=self.series.rrule,
            bookings=[booking_read(b) for b in self.bookings],
            skipped=self.skipped,
        )


def book_series(session: Session, actor: Actor, data: BookingCreate, now: datetime) -> SeriesResult:
    """Book every occurrence of an RRULE expanded in the site's time zone.

    Without `skip_conflicts` the series is refused as a whole if any occurrence cannot be booked,
    listing every such date and why; with it, the others are booked and those are listed as skipped.
    """
    if not data.rrule:
        raise InvalidRequest("a recurring booking needs an rrule")
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    target = _load_target(session, actor, data.resource_id, data.member, now)
    horizon = now + timedelta(days=target.resource.rules.max_days_ahead)
    open_ended = "COUNT=" not in data.rrule.upper() and "UNTIL=" not in data.rrule.upper()
    occurrences = rules.expand_rrule(
        data.rrule, start, end, target.tz, horizon if open_ended else now + timedelta(days=3660)
    )
    if not occurrences:
        raise InvalidRequest("the rrule gives no occurrence")
    _with_closures(session, target, occurrences[0].start, occurrences[-1].end)
    series = Series(
        id=new_id(),
        member_id=target.member.id,
        resource_id=target.resource.id,
        rrule=data.rrule,
        created_at=now,
    )
    booked: list[Booking] = []
    refused: list[tuple[Span, DomainError]] = []
    # One savepoint around the whole series: a refused series leaves nothing written behind.
    with session.begin_nested():
        session.add(series)
        session.flush()
        for occurrence in occurrences:
            try:
                with session.begin_nested():
                    booked.append(
                        _book_one(
                            session,
                            target,
                            occurrence.start,
                            occurrence.end,
                            data.seats,
                            now,
                            note=data.note,
                            series_id=series.id,
                        )
                    )
            except DomainError as exc:
                refused.append((occurrence, exc))
        if refused and (not data.skip_conflicts or not booked):
            raise _series_refusal(refused, len(occurrences), target.tz)
    skipped = [SkippedOccurrence(start=span.start, end=span.end, reason=exc.detail) for span, exc in refused]
    return SeriesResult(series=series, bookings=booked, skipped=skipped)


def _series_refusal(refused: list[tuple[Span, DomainError]], total: int, tz: ZoneInfo) -> DomainError:
    """One error listing every date of a series that cannot be booked, and why."""
    listed = "; ".join(
        f"{rules.format_span(span.start, span.end, tz)}: {exc.detail}" for span, exc in refused
    )
    kinds = {type(exc) for _, exc in refused}
    error_type: type[DomainError] = kinds.pop() if len(kinds) == 1 else Conflict
    return error_type(f"{len(refused)} of {total} dates cannot be booked — {listed}")


def _request_hash(data: BookingCreate) -> str:
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class BookOutcome:
    """The JSON body of a booking request's result, and whether it is a replay of an earlier one."""

    body: dict[str, Any]
    replayed: bool


def book_idempotent(
    session: Session, actor: Actor, data: BookingCreate, now: datetime, key: str | None
) -> BookOutcome:
    """Book (one slot or a series); with a key, the same key from the same member gives the first result."""
    if key is not None:
        if not 1 <= len(key) <= 200:
            raise InvalidRequest("an Idempotency-Key has 1 to 200 characters")
        request_hash = _request_hash(data)
        if not repo.claim_idempotency_key(session, actor.id, key, request_hash, now):
            earlier = repo.get_idempotency_key(session, actor.id, key)
            if earlier is None:  # pragma: no cover - claim failed, so the row exists
                raise Conflict("this Idempotency-Key is being used by a request still running")
            if earlier.request_hash != request_hash:
                raise InvalidRequest("this Idempotency-Key was already used for a different booking request")
            return BookOutcome(body=earlier.response, replayed=True)
    if data.rrule:
        body = book_series(session, actor, data, now).read().model_dump(mode="json")
    else:
        body = booking_read(book(session, actor, data, now)).model_dump(mode="json")
    if key is not None:
        repo.store_idempotent_response(session, actor.id, key, body)
    return BookOutcome(body=body, replayed=False)


# --- reading and acting on bookings -------------------------------------------------------------


def _can_see(actor: Actor, booking: Booking) -> bool:
    return (
        booking.member_id == actor.id or actor.manages(booking.site_id) or actor.is_kiosk_of(booking.site_id)
    )


def get_booking_or_raise(session: Session, actor: Actor, booking_id: str) -> Booking:
    """The booking if the actor may see it; NotFound otherwise (no hint that it exists)."""
    booking = repo.get_booking(session, booking_id)
    if booking is None or not _can_see(actor, booking):
        raise NotFound(f"there is no booking '{booking_id}'")
    return booking


def list_bookings(
    session: Session,
    actor: Actor,
    *,
    mine: bool,
    start: datetime | None,
    end: datetime | None,
    site_id: str | None = None,
    resource_id: str | None = None,
    statuses: Sequence[BookingStatus] | None = None,
) -> Sequence[Booking]:
    """The actor's bookings, or (managers) their sites' bookings."""
    if mine or not (actor.is_admin or actor.managed_sites):
        return repo.list_bookings(
            session,
            member_id=actor.id,
            start=start,
            end=end,
            resource_id=resource_id,
            statuses=statuses,
            site_ids=[site_id] if site_id else None,
        )
    if site_id is not None and not actor.manages(site_id):
        raise NotPermitted(f"you do not manage the site '{site_id}'")
    sites: list[str] | None = [site_id] if site_id else None
    if sites is None and not actor.is_admin:
        sites = sorted(actor.managed_sites)
    return repo.list_bookings(
        session, site_ids=sites, start=start, end=end, resource_id=resource_id, statuses=statuses
    )


def _tz_of(session: Session, booking: Booking) -> ZoneInfo:
    return rules.zone(get_site_or_raise(session, booking.site_id).timezone)


def _name_of(session: Session, booking: Booking) -> str:
    resource = repo.get_resource(session, booking.resource_id)
    return resource.name if resource else booking.resource_id


def _refund(session: Session, booking: Booking, seconds: int, now: datetime) -> None:
    if booking.quota_group is None or seconds <= 0:
        return
    repo.add_ledger_entry(
        session,
        LedgerEntry(
            member_id=booking.member_id,
            quota_group=booking.quota_group,
            kind=LedgerKind.booked,
            at=booking.start_at,
            seconds=-seconds,
            booking_id=booking.id,
            created_at=now,
        ),
    )


def _notify(
    session: Session,
    member_id: str,
    kind: str,
    message: str,
    booking: Booking | None,
    now: datetime,
) -> None:
    repo.add_notification(
        session,
        Notification(
            member_id=member_id,
            kind=kind,
            message=message,
            booking_id=booking.id if booking else None,
            created_at=now,
        ),
    )


def cancel(session: Session, actor: Actor, booking_id: str, now: datetime) -> Booking:
    """Cancel a booking before it starts; once it has begun, release the rest of it.

    Either way the freed time goes back to the member's quota and to the waitlist.
    """
    booking = get_booking_or_raise(session, actor, booking_id)
    if booking.member_id != actor.id and not actor.manages(booking.site_id):
        raise NotPermitted("only the member who booked and the site's managers can cancel a booking")
    if booking.status in (BookingStatus.cancelled, BookingStatus.released):
        return booking
    tz = _tz_of(session, booking)
    span_text = rules.format_span(booking.start_at, booking.end_at, tz)
    if booking.status not in ACTIVE_STATUSES:
        raise InvalidRequest(f"the booking {span_text} is {booking.status.value} and cannot be cancelled")
    if now >= booking.end_at:
        raise InvalidRequest(f"the booking {span_text} has already ended")
    freed_from, freed_until = booking.start_at, booking.block_end
    if now < booking.start_at:
        booking.status = BookingStatus.cancelled
        _refund(
            session,
            booking,
            booking.seats * int((booking.end_at - booking.start_at).total_seconds()),
            now,
        )
    else:
        resource = get_resource_or_raise(session, booking.resource_id)
        new_end = _ceil_to_slot(now, booking.start_at, resource.slot_minutes)
        if new_end >= booking.end_at:
            raise InvalidRequest(f"the booking {span_text} is in its last slot; nothing is left to release")
        _refund(session, booking, booking.seats * int((booking.end_at - new_end).total_seconds()), now)
        booking.end_at = new_end
        booking.block_end = rules.block_end(new_end, resource.buffer_minutes)
        booking.status = BookingStatus.released
        freed_from = new_end
    booking.updated_at = now
    session.add(booking)
    session.flush()
    if booking.member_id != actor.id:
        _notify(
            session,
            booking.member_id,
            "cancelled",
            f"A manager cancelled your booking of {_name_of(session, booking)} {span_text}",
            booking,
            now,
        )
    promote_waitlist(session, booking.resource_id, freed_from, freed_until, now)
    return booking


def _ceil_to_slot(now: datetime, start: datetime, slot_minutes: int) -> datetime:
    slot = timedelta(minutes=slot_minutes)
    elapsed = now - start
    slots = -(-elapsed // slot)
    return start + slots * slot


def list_series_bookings(session: Session, actor: Actor, series_id: str) -> list[Booking]:
    """The bookings of a series the actor may see, or NotFound."""
    bookings = [b for b in repo.list_series_bookings(session, series_id) if _can_see(actor, b)]
    if not bookings:
        raise NotFound(f"there is no series '{series_id}'")
    return bookings


def cancel_series(session: Session, actor: Actor, series_id: str, now: datetime) -> list[Booking]:
    """Cancel every occurrence of a series that has not started yet."""
    bookings = list_series_bookings(session, actor, series_id)
    cancelled = []
    for booking in bookings:
        if booking.status in (BookingStatus.pending, BookingStatus.confirmed) and booking.start_at > now:
            cancelled.append(cancel(session, actor, booking.id, now))
    return cancelled


def check_in(
    session: Session, actor: Actor, booking_id: str, now: datetime, *, check_in_opens_min: int = 15
) -> Booking:
    """Mark the member present; allowed from a little before the start until the end."""
    booking = get_booking_or_raise(session, actor, booking_id)
    return _check_in(session, booking, now, check_in_opens_min)


def check_in_by_code(
    session: Session, actor: Actor, code: str, now: datetime, *, check_in_opens_min: int = 15
) -> Booking:
    """Check in the booking with this code (a kiosk, a manager, or its member)."""
    booking = repo.get_booking_by_code(session, code)
    if booking is None or not _can_see(actor, booking):
        raise NotFound(f"no booking has the code {code.strip().upper()}")
    return _check_in(session, booking, now, check_in_opens_min)


def _check_in(session: Session, booking: Booking, now: datetime, opens_min: int) -> Booking:
    if booking.status is BookingStatus.checked_in:
        return booking
    tz = _tz_of(session, booking)
    span_text = rules.format_span(booking.start_at, booking.end_at, tz)
    if booking.status is BookingStatus.pending:
        raise InvalidRequest(f"the booking {span_text} still awaits a manager's approval")
    if booking.status is not BookingStatus.confirmed:
        raise InvalidRequest(f"the booking {span_text} is {booking.status.value}; it cannot be checked in")
    opens = booking.start_at - timedelta(minutes=opens_min)
    if now < opens:
        raise InvalidRequest(
            f"check-in for {span_text} opens at {opens.astimezone(tz):%H:%M}, "
            f"{opens_min} min before the start"
        )
    if now >= booking.end_at:
        raise InvalidRequest(f"the booking {span_text} has already ended")
    booking.status = BookingStatus.checked_in
    booking.checked_in_at = now
    booking.updated_at = now
    session.add(booking)
    session.flush()
    return booking


def approve(session: Session, actor: Actor, booking_id: str, now: datetime, note: str = "") -> Booking:
    """A manager confirms a pending booking."""
    booking = _pending_for_decision(session, actor, booking_id)
    booking.status = BookingStatus.confirmed
    booking.decided_by = actor.id
    booking.updated_at = now
    session.add(booking)
    text = rules.format_span(booking.start_at, booking.end_at, _tz_of(session, booking))
    _notify(
        session,
        booking.member_id,
        "approved",
        f"Your booking of {_name_of(session, booking)} {text} is confirmed. {note}".strip(),
        booking,
        now,
    )
    session.flush()
    return booking


def reject(session: Session, actor: Actor, booking_id: str, now: datetime, note: str = "") -> Booking:
    """A manager refuses a pending booking; its time goes back to the quota and the waitlist."""
    booking = _pending_for_decision(session, actor, booking_id)
    booking.status = BookingStatus.rejected
    booking.decided_by = actor.id
    booking.updated_at = now
    session.add(booking)
    _refund(
        session,
        booking,
        booking.seats * int((booking.end_at - booking.start_at).total_seconds()),
        now,
    )
    text = rules.format_span(booking.start_at, booking.end_at, _tz_of(session, booking))
    _notify(
        session,
        booking.member_id,
        "rejected",
        f"Your booking of {_name_of(session, booking)} {text} was declined. {note}".strip(),
        booking,
        now,
    )
    session.flush()
    promote_waitlist(session, booking.resource_id, booking.start_at, booking.block_end, now)
    return booking


def _pending_for_decision(session: Session, actor: Actor, booking_id: str) -> Booking:
    booking = get_booking_or_raise(session, actor, booking_id)
    if not actor.manages(booking.site_id):
        raise NotPermitted("only the site's managers approve or decline bookings")
    if booking.status is not BookingStatus.pending:
        raise InvalidRequest(f"the booking is {booking.status.value}, not awaiting a decision")
    return booking


# --- availability -------------------------------------------------------------------------------


def availability(
    session: Session, resource_id: str, start: datetime, end: datetime, now: datetime
) -> AvailabilityRead:
    """Free spans of the resource inside opening hours (free seats for a pool), from now on."""
    if end <= start:
        raise InvalidRequest("the end must be after the start")
    if end - start > timedelta(days=MAX_AVAILABILITY_DAYS):
        raise InvalidRequest(f"ask for at most {MAX_AVAILABILITY_DAYS} days of availability at once")
    resource = get_resource_or_raise(session, resource_id)
    site = get_site_or_raise(session, resource.site_id)
    tz = rules.zone(site.timezone)
    hours = rules.parse_opening_hours(site.opening_hours)
    earliest = _ceil_to_grid(
        max(start, now + timedelta(minutes=resource.lead_minutes)), tz, resource.slot_minutes
    )
    latest = min(end, now + timedelta(days=resource.max_days_ahead))
    if earliest >= latest:
        return AvailabilityRead(resource_id=resource.id, free=[])
    windows: list[Span] = []
    day = earliest.astimezone(tz).date() - timedelta(days=1)
    while day <= latest.astimezone(tz).date():
        for window in rules.opening_windows(day, hours, tz):
            lo, hi = max(window.start, earliest), min(window.end, latest)
            if lo < hi:
                windows.append(Span(lo, hi))
        day += timedelta(days=1)
    closures = site_closures(session, site, Span(earliest, latest))
    windows = rules.subtract(windows, [Span(c.start, c.end) for c in closures])
    buffer = timedelta(minutes=resource.buffer_minutes)
    bookings = repo.active_bookings_touching(session, resource.id, earliest - buffer, latest + buffer)
    if resource.kind is ResourceKind.desk_pool:
        seats = rules.free_seat_spans(
            windows, [SeatSpan(b.start_at, b.end_at, b.seats) for b in bookings], resource.capacity
        )
        free = [FreeSpan(start=s.start, end=s.end, seats=s.seats) for s in seats]
    else:
        busy = [Span(b.start_at - buffer, b.block_end) for b in bookings]
        free = [FreeSpan(start=s.start, end=s.end) for s in rules.subtract(windows, busy)]
    return AvailabilityRead(resource_id=resource.id, free=free)


def _ceil_to_grid(instant: datetime, tz: ZoneInfo, slot_minutes: int) -> datetime:
    local = instant.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return _ceil_to_slot(local, midnight, slot_minutes).astimezone(UTC)


# --- quotas -------------------------------------------------------------------------------------


def my_quotas(session: Session, member: MemberInfo, now: datetime, tz_name: str) -> list[QuotaRead]:
    """Each quota rule of the member's plan with what they have booked and used in its period now."""
    if member.plan_id is None:
        return []
    tz = rules.zone(tz_name)
    result = []
    for rule in repo.list_quota_rules(session, member.plan_id):
        span = rules.period_bounds(now, rule.period, tz)
        booked = repo.ledger_sum(session, member.id, rule.quota_group, LedgerKind.booked, span)
        used = repo.ledger_sum(session, member.id, rule.quota_group, LedgerKind.runtime, span)
        result.append(
            QuotaRead(
                quota_group=rule.quota_group,
                period=rule.period,
                period_start=span.start,
                period_end=span.end,
                limit_hours=rule.max_hours,
                booked_hours=round(booked / 3600, 2),
                used_hours=round(used / 3600, 2),
                limit_runtime_hours=rule.max_runtime_hours,
                limit_bookings=rule.max_bookings,
                bookings=repo.count_bookings_in(session, member.id, rule.quota_group, span),
                limit_future_bookings=rule.max_future_bookings,
                future_bookings=repo.count_future_bookings(session, member.id, rule.quota_group, now),
            )
        )
    return result


# --- waitlist -----------------------------------------------------------------------------------


def waitlist_read(session: Session, entry: WaitlistEntry) -> WaitlistRead:
    """A waitlist entry with its place in the queue while it waits."""
    position = repo.waiting_ahead(session, entry) + 1 if entry.status is WaitlistStatus.waiting else None
    return WaitlistRead(
        id=entry.id,
        resource_id=entry.resource_id,
        member=entry.member_id,
        start=entry.start_at,
        end=entry.end_at,
        seats=entry.seats,
        status=entry.status,
        booking_id=entry.booking_id,
        position=position,
        created_at=entry.created_at,
    )


def join_waitlist(session: Session, actor: Actor, data: WaitlistCreate, now: datetime) -> WaitlistEntry:
    """Queue for a taken slot; refuses a free one (book it instead) and a slot the member could not book."""
    start, end = data.start.astimezone(UTC), data.end.astimezone(UTC)
    target = _load_target(session, actor, data.resource_id, None, now)
    _with_closures(session, target, start, end)
    _check_slot_rules(target, start, end, data.seats, now)
    try:
        _check_free(session, target, start, end, data.seats)
    except Conflict:
        pass
    else:
        raise InvalidRequest(
            f"{target.resource.name} is free {rules.format_span(start, end, target.tz)}: book it instead"
        )
    for entry in repo.list_member_waitlist(session, actor.id):
        if (
            entry.status is WaitlistStatus.waiting
            and entry.resource_id == target.resource.id
            and entry.start_at == start
            and entry.end_at == end
        ):
            return entry
    entry = WaitlistEntry(
        id=new_id(),
        resource_id=target.resource.id,
        member_id=actor.id,
        start_at=start,
        end_at=end,
        seats=data.seats,
        status=WaitlistStatus.waiting,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def leave_waitlist(session: Session, actor: Actor, entry_id: str) -> WaitlistEntry:
    """Stop waiting."""
    entry = repo.get_waitlist_entry(session, entry_id)
    if entry is None or entry.member_id != actor.id:
        raise NotFound(f"there is no waitlist entry '{entry_id}'")
    if entry.status is WaitlistStatus.waiting:
        entry.status = WaitlistStatus.cancelled
        session.add(entry)
        session.flush()
    return entry


def promote_waitlist(
    session: Session, resource_id: str, start: datetime, end: datetime, now: datetime
) -> list[Booking]:
    """Book freed time for the waiters, first come first served, each re-checked as if booking anew.

    A waiter who no longer qualifies (training, quota, rules) or whose slot is still partly taken keeps
    waiting; the next one is tried.
    """
    promoted: list[Booking] = []
    for entry in repo.waiting_entries(session, resource_id, start, end):
        if entry.start_at <= now:
            entry.status = WaitlistStatus.expired
            session.add(entry)
            continue
        member = repo.get_member(session, entry.member_id)
        if member is None:
            continue
        try:
            with session.begin_nested():
                target = _load_target(session, load_actor(session, member), resource_id, None, now)
                _with_closures(session, target, entry.start_at, entry.end_at)
                booking = _book_one(
                    session,
                    target,
                    entry.start_at,
                    entry.end_at,
                    entry.seats,
                    now,
                    note="from the waitlist",
                )
        except DomainError:
            continue
        entry.status = WaitlistStatus.booked
        entry.booking_id = booking.id
        session.add(entry)
        _notify(
            session,
            member.id,
            "waitlist",
            f"A slot freed up: you are booked on {target.resource.name} "
            f"{rules.format_span(booking.start_at, booking.end_at, target.tz)}",
            booking,
            now,
        )
        promoted.append(booking)
    session.flush()
    return promoted


# --- time-driven transitions (run by jobs) ------------------------------------------------------


def release_no_shows(session: Session, now: datetime, grace: timedelta) -> list[Booking]:
    """Bookings not checked in (nor started on their machine) `grace` after their start become no-shows."""
    # A bounded batch per run keeps the transaction (and SQLite's write lock) short after a backlog;
    # the job runs every minute and takes the next batch.
    released = []
    for booking in repo.bookings_due_for_no_show(session, now - grace):
        booking.status = BookingStatus.no_show
        booking.updated_at = now
        session.add(booking)
        session.flush()
        _notify(
            session,
            booking.member_id,
            "no_show",
            f"You did not check in for {_name_of(session, booking)} "
            f"{rules.format_span(booking.start_at, booking.end_at, _tz_of(session, booking))}; "
            "the slot was released",
            booking,
            now,
        )
        if booking.end_at > now:
            promote_waitlist(session, booking.resource_id, now, booking.block_end, now)
        released.append(booking)
    return released


def complete_ended(session: Session, now: datetime) -> int:
    """Checked-in bookings whose end has passed become completed."""
    ended = repo.bookings_ended(session, now)
    for booking in ended:
        booking.status = BookingStatus.completed
        booking.updated_at = now
        session.add(booking)
    session.flush()
    for entry in repo.stale_waiting_entries(session, now):
        entry.status = WaitlistStatus.expired
        session.add(entry)
    session.flush()
    return len(ended)


# --- walk-ins and machines -------------------------------------------------------------------------


def book_walk_in(
    session: Session, actor: Actor, resource_id: str, now: datetime, *, member_id: str | None = None
) -> Booking:
    """Book the slot under way (and enough after it for the shortest booking) for a member at the door."""
    target = _load_target(session, actor, resource_id, member_id, now)
    resource = target.resource
    if not resource.allow_walk_in:
        raise NotPermitted(f"{resource.name} takes no walk-ins; book it ahead")
    start = _floor_to_grid(now, target.tz, resource.slot_minutes)
    slots = max(1, -(-resource.rules.min_minutes // resource.slot_minutes))
    end = start + timedelta(minutes=resource.slot_minutes * slots)
    _with_closures(session, target, start, end)
    return _book_one(session, target, start, end, 1, now, note="walk-in", walk_in=True)


def _floor_to_grid(instant: datetime, tz: ZoneInfo, slot_minutes: int) -> datetime:
    local = instant.astimezone(tz)
    minute = (local.hour * 60 + local.minute) // slot_minutes * slot_minutes
    return local.replace(hour=minute // 60, minute=minute % 60, second=0, microsecond=0).astimezone(UTC)


def mark_used(session: Session, booking_id: str, now: datetime) -> Booking | None:
    """A machine session began during the booking: that is a check-in, whenever it happens in the booking."""
    booking = repo.get_booking(session, booking_id)
    if booking is None or booking.status is not BookingStatus.confirmed:
        return booking
    booking.status = BookingStatus.checked_in
    booking.checked_in_at = now
    booking.updated_at = now
    session.add(booking)
    session.flush()
    return booking


def block_resource(
    session: Session, resource_id: str, reason: str, message: str, now: datetime
) -> ResourceBlock:
    """Take a resource out of service from now until cleared; members booked on it are told."""
    for block in repo.open_blocks(session, resource_id, reason):
        if block.message != message:
            block.message = message
            session.add(block)
        return block
    block = ResourceBlock(
        resource_id=resource_id, reason=reason, message=message, start_at=now, created_at=now
    )
    session.add(block)
    session.flush()
    resource = repo.get_resource(session, resource_id)
    name = resource.name if resource else resource_id
    for booking in repo.upcoming_bookings(session, resource_id, now):
        text = rules.format_span(booking.start_at, booking.end_at, _tz_of(session, booking))
        _notify(
            session,
            booking.member_id,
            "out_of_service",
            f"{name} is out of service ({message}); your booking {text} may not be usable",
            booking,
            now,
        )
    return block


def clear_blocks(session: Session, resource_id: str, reason: str, now: datetime) -> int:
    """Put the resource back in service for this reason; returns how many blocks were cleared."""
    cleared = 0
    for block in repo.open_blocks(session, resource_id, reason):
        block.cleared_at = now
        session.add(block)
        cleared += 1
    session.flush()
    return cleared
