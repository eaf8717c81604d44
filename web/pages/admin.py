"""Admin pages: set a center up without the command line (sites, hours, closures, resources, trainings,
plans and quota rules); the people (members, roles, kiosk accounts) are in `admin_members`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from booking.bookings import closures
from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.catalogue.rules import parse_opening_hours, read_opening_text
from booking.errors import NotFound
from booking.members import repository as members_repo
from booking.members import service as members_service
from booking.models import QuotaPeriod, ResourceKind
from booking.schemas import (
    ClosureCreate,
    PlanCreate,
    PlanUpdate,
    QuotaRuleCreate,
    ResourceCreate,
    ResourceUpdate,
    SiteCreate,
    SiteUpdate,
    TrainingCreate,
)
from booking.spans import WEEKDAYS, zone
from web import notices, outbox
from web.deps import NowDep, SessionDep, SettingsDep
from web.pages.common import AdminActor, flash, language_of, local_instant, parse_day, render, see_other, text
from web.pages.forms import validated
from web.pages.mine import booking_views

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _form(request: Request) -> FormData:
    # Parsed once here (async) so the sync routes below get plain values without blocking the loop.
    return await request.form()


Fields = Annotated[FormData, Depends(_form)]


def _value(form: FormData, name: str) -> str:
    raw = form.get(name)
    return raw.strip() if isinstance(raw, str) else ""


def _optional(form: FormData, name: str) -> str | None:
    return _value(form, name) or None


def _checked(form: FormData, name: str) -> bool:
    return _value(form, name) in ("on", "true", "1", "yes")


def _values(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def parse_hours(form: FormData) -> dict[str, list[list[str]]]:
    """Opening hours from one text field per weekday, like '07:30-12:00, 13:00-17:00' (empty: closed)."""
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        windows = read_opening_text(_value(form, f"hours_{day}"))
        if windows:
            hours[day] = windows
    parse_opening_hours(hours)
    return hours


def hours_text(opening_hours: dict[str, list[list[str]]]) -> dict[str, str]:
    """Opening hours as the form shows them, one text per weekday."""
    return {day: ", ".join(f"{o}-{c}" for o, c in opening_hours.get(day, [])) for day in WEEKDAYS}


@router.get("")
def overview(request: Request, session: SessionDep, settings: SettingsDep, actor: AdminActor) -> Response:
    """What there is to set up, with counts."""
    return render(
        request,
        "admin/overview.html",
        actor,
        counts={
            "sites": len(catalogue_repo.list_sites(session)),
            "resources": len(catalogue.list_all_resources(session)),
            "plans": len(catalogue_repo.list_plans(session)),
            "members": len(members_service.list_members(session, limit=10_000)),
            "trainings": len(catalogue_repo.list_trainings(session)),
        },
        undelivered=[
            (d, notices.title(d.kind, language_of(request, actor)), address)
            for d, address in outbox.failed_deliveries(session, 20)
        ],
        waiting=outbox.waiting(session),
        tz=zone(settings.timezone),
    )


# --- sites, hours, closures -----------------------------------------------------------------------


@router.get("/sites")
def sites(request: Request, session: SessionDep, actor: AdminActor) -> Response:
    """Every site, and a form for a new one."""
    return render(
        request,
        "admin/sites.html",
        actor,
        sites=list(catalogue_repo.list_sites(session)),
        weekdays=WEEKDAYS,
        hours=hours_text({d: [["08:00", "17:00"]] for d in WEEKDAYS[:5]}),
    )


def _site_data(form: FormData) -> dict[str, Any]:
    return {
        "name": _value(form, "name"),
        "name_en": _value(form, "name_en"),
        "timezone": _value(form, "timezone") or "Asia/Ho_Chi_Minh",
        "holiday_country": _value(form, "holiday_country").upper(),
        "opening_hours": parse_hours(form),
        "address": _value(form, "address"),
        "approve_members": bool(form.get("approve_members")),
    }


@router.post("/sites")
def create_site(request: Request, session: SessionDep, actor: AdminActor, form: Fields) -> Response:
    """Add a site."""
    data = validated(SiteCreate, {"id": _value(form, "id"), **_site_data(form)})
    site = catalogue.create_site(session, actor, data)
    session.commit()
    flash(request, text(request, actor, "Site %(name)s added.", name=site.name))
    return see_other(f"/admin/sites/{site.id}")


@router.get("/sites/{site_id}")
def site_page(
    request: Request, site_id: str, session: SessionDep, now: NowDep, actor: AdminActor
) -> Response:
    """A site's settings, opening hours and upcoming closures."""
    site = catalogue.get_site_or_raise(session, site_id)
    return render(
        request,
        "admin/site.html",
        actor,
        site=site,
        tz=zone(site.timezone),
        weekdays=WEEKDAYS,
        hours=hours_text(site.opening_hours),
        closures=catalogue.list_closures(session, site.id, now),
    )


@router.post("/sites/{site_id}")
def update_site(
    request: Request, site_id: str, session: SessionDep, actor: AdminActor, form: Fields
) -> Response:
    """Save a site's settings and opening hours."""
    site = catalogue.update_site(session, actor, site_id, validated(SiteUpdate, _site_data(form)))
    session.commit()
    flash(request, text(request, actor, "Saved."))
    return see_other(f"/admin/sites/{site.id}")


@router.post("/sites/{site_id}/closures")
def add_closure(
    request: Request,
    site_id: str,
    session: SessionDep,
    now: NowDep,
    actor: AdminActor,
    start_day: Annotated[str, Form(max_length=10)],
    end_day: Annotated[str, Form(max_length=10)],
    reason: Annotated[str, Form(min_length=1, max_length=200)],
    start_time: Annotated[str, Form(max_length=5)] = "00:00",
    end_time: Annotated[str, Form(max_length=5)] = "24:00",
    on_bookings: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    """Close the site from a local date and time to another (whole days by default). When the closure
    covers bookings, they are listed first and the closure is saved only once the admin says whether
    to cancel or keep them (their members are told either way)."""
    site = catalogue.get_site_or_raise(session, site_id)
    tz = zone(site.timezone)
    first = parse_day(start_day, now.astimezone(tz).date())
    last = parse_day(end_day, first)
    start = local_instant(first, start_time or "00:00", tz)
    end = local_instant(last, end_time or "24:00", tz)
    hit = closures.bookings_hit(session, actor, site.id, start, end, now)
    if hit and on_bookings not in ("cancel", "keep"):
        return render(
            request,
            "admin/closure_confirm.html",
            actor,
            site=site,
            tz=tz,
            views=booking_views(session, hit, now, 0),
            members={m.id: m for m in (members_repo.get_member(session, b.member_id) for b in hit) if m},
            typed={
                "start_day": start_day,
                "end_day": end_day,
                "start_time": start_time,
                "end_time": end_time,
                "reason": reason,
            },
        )
    data = ClosureCreate(
        start=start, end=end, reason=reason, on_bookings="cancel" if on_bookings == "cancel" else "keep"
    )
    outcome = closures.close_site(session, actor, site.id, data, now)
    session.commit()
    message = text(request, actor, "Closure added.")
    if outcome.cancelled:
        message += " " + text(
            request,
            actor,
            "%(num)s bookings were cancelled and their members told.",
            num=len(outcome.cancelled),
        )
    if outcome.kept:
        message += " " + text(
            request, actor, "%(num)s bookings were kept and their members told.", num=len(outcome.kept)
        )
    flash(request, message)
    return see_other(f"/admin/sites/{site.id}")


@router.post("/closures/{closure_id}/delete")
def delete_closure(request: Request, closure_id: int, session: SessionDep, actor: AdminActor) -> Response:
    """Remove a closure."""
    closure = catalogue.delete_closure(session, actor, closure_id)
    session.commit()
    flash(request, text(request, actor, "Closure removed."))
    return see_other(f"/admin/sites/{closure.site_id}")


# --- resources and trainings ----------------------------------------------------------------------


def _resource_data(form: FormData) -> dict[str, Any]:
    numbers = (
        "capacity",
        "slot_minutes",
        "min_minutes",
        "max_minutes",
        "lead_minutes",
        "max_days_ahead",
        "buffer_minutes",
    )
    data: dict[str, Any] = {n: _value(form, n) for n in numbers if _value(form, n)}
    data.update(
        name=_value(form, "name"),
        name_en=_value(form, "name_en"),
        description=_value(form, "description"),
        requires_approval=_checked(form, "requires_approval"),
        allow_walk_in=_checked(form, "allow_walk_in"),
        training_id=_optional(form, "training_id"),
        quota_group=_optional(form, "quota_group"),
    )
    return data


@router.get("/resources")
def resources(request: Request, session: SessionDep, actor: AdminActor) -> Response:
    """Every resource (retired ones too), a form for a new one, and the trainings."""
    return render(
        request,
        "admin/resources.html",
        actor,
        resources=catalogue.list_all_resources(session),
        quota_groups=catalogue_repo.quota_groups(session),
        sites=list(catalogue_repo.list_sites(session)),
        trainings=list(catalogue_repo.list_trainings(session)),
        kinds=list(ResourceKind),
    )


@router.post("/resources")
def create_resource(request: Request, session: SessionDep, actor: AdminActor, form: Fields) -> Response:
    """Add a resource."""
    data = validated(
        ResourceCreate,
        {
            "id": _value(form, "id"),
            "site_id": _value(form, "site_id"),
            "kind": _value(form, "kind"),
            **_resource_data(form),
        },
    )
    resource = catalogue.create_resource(session, actor, data)
    session.commit()
    flash(request, text(request, actor, "Resource %(name)s added.", name=resource.name))
    return see_other(f"/admin/resources/{resource.id}")


@router.get("/resources/{resource_id}")
def resource_page(request: Request, resource_id: str, session: SessionDep, actor: AdminActor) -> Response:
    """A resource's names, capacity and booking rules."""
    resource = catalogue_repo.get_resource(session, resource_id)
    if resource is None:
        raise NotFound("there is no resource '{resource_id}'", resource_id=resource_id)
    return render(
        request,
        "admin/resource.html",
        actor,
        resource=resource,
        trainings=list(catalogue_repo.list_trainings(session)),
    )


@router.post("/resources/{resource_id}")
def update_resource(
    request: Request, resource_id: str, session: SessionDep, actor: AdminActor, form: Fields
) -> Response:
    """Save a resource's rules (or retire it)."""
    data = validated(ResourceUpdate, {**_resource_data(form), "active": _checked(form, "active")})
    resource = catalogue.update_resource(session, actor, resource_id, data)
    session.commit()
    flash(request, text(request, actor, "Saved."))
    return see_other(f"/admin/resources/{resource.id}")


@router.post("/trainings")
def create_training(request: Request, session: SessionDep, actor: AdminActor, form: Fields) -> Response:
    """Add a training."""
    data = validated(
        TrainingCreate,
        {
            "id": _value(form, "id"),
            "name": _value(form, "name"),
            "name_en": _value(form, "name_en"),
            "valid_days": _optional(form, "valid_days"),
        },
    )
    catalogue.create_training(session, actor, data)
    session.commit()
    flash(request, text(request, actor, "Training %(training)s added.", training=data.id))
    return see_other("/admin/resources")


# --- plans and quota rules ------------------------------------------------------------------------


@router.get("/plans")
def plans(request: Request, session: SessionDep, actor: AdminActor) -> Response:
    """Plans with their quota rules; forms to add plans and rules."""
    return render(
        request,
        "admin/plans.html",
        actor,
        plans=list(catalogue_repo.list_plans(session)),
        quota_rules=catalogue.list_quota_rules_by_plan(session),
        periods=list(QuotaPeriod),
        quota_groups=catalogue_repo.quota_groups(session),
        group_ids=catalogue_repo.quota_group_ids(session),
    )


@router.post("/quota-groups")
def name_quota_group(request: Request, session: SessionDep, actor: AdminActor, form: Fields) -> Response:
    """Name a quota group in both languages (what members read on their meters and in refusals)."""
    group = catalogue.name_quota_group(
        session, actor, _value(form, "id"), _value(form, "name"), _value(form, "name_en")
    )
    session.commit()
    flash(request, text(request, actor, "Quota group %(group)s named.", group=group.id))
    return see_other("/admin/plans#groups")


@router.post("/plans")
def create_plan(request: Request, session: SessionDep, actor: AdminActor, form: Fields) -> Response:
    """Add a plan."""
    data = validated(
        PlanCreate,
        {
            "id": _value(form, "id"),
            "name": _value(form, "name"),
            "name_en": _value(form, "name_en"),
            "monthly_price_vnd": _value(form, "monthly_price_vnd") or 0,
        },
    )
    catalogue.create_plan(session, actor, data)
    session.commit()
    flash(request, text(request, actor, "Plan %(name)s added.", name=data.name))
    return see_other("/admin/plans")


@router.post("/plans/{plan_id}")
def update_plan(
    request: Request, plan_id: str, session: SessionDep, actor: AdminActor, form: Fields
) -> Response:
    """Rename or reprice a plan."""
    data = validated(
        PlanUpdate,
        {
            "name": _value(form, "name"),
            "name_en": _value(form, "name_en"),
            "monthly_price_vnd": _value(form, "monthly_price_vnd") or 0,
        },
    )
    catalogue.update_plan(session, actor, plan_id, data)
    session.commit()
    flash(request, text(request, actor, "Saved."))
    return see_other("/admin/plans")


@router.post("/plans/{plan_id}/rules")
def add_rule(
    request: Request, plan_id: str, session: SessionDep, actor: AdminActor, form: Fields
) -> Response:
    """Add a quota rule to a plan."""
    data = validated(
        QuotaRuleCreate,
        {
            "quota_group": _value(form, "quota_group"),
            "period": _value(form, "period"),
            "max_hours": _optional(form, "max_hours"),
            "max_bookings": _optional(form, "max_bookings"),
            "max_future_bookings": _optional(form, "max_future_bookings"),
            "max_runtime_hours": _optional(form, "max_runtime_hours"),
        },
    )
    catalogue.add_quota_rule(session, actor, plan_id, data)
    session.commit()
    flash(request, text(request, actor, "Quota rule added."))
    return see_other("/admin/plans")


@router.post("/rules/{rule_id}/delete")
def delete_rule(request: Request, rule_id: int, session: SessionDep, actor: AdminActor) -> Response:
    """Remove a quota rule."""
    catalogue.delete_quota_rule(session, actor, rule_id)
    session.commit()
    flash(request, text(request, actor, "Quota rule removed."))
    return see_other("/admin/plans")
