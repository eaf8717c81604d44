"""The catalogue: sites, their closures, resources and their availability, plans, trainings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from booking.bookings import availability as bookings_availability
from booking.bookings import closures
from booking.bookings.service import booking_read
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.models import ResourceKind
from booking.schemas import (
    AvailabilityRead,
    BookingRead,
    ClosureCreate,
    ClosureRead,
    PlanRead,
    ResourceRead,
    SiteRead,
    TrainingRead,
    When,
)
from web.deps import ActorDep, NowDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["catalogue"])


@router.get("/sites")
def list_sites(session: SessionDep, _actor: ActorDep) -> list[SiteRead]:
    """Every site of the center."""
    return [SiteRead.model_validate(site) for site in catalogue_repo.list_sites(session)]


@router.get("/sites/{site_id}")
def get_site(site_id: str, session: SessionDep, _actor: ActorDep) -> SiteRead:
    """One site."""
    return SiteRead.model_validate(catalogue.get_site_or_raise(session, site_id))


@router.get("/sites/{site_id}/closures/preview")
def preview_closure(
    site_id: str, start: When, end: When, session: SessionDep, actor: ActorDep, now: NowDep
) -> list[BookingRead]:
    """The active bookings a closure over [start, end) would cover, before it is saved."""
    return [booking_read(b) for b in closures.bookings_hit(session, actor, site_id, start, end, now)]


@router.post("/sites/{site_id}/closures", status_code=201)
def add_closure(
    site_id: str, data: ClosureCreate, session: SessionDep, actor: ActorDep, now: NowDep
) -> ClosureRead:
    """Close a site for a span (managers of the site); the bookings it covers are kept or cancelled
    (`on_bookings`), their members told either way."""
    outcome = closures.close_site(session, actor, site_id, data, now)
    session.commit()
    closure = outcome.closure
    return ClosureRead(
        id=closure.id or 0,
        site_id=closure.site_id,
        start=closure.start_at,
        end=closure.end_at,
        reason=closure.reason,
        cancelled_bookings=[b.id for b in outcome.cancelled],
        kept_bookings=[b.id for b in outcome.kept],
    )


@router.get("/resources")
def list_resources(
    session: SessionDep,
    _actor: ActorDep,
    site: Annotated[str | None, Query(max_length=64)] = None,
    kind: ResourceKind | None = None,
) -> list[ResourceRead]:
    """Bookable resources, optionally of one site and one kind."""
    return [
        catalogue.resource_read(r) for r in catalogue_repo.list_resources(session, site_id=site, kind=kind)
    ]


@router.get("/resources/{resource_id}")
def get_resource(resource_id: str, session: SessionDep, _actor: ActorDep) -> ResourceRead:
    """One resource with its booking rules."""
    return catalogue.resource_read(catalogue.get_resource_or_raise(session, resource_id))


@router.get("/resources/{resource_id}/availability")
def availability(
    resource_id: str,
    start: When,
    end: When,
    session: SessionDep,
    now: NowDep,
    _actor: ActorDep,
) -> AvailabilityRead:
    """Free spans inside opening hours between start and end (free seats for a desk pool)."""
    return bookings_availability.availability(session, resource_id, start, end, now)


@router.get("/plans")
def list_plans(session: SessionDep, _actor: ActorDep) -> list[PlanRead]:
    """Plans and their quota rules."""
    return catalogue.list_plans(session)


@router.get("/trainings")
def list_trainings(session: SessionDep, _actor: ActorDep) -> list[TrainingRead]:
    """The trainings machines may require."""
    return [TrainingRead.model_validate(t) for t in catalogue_repo.list_trainings(session)]
