"""Setting a center up: sites, hours, closures, resources, trainings, plans, quota rules, members.

The inputs (XUpdate and the creates the core lacks) live here beside their use cases rather than in
schemas.py, so this module can grow without touching the booking core's hot path. Every use case takes
the acting admin and checks it, so no caller can forget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from booking import repository as repo
from booking import rules, service
from booking.catalogue import CATALOGUE
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.models import (
    Closure,
    ManagerSite,
    Member,
    Plan,
    QuotaPeriod,
    QuotaRule,
    Resource,
    ResourceKind,
    Role,
    Site,
    Training,
)
from booking.schemas import MemberCreate, ResourceCreate, SiteCreate, Slug
from booking.service import Actor


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SiteUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    timezone: str = "Asia/Ho_Chi_Minh"
    holiday_country: str = Field(default="VN", max_length=2)
    opening_hours: dict[str, list[list[str]]]
    address: str = Field(default="", max_length=400)


class ResourceUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    capacity: int = Field(default=1, ge=1, le=10_000)
    slot_minutes: int = Field(default=30, ge=5, le=1440)
    min_minutes: int = Field(default=30, ge=5, le=1440)
    max_minutes: int = Field(default=240, ge=5, le=14 * 1440)
    lead_minutes: int = Field(default=0, ge=0)
    max_days_ahead: int = Field(default=60, ge=1, le=730)
    buffer_minutes: int = Field(default=0, ge=0, le=1440)
    requires_approval: bool = False
    training_id: Slug | None = None
    quota_group: Slug | None = None
    allow_walk_in: bool = True
    active: bool = True


class TrainingCreate(_In):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    valid_days: int | None = Field(default=None, ge=1, le=3650)


class PlanCreate(_In):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    monthly_price_vnd: int = Field(default=0, ge=0)


class PlanUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    monthly_price_vnd: int = Field(default=0, ge=0)


class QuotaRuleCreate(_In):
    quota_group: Slug
    period: QuotaPeriod
    max_hours: float | None = Field(default=None, ge=0)
    max_bookings: int | None = Field(default=None, ge=0)
    max_future_bookings: int | None = Field(default=None, ge=0)
    max_runtime_hours: float | None = Field(default=None, ge=0)


class MemberUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    plan_id: Slug | None = None
    card_uid: str | None = Field(default=None, pattern=r"^[A-Fa-f0-9:]{4,64}$")
    language: str = Field(default="vi", pattern=r"^(vi|en)$")
    active: bool = True
    sites: list[Slug] = Field(default_factory=list)


def catalogue_changed() -> None:
    """Drop this process's cached snapshot of the catalogue, so the next booking sees the change."""
    CATALOGUE.invalidate()


def require_admin(actor: Actor) -> None:
    """NotPermitted unless the actor is an admin."""
    if not actor.is_admin:
        raise NotPermitted("only an administrator can change how the center is set up")


# --- sites, hours, closures ---------------------------------------------------------------------


def create_site(session: Session, actor: Actor, data: SiteCreate) -> Site:
    """Add a site (the booking core checks its zone and hours)."""
    require_admin(actor)
    site = service.create_site(session, data)
    catalogue_changed()
    return site


def update_site(session: Session, actor: Actor, site_id: str, data: SiteUpdate) -> Site:
    """Change a site's names, zone, holidays, opening hours or address; bookings already made stand."""
    require_admin(actor)
    site = service.get_site_or_raise(session, site_id)
    rules.zone(data.timezone)
    rules.parse_opening_hours(data.opening_hours)
    if data.holiday_country:
        rules.holiday_closures(data.holiday_country.upper(), [2027], rules.zone(data.timezone))
    for key, value in data.model_dump().items():
        setattr(site, key, value)
    site.holiday_country = data.holiday_country.upper()
    session.add(site)
    session.flush()
    catalogue_changed()
    return site


def list_closures(session: Session, site_id: str, since: datetime) -> list[Closure]:
    """The site's own closures that end after `since`, soonest first."""
    return list(
        session.exec(
            select(Closure)
            .where(Closure.site_id == site_id, col(Closure.end_at) > since)
            .order_by(col(Closure.start_at))
        ).all()
    )


def delete_closure(session: Session, actor: Actor, closure_id: int) -> Closure:
    """Reopen a site by removing a closure its managers had entered."""
    closure = session.get(Closure, closure_id)
    if closure is None or not actor.manages(closure.site_id):
        raise NotFound(f"there is no closure {closure_id}")
    session.delete(closure)
    session.flush()
    return closure


# --- resources and trainings --------------------------------------------------------------------


def list_all_resources(session: Session) -> list[Resource]:
    """Every resource, retired ones too, by site and name."""
    return list(session.exec(select(Resource).order_by(col(Resource.site_id), col(Resource.name))).all())


def create_resource(session: Session, actor: Actor, data: ResourceCreate) -> Resource:
    """Add a bookable resource."""
    require_admin(actor)
    resource = service.create_resource(session, data)
    catalogue_changed()
    return resource


def update_resource(session: Session, actor: Actor, resource_id: str, data: ResourceUpdate) -> Resource:
    """Change a resource's names, capacity or booking rules, or retire it (active=False)."""
    require_admin(actor)
    resource = repo.get_resource(session, resource_id)
    if resource is None:
        raise NotFound(f"there is no resource '{resource_id}'")
    if data.min_minutes > data.max_minutes:
        raise InvalidRequest("the shortest booking must not be longer than the longest")
    if data.training_id is not None and repo.get_training(session, data.training_id) is None:
        raise InvalidRequest(f"there is no training '{data.training_id}'")
    if resource.kind is not ResourceKind.desk_pool and data.capacity < 1:
        raise InvalidRequest("a resource holds at least one person")
    for key, value in data.model_dump().items():
        setattr(resource, key, value)
    session.add(resource)
    session.flush()
    catalogue_changed()
    return resource


def create_training(session: Session, actor: Actor, data: TrainingCreate) -> Training:
    """Add a training that resources can require and managers grant."""
    require_admin(actor)
    if repo.get_training(session, data.id) is not None:
        raise Conflict(f"a training with id '{data.id}' already exists")
    training = Training(**data.model_dump())
    session.add(training)
    session.flush()
    catalogue_changed()
    return training


# --- plans and quota rules ----------------------------------------------------------------------


def create_plan(session: Session, actor: Actor, data: PlanCreate) -> Plan:
    """Add a membership plan (its quota rules are added one by one)."""
    require_admin(actor)
    if repo.get_plan(session, data.id) is not None:
        raise Conflict(f"a plan with id '{data.id}' already exists")
    plan = Plan(**data.model_dump())
    session.add(plan)
    session.flush()
    return plan


def update_plan(session: Session, actor: Actor, plan_id: str, data: PlanUpdate) -> Plan:
    """Rename or reprice a plan."""
    require_admin(actor)
    plan = repo.get_plan(session, plan_id)
    if plan is None:
        raise NotFound(f"there is no plan '{plan_id}'")
    for key, value in data.model_dump().items():
        setattr(plan, key, value)
    session.add(plan)
    session.flush()
    return plan


def add_quota_rule(session: Session, actor: Actor, plan_id: str, data: QuotaRuleCreate) -> QuotaRule:
    """Limit a plan in one quota group and period; one rule per group and period."""
    require_admin(actor)
    if repo.get_plan(session, plan_id) is None:
        raise NotFound(f"there is no plan '{plan_id}'")
    limits = (data.max_hours, data.max_bookings, data.max_future_bookings, data.max_runtime_hours)
    if all(limit is None for limit in limits):
        raise InvalidRequest("a quota rule needs at least one limit")
    if any(r.period is data.period for r in repo.list_quota_rules(session, plan_id, data.quota_group)):
        raise Conflict(
            f"the plan already has a rule for {data.quota_group} per {data.period.value}; remove it first"
        )
    rule = QuotaRule(plan_id=plan_id, **data.model_dump())
    session.add(rule)
    session.flush()
    catalogue_changed()
    return rule


def delete_quota_rule(session: Session, actor: Actor, rule_id: int) -> QuotaRule:
    """Lift one quota rule of a plan."""
    require_admin(actor)
    rule = session.get(QuotaRule, rule_id)
    if rule is None:
        raise NotFound(f"there is no quota rule {rule_id}")
    session.delete(rule)
    session.flush()
    catalogue_changed()
    return rule


def list_quota_rules_by_plan(session: Session) -> dict[str, list[QuotaRule]]:
    """Every plan's quota rules, with their ids (for editing)."""
    rules_by_plan: dict[str, list[QuotaRule]] = {}
    for plan in repo.list_plans(session):
        rules_by_plan[plan.id] = list(repo.list_quota_rules(session, plan.id))
    return rules_by_plan


# --- members, roles, kiosks ---------------------------------------------------------------------


def list_members(session: Session, query: str = "", *, limit: int = 200) -> list[Member]:
    """Members whose e-mail or name contains `query` (all when empty), kiosks last, by e-mail."""
    statement = select(Member)
    if query:
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(
            sa.or_(col(Member.email).like(pattern), sa.func.lower(col(Member.name)).like(pattern))
        )
    rows = session.exec(statement.order_by(col(Member.email)).limit(limit)).all()
    return sorted(rows, key=lambda m: (m.role is Role.kiosk, m.email))


def create_member(session: Session, actor: Actor, data: MemberCreate, now: datetime) -> Member:
    """Open an account (a kiosk account is bound to its one site)."""
    require_admin(actor)
    return service.create_member(session, data, now)


def update_member(session: Session, actor: Actor, member_id: str, data: MemberUpdate) -> Member:
    """Change a member's role, sites, plan, card, language or suspend them.

    Suspending (or unsuspending) bumps the token version: every session and token they hold stops.
    """
    require_admin(actor)
    member = service.get_member_or_raise(session, member_id)
    if member.id == actor.id and (data.role is not Role.admin or not data.active):
        raise InvalidRequest("you cannot remove your own administrator rights or suspend yourself")
    if data.plan_id is not None and repo.get_plan(session, data.plan_id) is None:
        raise InvalidRequest(f"there is no plan '{data.plan_id}'")
    for site_id in data.sites:
        service.get_site_or_raise(session, site_id)
    if data.role is Role.kiosk and len(data.sites) != 1:
        raise InvalidRequest("a kiosk account is bound to exactly one site")
    if data.role is Role.manager and not data.sites:
        raise InvalidRequest("a manager needs at least one site to manage")
    card = data.card_uid.upper() if data.card_uid else None
    if card is not None:
        holder = repo.get_member_by_card(session, card)
        if holder is not None and holder.id != member.id:
            raise Conflict(f"the card {card} already belongs to another member")
    if member.active != data.active:
        member.token_version += 1
    member.name, member.role, member.plan_id = data.name, data.role, data.plan_id
    member.card_uid, member.language, member.active = card, data.language, data.active
    member.kiosk_site_id = data.sites[0] if data.role is Role.kiosk else None
    session.add(member)
    _set_managed_sites(session, member.id, data.sites if data.role is Role.manager else [])
    session.flush()
    return member


def _set_managed_sites(session: Session, member_id: str, sites: Sequence[str]) -> None:
    held = {
        row.site_id: row
        for row in session.exec(select(ManagerSite).where(ManagerSite.member_id == member_id))
    }
    for site_id, row in held.items():
        if site_id not in sites:
            session.delete(row)
    for site_id in sites:
        if site_id not in held:
            session.add(ManagerSite(member_id=member_id, site_id=site_id))
    session.flush()


def reset_password(session: Session, actor: Actor, member_id: str, password: str) -> Member:
    """Give a member a new password; their sessions and tokens stop working."""
    require_admin(actor)
    member = service.get_member_or_raise(session, member_id)
    service.set_password(session, member, password)
    return member
