"""Typed factory functions with keyword defaults; each returns a flushed row."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from booking.members.actors import Actor
from booking.members.service import load_actor
from booking.models import (
    BookingStatus,
    Member,
    MemberTraining,
    Plan,
    QuotaPeriod,
    QuotaRule,
    Resource,
    ResourceKind,
    Role,
    Site,
    Training,
)
from booking.security import hash_password, new_id, new_token

PASSWORD = "correct horse battery"
_HASH = hash_password(PASSWORD)
_counter = itertools.count(1)
OPEN_ALL_WEEK = {day: [["07:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def unique(prefix: str) -> str:
    """A slug no other factory call returns."""
    return f"{prefix}-{next(_counter)}"


def make_site(
    session: Session,
    *,
    id: str | None = None,
    timezone: str = "Asia/Ho_Chi_Minh",
    holiday_country: str = "VN",
    opening_hours: dict[str, list[list[str]]] | None = None,
    name: str = "Test Center",
) -> Site:
    site = Site(
        id=id or unique("site"),
        name=name,
        name_en=name,
        timezone=timezone,
        holiday_country=holiday_country,
        opening_hours=opening_hours if opening_hours is not None else OPEN_ALL_WEEK,
    )
    session.add(site)
    session.flush()
    return site


def make_training(session: Session, *, id: str | None = None, valid_days: int | None = 365) -> Training:
    training = Training(id=id or unique("training"), name="Laser safety", valid_days=valid_days)
    session.add(training)
    session.flush()
    return training


def make_resource(
    session: Session,
    site: Site,
    *,
    id: str | None = None,
    name: str = "Laser 1",
    kind: ResourceKind = ResourceKind.machine,
    capacity: int = 1,
    slot_minutes: int = 30,
    min_minutes: int = 30,
    max_minutes: int = 240,
    lead_minutes: int = 0,
    max_days_ahead: int = 60,
    buffer_minutes: int = 0,
    requires_approval: bool = False,
    training: Training | None = None,
    quota_group: str | None = "laser",
) -> Resource:
    resource = Resource(
        id=id or unique("res"),
        site_id=site.id,
        kind=kind,
        name=name,
        capacity=capacity,
        slot_minutes=slot_minutes,
        min_minutes=min_minutes,
        max_minutes=max_minutes,
        lead_minutes=lead_minutes,
        max_days_ahead=max_days_ahead,
        buffer_minutes=buffer_minutes,
        requires_approval=requires_approval,
        training_id=training.id if training else None,
        quota_group=quota_group,
    )
    session.add(resource)
    session.flush()
    return resource


def make_plan(session: Session, *rules: QuotaRule, id: str | None = None) -> Plan:
    plan = Plan(id=id or unique("plan"), name="Maker")
    session.add(plan)
    session.flush()
    for rule in rules:
        rule.plan_id = plan.id
        session.add(rule)
    session.flush()
    return plan


def quota(
    group: str = "laser",
    period: QuotaPeriod = QuotaPeriod.week,
    *,
    max_hours: float | None = None,
    max_bookings: int | None = None,
    max_future_bookings: int | None = None,
    max_runtime_hours: float | None = None,
) -> QuotaRule:
    return QuotaRule(
        plan_id="",
        quota_group=group,
        period=period,
        max_hours=max_hours,
        max_bookings=max_bookings,
        max_future_bookings=max_future_bookings,
        max_runtime_hours=max_runtime_hours,
    )


def make_member(
    session: Session,
    *,
    role: Role = Role.member,
    plan: Plan | None = None,
    email: str | None = None,
    name: str = "Nguyễn Thị Lan",
    card_uid: str | None = None,
    kiosk_site: Site | None = None,
    manages: tuple[Site, ...] = (),
) -> Member:
    from booking.models import ManagerSite

    member_id = unique("m")
    member = Member(
        id=member_id,
        email=email or f"{member_id}@example.org",
        name=name,
        password_hash=_HASH,
        role=role,
        plan_id=plan.id if plan else None,
        card_uid=card_uid,
        kiosk_site_id=kiosk_site.id if kiosk_site else None,
        ical_token=new_token(),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        email_verified_at=datetime(2026, 1, 1, tzinfo=UTC),
        approved_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    session.add(member)
    session.flush()
    for site in manages:
        session.add(ManagerSite(member_id=member.id, site_id=site.id))
    session.flush()
    return member


def grant(
    session: Session, member: Member, training: Training, *, expires_at: datetime | None = None
) -> None:
    session.add(
        MemberTraining(
            member_id=member.id,
            training_id=training.id,
            granted_at=datetime(2026, 1, 1, tzinfo=UTC),
            expires_at=expires_at,
        )
    )
    session.flush()


def actor(session: Session, member: Member) -> Actor:
    return load_actor(session, member)


def at(local: str, tz: str = "Asia/Ho_Chi_Minh") -> datetime:
    """'2027-03-01 09:00' in the zone, as a UTC instant."""
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def make_machine(
    session: Session,
    site: Site,
    *,
    name: str = "Laser 1",
    gateway: str | None = None,
    training: Training | None = None,
    quota_group: str | None = "laser",
    grace_s: int = 120,
    adapter: str = "tasmota",
    allow_walk_in: bool = True,
    buffer_minutes: int = 0,
) -> Resource:
    """A machine resource and its registration with a gateway; returns the resource."""
    from devices.registry.service import attach_machine
    from devices.schemas import MachineCreate

    resource = make_resource(
        session,
        site,
        name=name,
        kind=ResourceKind.machine,
        training=training,
        quota_group=quota_group,
        buffer_minutes=buffer_minutes,
    )
    resource.allow_walk_in = allow_walk_in
    session.add(resource)
    session.flush()
    attach_machine(
        session,
        MachineCreate(
            id=resource.id,
            site_id=site.id,
            name=name,
            gateway_id=gateway or unique("gw"),
            adapter=adapter,
            grace_s=grace_s,
        ),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    return resource


def booking_row(
    resource: Resource, member: Member, start: datetime, end: datetime, now: datetime, **extra: object
) -> dict[str, object]:
    """A confirmed booking's row of [start, end) for the member, made at `now` (its block ends with
    it); `extra` sets any other column."""
    return {
        "id": new_id(),
        "resource_id": resource.id,
        "site_id": resource.site_id,
        "member_id": member.id,
        "start_at": start,
        "end_at": end,
        "block_end": end,
        "seats": 1,
        "exclusive": True,
        "status": BookingStatus.confirmed,
        "code": new_id()[-8:].upper(),
        "created_at": now,
        "updated_at": now,
        **extra,
    }


def fill_history(session: Session, resource: Resource, member: Member, before: datetime, count: int) -> None:
    """PostgreSQL: `count` completed bookings of the resource, one every two hours, ending by `before`;
    then ANALYZE, so that the planner weighs a long history as it would in production."""
    session.connection().exec_driver_sql(
        "INSERT INTO booking (id, resource_id, site_id, member_id, start_at, end_at, block_end, seats, "
        "exclusive, status, code, note, created_at, updated_at) "
        "SELECT 'h' || g, %(r)s, %(s)s, %(m)s, t.at, t.at + interval '1 hour', t.at + interval '1 hour', "
        "1, true, 'completed', 'H' || g, '', %(t0)s, %(t0)s FROM generate_series(1, %(n)s) AS g, "
        "LATERAL (SELECT %(t0)s - g * interval '2 hours' AS at) AS t",
        {"r": resource.id, "s": resource.site_id, "m": member.id, "t0": before, "n": count},
    )
    session.connection().exec_driver_sql("ANALYZE booking")
