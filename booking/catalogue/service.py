"""The catalogue's use cases: set a center up and read it back.

Every change checks who acts (an admin, a site's manager, or the command line's SYSTEM) and drops this
process's cached snapshot of the catalogue, so the next booking sees it at once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from booking.catalogue import repository as repo
from booking.catalogue.cache import CATALOGUE
from booking.catalogue.rules import (
    Acting,
    check_booking_lengths,
    check_closure_span,
    check_holiday_country,
    holidays_touching,
    parse_opening_hours,
    require_admin,
)
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.messages import Term
from booking.models import Closure, Plan, QuotaGroup, QuotaRule, Resource, ResourceKind, Site, Training
from booking.schemas import (
    ClosureCreate,
    PlanCreate,
    PlanRead,
    PlanUpdate,
    QuotaRuleCreate,
    QuotaRuleRead,
    ResourceCreate,
    ResourceRead,
    ResourceRules,
    ResourceUpdate,
    SiteCreate,
    SiteUpdate,
    TrainingCreate,
)
from booking.spans import ClosureSpan, Span, zone


def catalogue_changed() -> None:
    """Drop this process's cached snapshot of the catalogue, so the next booking sees the change."""
    CATALOGUE.invalidate()


# --- sites, hours, closures ---------------------------------------------------------------------


def get_site_or_raise(session: Session, site_id: str) -> Site:
    """The site, or NotFound."""
    site = repo.get_site(session, site_id)
    if site is None:
        raise NotFound("there is no site '{site_id}'", site_id=site_id)
    return site


def create_site(session: Session, actor: Acting, data: SiteCreate) -> Site:
    """Add a site after checking its time zone and opening hours."""
    require_admin(actor)
    zone(data.timezone)
    parse_opening_hours(data.opening_hours)
    if repo.get_site(session, data.id) is not None:
        raise Conflict("a site with id '{id}' already exists", id=data.id)
    site = Site(**data.model_dump())
    session.add(site)
    session.flush()
    catalogue_changed()
    return site


def update_site(session: Session, actor: Acting, site_id: str, data: SiteUpdate) -> Site:
    """Change a site's names, zone, holidays, opening hours or address; bookings already made stand."""
    require_admin(actor)
    site = get_site_or_raise(session, site_id)
    tz = zone(data.timezone)
    parse_opening_hours(data.opening_hours)
    check_holiday_country(data.holiday_country, tz)
    for key, value in data.model_dump().items():
        setattr(site, key, value)
    site.holiday_country = data.holiday_country.upper()
    session.add(site)
    session.flush()
    catalogue_changed()
    return site


def add_closure(session: Session, actor: Acting, site_id: str, data: ClosureCreate) -> Closure:
    """Close a site for a span (a manager's own closure, beside public holidays)."""
    get_site_or_raise(session, site_id)
    if not actor.manages(site_id):
        raise NotPermitted("only the site's managers can close it")
    check_closure_span(data.start, data.end)
    closure = Closure(site_id=site_id, start_at=data.start, end_at=data.end, reason=data.reason)
    session.add(closure)
    session.flush()
    catalogue_changed()
    return closure


def list_closures(session: Session, site_id: str, since: datetime) -> list[Closure]:
    """The site's own closures that end after `since`, soonest first."""
    return repo.list_closures(session, site_id, since)


def delete_closure(session: Session, actor: Acting, closure_id: int) -> Closure:
    """Reopen a site by removing a closure its managers had entered."""
    closure = repo.get_closure(session, closure_id)
    if closure is None or not actor.manages(closure.site_id):
        raise NotFound("there is no closure {closure_id}", closure_id=closure_id)
    session.delete(closure)
    session.flush()
    catalogue_changed()
    return closure


class SiteLike(Protocol):
    """What closures need of a site: a Site row or a cached SiteInfo."""

    @property
    def id(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def holiday_country(self) -> str: ...


def site_closures(session: Session, site: SiteLike, span: Span) -> list[ClosureSpan]:
    """Managers' closures and public holidays of the site touching the span."""
    closures = CATALOGUE.closures(session, site.id, span)
    closures.extend(holidays_touching(site.holiday_country, span, zone(site.timezone)))
    return closures


# --- resources and trainings --------------------------------------------------------------------


def get_resource_or_raise(session: Session, resource_id: str) -> Resource:
    """The active resource, or NotFound."""
    resource = repo.get_resource(session, resource_id)
    if resource is None or not resource.active:
        raise NotFound("there is no resource '{resource_id}'", resource_id=resource_id)
    return resource


def list_all_resources(session: Session) -> list[Resource]:
    """Every resource, retired ones too, by site and name."""
    return repo.list_all_resources(session)


def create_resource(session: Session, actor: Acting, data: ResourceCreate) -> Resource:
    """Add a bookable resource after checking its site, training and rules."""
    require_admin(actor)
    get_site_or_raise(session, data.site_id)
    if repo.get_resource(session, data.id) is not None:
        raise Conflict("a resource with id '{id}' already exists", id=data.id)
    if data.training_id is not None and repo.get_training(session, data.training_id) is None:
        raise InvalidRequest("there is no training '{training_id}'", training_id=data.training_id)
    check_booking_lengths(data.slot_minutes, data.min_minutes, data.max_minutes)
    resource = Resource(**data.model_dump())
    session.add(resource)
    session.flush()
    catalogue_changed()
    return resource


def update_resource(session: Session, actor: Acting, resource_id: str, data: ResourceUpdate) -> Resource:
    """Change a resource's names, capacity or booking rules, or retire it (active=False)."""
    require_admin(actor)
    resource = repo.get_resource(session, resource_id)
    if resource is None:
        raise NotFound("there is no resource '{resource_id}'", resource_id=resource_id)
    check_booking_lengths(data.slot_minutes, data.min_minutes, data.max_minutes)
    if data.training_id is not None and repo.get_training(session, data.training_id) is None:
        raise InvalidRequest("there is no training '{training_id}'", training_id=data.training_id)
    if resource.kind is not ResourceKind.desk_pool and data.capacity < 1:
        raise InvalidRequest("a resource holds at least one person")
    for key, value in data.model_dump().items():
        setattr(resource, key, value)
    session.add(resource)
    session.flush()
    catalogue_changed()
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


def create_training(session: Session, actor: Acting, data: TrainingCreate) -> Training:
    """Add a training that resources can require and managers grant."""
    require_admin(actor)
    if repo.get_training(session, data.id) is not None:
        raise Conflict("a training with id '{id}' already exists", id=data.id)
    training = Training(**data.model_dump())
    session.add(training)
    session.flush()
    catalogue_changed()
    return training


def get_training_or_raise(session: Session, training_id: str) -> Training:
    """The training, or NotFound."""
    training = repo.get_training(session, training_id)
    if training is None:
        raise NotFound("there is no training '{training_id}'", training_id=training_id)
    return training


# --- plans and quota rules ----------------------------------------------------------------------


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


def check_plan_exists(session: Session, plan_id: str | None) -> None:
    """InvalidRequest when a member is given a plan that does not exist."""
    if plan_id is not None and repo.get_plan(session, plan_id) is None:
        raise InvalidRequest("there is no plan '{plan_id}'", plan_id=plan_id)


def create_plan(session: Session, actor: Acting, data: PlanCreate) -> Plan:
    """Add a membership plan (its quota rules are added one by one)."""
    require_admin(actor)
    if repo.get_plan(session, data.id) is not None:
        raise Conflict("a plan with id '{id}' already exists", id=data.id)
    plan = Plan(**data.model_dump())
    session.add(plan)
    session.flush()
    catalogue_changed()
    return plan


def update_plan(session: Session, actor: Acting, plan_id: str, data: PlanUpdate) -> Plan:
    """Rename or reprice a plan."""
    require_admin(actor)
    plan = repo.get_plan(session, plan_id)
    if plan is None:
        raise NotFound("there is no plan '{plan_id}'", plan_id=plan_id)
    for key, value in data.model_dump().items():
        setattr(plan, key, value)
    session.add(plan)
    session.flush()
    catalogue_changed()
    return plan


def add_quota_rule(session: Session, actor: Acting, plan_id: str, data: QuotaRuleCreate) -> QuotaRule:
    """Limit a plan in one quota group and period; one rule per group and period."""
    require_admin(actor)
    if repo.get_plan(session, plan_id) is None:
        raise NotFound("there is no plan '{plan_id}'", plan_id=plan_id)
    limits = (data.max_hours, data.max_bookings, data.max_future_bookings, data.max_runtime_hours)
    if all(limit is None for limit in limits):
        raise InvalidRequest("a quota rule needs at least one limit")
    if any(r.period is data.period for r in repo.list_quota_rules(session, plan_id, data.quota_group)):
        raise Conflict(
            "the plan already has a rule for {quota_group} per {value}; remove it first",
            quota_group=data.quota_group,
            value=Term(data.period.value),
        )
    rule = QuotaRule(plan_id=plan_id, **data.model_dump())
    session.add(rule)
    session.flush()
    catalogue_changed()
    return rule


def delete_quota_rule(session: Session, actor: Acting, rule_id: int) -> QuotaRule:
    """Lift one quota rule of a plan."""
    require_admin(actor)
    rule = repo.get_quota_rule(session, rule_id)
    if rule is None:
        raise NotFound("there is no quota rule {rule_id}", rule_id=rule_id)
    session.delete(rule)
    session.flush()
    catalogue_changed()
    return rule


def list_quota_rules_by_plan(session: Session) -> dict[str, list[QuotaRule]]:
    """Every plan's quota rules, with their ids (for editing)."""
    return {plan.id: list(repo.list_quota_rules(session, plan.id)) for plan in repo.list_plans(session)}


def name_quota_group(
    session: Session, actor: Acting, group_id: str, name: str, name_en: str = ""
) -> QuotaGroup:
    """Give a quota group the name members read on their meters and in refusals (both languages)."""
    require_admin(actor)
    if not re.fullmatch(r"[a-z0-9-]{1,64}", group_id):
        raise InvalidRequest("'{group}' is not a quota group", group=group_id)
    name, name_en = " ".join(name.split()), " ".join(name_en.split())
    if not name or len(name) > 200 or len(name_en) > 200:
        raise InvalidRequest("a quota group's name needs 1 to 200 characters")
    group = repo.get_quota_group(session, group_id) or QuotaGroup(id=group_id, name=name)
    group.name, group.name_en = name, name_en
    session.add(group)
    session.flush()
    catalogue_changed()
    return group
