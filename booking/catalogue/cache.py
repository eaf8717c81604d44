"""A short-lived, per-process snapshot of the catalogue (resources, their sites, plans' quota rules,
the sites' closures).

Every booking reads its resource's rules, its site's hours, zone and closures, and the plan's quota
rules. These
change a few times a month, so each process keeps a snapshot for a few seconds instead of asking the
database on every request. A change made through this process's services is seen at once (they call
`invalidate`); one made by another process is seen within `ttl_s`.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking.catalogue import repository as repo
from booking.catalogue.rules import (
    BookingRules,
    OpeningHours,
    QuotaLimits,
    booking_rules,
    parse_opening_hours,
)
from booking.errors import NotFound
from booking.models import QuotaPeriod, Resource, ResourceKind, Training
from booking.spans import ClosureSpan, Span, zone
from booking.sql import database_of


@dataclass(frozen=True, slots=True)
class SiteInfo:
    id: str
    name: str
    name_en: str
    timezone: str
    tz: ZoneInfo
    hours: OpeningHours
    holiday_country: str
    # Members who signed up themselves book here only once approved.
    approve_members: bool = False

    @property
    def display_name(self) -> str:
        return self.name_en or self.name


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    id: str
    site: SiteInfo
    kind: ResourceKind
    name: str
    capacity: int
    buffer_minutes: int
    slot_minutes: int
    requires_approval: bool
    allow_walk_in: bool
    training_id: str | None
    training_name: str | None
    quota_group: str | None
    rules: BookingRules

    @property
    def site_id(self) -> str:
        return self.site.id

    @property
    def exclusive(self) -> bool:
        return self.kind is not ResourceKind.desk_pool


class CatalogueCache:
    """Snapshots of resources and quota rules, per database, each kept for `ttl_s` seconds."""

    def __init__(self, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], tuple[float, Any]] = {}

    def resource(self, session: Session, resource_id: str) -> ResourceInfo:
        """The active resource's snapshot, or NotFound. A resource not kept (or kept too long) is
        read with every other resource of its site, in one go, all kept from then: each resource
        read alone as its snapshot ran out cost, with 128 rooms under load, one booking in thirteen
        a trip to a thread and three queries."""
        info: ResourceInfo | None = self._cached(session, "resource", resource_id, _load_site_resources)
        if info is None:
            raise NotFound("there is no resource '{resource_id}'", resource_id=resource_id)
        return info

    # What the `peek` and `knows` methods call fresh: kept for at least this much longer, so that
    # the call that reads it next, a moment later, finds it still there.
    SPARE_S = 0.25

    def peek_resource(self, database: str, resource_id: str) -> tuple[bool, ResourceInfo | None]:
        """Whether the resource's snapshot is kept and fresh, and then the snapshot (None: no such
        active resource); never reads the database."""
        return self._peek(database, "resource", resource_id)

    def knows_quota_limits(self, database: str, plan_id: str, quota_group: str) -> bool:
        """Whether the plan's quota rules for the group are kept and fresh."""
        return self._peek(database, "quota", f"{plan_id}\x00{quota_group}")[0]

    def knows_closures(self, database: str, site_id: str) -> bool:
        """Whether the site's closures are kept and fresh."""
        return self._peek(database, "closures", site_id)[0]

    def _peek(self, database: str, kind: str, key: str) -> tuple[bool, Any]:
        with self._lock:
            hit = self._entries.get((database, kind, key))
        if hit is None or self._clock() - hit[0] >= self.ttl_s - self.SPARE_S:
            return False, None
        return True, hit[1]

    def quota_limits(self, session: Session, plan_id: str, quota_group: str) -> list[QuotaLimits]:
        """The plan's quota rules for the group."""
        limits: list[QuotaLimits] = self._cached(
            session, "quota", f"{plan_id}\x00{quota_group}", _load_quota_limits_alone
        )
        return limits

    def closures(self, session: Session, site_id: str, span: Span) -> list[ClosureSpan]:
        """The site's own closures (those the managers entered) touching the span."""
        closures: SiteClosures = self._cached(session, "closures", site_id, _load_closures_alone)
        return closures.touching(span)

    def invalidate(self) -> None:
        """Forget every snapshot (after a change to sites, resources, plans or quota rules)."""
        with self._lock:
            self._entries.clear()

    def _cached(
        self, session: Session, kind: str, key: str, load: Callable[[Session, str], dict[str, Any]]
    ) -> Any:
        """The key's snapshot; when it is not kept or kept too long, `load` reads it, with any others
        of its kind read in the same go (by their keys), and all are kept from now."""
        database = database_of(session)
        now = self._clock()
        with self._lock:
            hit = self._entries.get((database, kind, key))
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        loaded = load(session, key)
        with self._lock:
            for each, value in loaded.items():
                self._entries[(database, kind, each)] = (now, value)
        return loaded[key]


def _alone(load: Callable[[Session, str], Any]) -> Callable[[Session, str], dict[str, Any]]:
    """A loader of one key's snapshot, as `CatalogueCache._cached` takes loaders."""
    return lambda session, key: {key: load(session, key)}


def _load_site_resources(session: Session, resource_id: str) -> dict[str, ResourceInfo | None]:
    """The snapshots of the resource and of every other resource of its site (None: retired, or
    no such resource)."""
    resource = repo.get_resource(session, resource_id)
    if resource is None:
        return {resource_id: None}
    site = repo.get_site(session, resource.site_id)
    if site is None:  # pragma: no cover - a foreign key guarantees the site
        return {resource_id: None}
    siblings = repo.site_resources(session, site.id)
    trainings = repo.trainings_among(session, {r.training_id for r in siblings if r.training_id and r.active})
    site_info = SiteInfo(
        id=site.id,
        name=site.name,
        name_en=site.name_en,
        timezone=site.timezone,
        tz=zone(site.timezone),
        hours=parse_opening_hours(site.opening_hours),
        holiday_country=site.holiday_country,
        approve_members=site.approve_members,
    )
    loaded: dict[str, ResourceInfo | None] = {
        one.id: _resource_info(one, site_info, trainings) if one.active else None for one in siblings
    }
    loaded.setdefault(resource_id, None)
    return loaded


def _resource_info(resource: Resource, site: SiteInfo, trainings: dict[str, Training]) -> ResourceInfo:
    training = trainings.get(resource.training_id) if resource.training_id else None
    return ResourceInfo(
        id=resource.id,
        site=site,
        kind=ResourceKind(resource.kind),
        name=resource.name,
        capacity=resource.capacity,
        buffer_minutes=resource.buffer_minutes,
        slot_minutes=resource.slot_minutes,
        requires_approval=resource.requires_approval,
        allow_walk_in=resource.allow_walk_in,
        training_id=resource.training_id,
        training_name=training.name if training else resource.training_id,
        quota_group=resource.quota_group,
        rules=booking_rules(resource),
    )


@dataclass(frozen=True, slots=True)
class SiteClosures:
    """A site's closures by start, and the longest one: those touching a span are found by bisection."""

    starts: list[datetime]
    closures: list[ClosureSpan]
    longest: timedelta

    def touching(self, span: Span) -> list[ClosureSpan]:
        first = bisect.bisect_right(self.starts, span.start - self.longest)
        last = bisect.bisect_left(self.starts, span.end)
        return [c for c in self.closures[first:last] if c.end > span.start]


def _load_closures(session: Session, site_id: str) -> SiteClosures:
    closures = sorted(repo.all_closure_spans(session, site_id), key=lambda c: c.start)
    return SiteClosures(
        starts=[c.start for c in closures],
        closures=closures,
        longest=max((c.end - c.start for c in closures), default=timedelta(0)),
    )


def _load_quota_limits(session: Session, key: str) -> list[QuotaLimits]:
    plan_id, quota_group = key.split("\x00", 1)
    named = repo.get_quota_group(session, quota_group)
    return [
        QuotaLimits(
            quota_group=rule.quota_group,
            period=QuotaPeriod(rule.period),
            max_hours=rule.max_hours,
            max_bookings=rule.max_bookings,
            max_future_bookings=rule.max_future_bookings,
            group_name=named.name if named else "",
            group_name_en=named.name_en if named else "",
        )
        for rule in repo.list_quota_rules(session, plan_id, quota_group)
    ]


CATALOGUE = CatalogueCache()


# The loaders of one key, as `CatalogueCache._cached` takes them (made once, not per call).
_load_quota_limits_alone = _alone(_load_quota_limits)
_load_closures_alone = _alone(_load_closures)
