"""Every query of the catalogue: sites, closures, resources and their blocks, trainings, plans and
quota rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from booking.models import (
    Closure,
    Plan,
    QuotaGroup,
    QuotaRule,
    Resource,
    ResourceBlock,
    ResourceKind,
    Site,
    Training,
    UTCDateTime,
)
from booking.spans import ClosureSpan
from booking.sql import HotStatement


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


_closure = _table(Closure)
_block = _table(ResourceBlock)

# --- sites and closures -------------------------------------------------------------------------


def get_site(session: Session, site_id: str) -> Site | None:
    """The site with this id, or None."""
    return session.get(Site, site_id)


def list_sites(session: Session) -> Sequence[Site]:
    """Every site, by id."""
    return session.exec(select(Site).order_by(col(Site.id))).all()


def all_closure_spans(session: Session, site_id: str) -> list[ClosureSpan]:
    """Every closure the site's managers entered (the catalogue's snapshot holds them)."""
    rows = session.exec(
        select(Closure.start_at, Closure.end_at, Closure.reason).where(Closure.site_id == site_id)
    ).all()
    return [ClosureSpan(start, end, reason) for start, end, reason in rows]


def list_closures(session: Session, site_id: str, since: datetime) -> list[Closure]:
    """The site's own closures that end after `since`, soonest first."""
    return list(
        session.exec(
            select(Closure)
            .where(Closure.site_id == site_id, col(Closure.end_at) > since)
            .order_by(col(Closure.start_at))
        ).all()
    )


def get_closure(session: Session, closure_id: int) -> Closure | None:
    """The closure with this id, or None."""
    return session.get(Closure, closure_id)


# --- resources ----------------------------------------------------------------------------------


def get_resource(session: Session, resource_id: str) -> Resource | None:
    """The resource with this id, or None."""
    return session.get(Resource, resource_id)


def list_resources(
    session: Session, *, site_id: str | None = None, kind: ResourceKind | None = None
) -> Sequence[Resource]:
    """Active resources, optionally of one site and one kind, by site and name."""
    query = select(Resource).where(col(Resource.active))
    if site_id is not None:
        query = query.where(Resource.site_id == site_id)
    if kind is not None:
        query = query.where(Resource.kind == kind)
    return session.exec(query.order_by(col(Resource.site_id), col(Resource.name))).all()


def list_all_resources(session: Session) -> list[Resource]:
    """Every resource, retired ones too, by site and name."""
    return list(session.exec(select(Resource).order_by(col(Resource.site_id), col(Resource.name))).all())


def site_resources(session: Session, site_id: str) -> Sequence[Resource]:
    """Every resource of the site, retired ones too."""
    return session.exec(select(Resource).where(Resource.site_id == site_id)).all()


def trainings_among(session: Session, training_ids: set[str]) -> dict[str, Training]:
    """The trainings with these ids, by id."""
    if not training_ids:
        return {}
    found = session.exec(select(Training).where(col(Training.id).in_(sorted(training_ids)))).all()
    return {training.id: training for training in found}


# --- blocks (out of service) ----------------------------------------------------------------------

_BLOCK_MESSAGES = HotStatement(
    sa.select(_block.c.message, _block.c.start_at).where(
        _block.c.resource_id == sa.bindparam("resource_id"),
        _block.c.cleared_at.is_(None),
        _block.c.start_at < sa.bindparam("end", type_=UTCDateTime()),
        sa.or_(_block.c.end_at.is_(None), _block.c.end_at > sa.bindparam("start", type_=UTCDateTime())),
    )
)


def block_messages(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> list[tuple[str, datetime]]:
    """(message, since) of each active block of the resource touching [start, end)."""
    return ask_block_messages(session, resource_id, start, end)()


def ask_block_messages(
    session: Session, resource_id: str, start: datetime, end: datetime
) -> Callable[[], list[tuple[str, datetime]]]:
    """`block_messages`, asked now and read when called (HotStatement.ask)."""
    rows = _BLOCK_MESSAGES.ask(session, {"resource_id": resource_id, "start": start, "end": end})
    return lambda: [(str(message), since) for message, since in rows()]


def open_blocks(session: Session, resource_id: str, reason: str | None = None) -> Sequence[ResourceBlock]:
    """The resource's blocks not cleared yet, optionally of one reason."""
    query = select(ResourceBlock).where(
        ResourceBlock.resource_id == resource_id, col(ResourceBlock.cleared_at).is_(None)
    )
    if reason is not None:
        query = query.where(ResourceBlock.reason == reason)
    return session.exec(query).all()


# --- trainings, plans, quota rules --------------------------------------------------------------


def get_training(session: Session, training_id: str) -> Training | None:
    """The training with this id, or None."""
    return session.get(Training, training_id)


def list_trainings(session: Session) -> Sequence[Training]:
    """Every training, by id."""
    return session.exec(select(Training).order_by(col(Training.id))).all()


def list_plans(session: Session) -> Sequence[Plan]:
    """Every plan, by price."""
    return session.exec(select(Plan).order_by(col(Plan.monthly_price_vnd), col(Plan.id))).all()


def get_plan(session: Session, plan_id: str) -> Plan | None:
    """The plan with this id, or None."""
    return session.get(Plan, plan_id)


def list_quota_rules(session: Session, plan_id: str, quota_group: str | None = None) -> Sequence[QuotaRule]:
    """The plan's quota rules, optionally of one group."""
    query = select(QuotaRule).where(QuotaRule.plan_id == plan_id)
    if quota_group is not None:
        query = query.where(QuotaRule.quota_group == quota_group)
    return session.exec(query.order_by(col(QuotaRule.quota_group), col(QuotaRule.period))).all()


def get_quota_group(session: Session, group_id: str) -> QuotaGroup | None:
    """What a quota group is called, if an admin named it."""
    return session.get(QuotaGroup, group_id)


def quota_groups(session: Session) -> dict[str, QuotaGroup]:
    """Every named quota group by id."""
    return {g.id: g for g in session.exec(select(QuotaGroup)).all()}


def quota_group_ids(session: Session) -> list[str]:
    """Every quota group in use (by a quota rule or a resource) or named, sorted."""
    used = set(session.exec(select(QuotaRule.quota_group)).all())
    used |= {g for g in session.exec(select(Resource.quota_group)).all() if g}
    used |= set(session.exec(select(QuotaGroup.id)).all())
    return sorted(used)


def get_quota_rule(session: Session, rule_id: int) -> QuotaRule | None:
    """The quota rule with this id, or None."""
    return session.get(QuotaRule, rule_id)
