"""Admin pages for people: members, their roles, plans and cards, kiosk accounts, password resets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from booking.catalogue import repository as catalogue_repo
from booking.members import repository as members_repo
from booking.members import service as members_service
from booking.models import Role
from booking.schemas import (
    MemberCreate,
    MemberUpdate,
)
from web.deps import NowDep, SessionDep
from web.pages.admin import Fields, _checked, _optional, _value, _values
from web.pages.common import AdminActor, flash, render, see_other, text
from web.pages.forms import validated

router = APIRouter(prefix="/admin", include_in_schema=False)


# --- members, roles, kiosk accounts ---------------------------------------------------------------


@router.get("/members")
def members(
    request: Request, session: SessionDep, actor: AdminActor, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """Members (search by e-mail or name) and a form for a new account, kiosks included."""
    return render(
        request,
        "admin/members.html",
        actor,
        q=q,
        members=members_service.list_members(session, q),
        plans=list(catalogue_repo.list_plans(session)),
        sites=list(catalogue_repo.list_sites(session)),
        roles=list(Role),
    )


@router.post("/members")
def create_member(
    request: Request, session: SessionDep, now: NowDep, actor: AdminActor, form: Fields
) -> Response:
    """Open an account (member, manager, admin, or a kiosk bound to one site)."""
    data = validated(
        MemberCreate,
        {
            "email": _value(form, "email"),
            "name": _value(form, "name"),
            "password": _value(form, "password"),
            "role": _value(form, "role") or "member",
            "plan_id": _optional(form, "plan_id"),
            "card_uid": _optional(form, "card_uid"),
            "language": _value(form, "language") or "vi",
            "sites": _values(form, "sites"),
        },
    )
    # Hashed before the write transaction begins: no hashing while the write slot is held.
    password_hash = members_service.new_password_hash(data.password, known=(data.email, data.name))
    member = members_service.create_member(session, actor, data, now, password_hash=password_hash)
    session.commit()
    flash(request, text(request, actor, "Account %(email)s created.", email=member.email))
    return see_other(f"/admin/members/{member.id}")


@router.get("/members/{member_id}")
def member_page(
    request: Request, member_id: str, session: SessionDep, now: NowDep, actor: AdminActor
) -> Response:
    """A member's role, sites, plan, card, language and state; a new password."""
    member = members_service.get_member_or_raise(session, member_id)
    return render(
        request,
        "admin/member.html",
        actor,
        member=member,
        managed=members_repo.managed_sites(session, member.id),
        plans=list(catalogue_repo.list_plans(session)),
        sites=list(catalogue_repo.list_sites(session)),
        roles=list(Role),
        grants=list(members_repo.list_member_trainings(session, member.id)),
        now=now,
    )


@router.post("/members/{member_id}")
def update_member(
    request: Request, member_id: str, session: SessionDep, actor: AdminActor, form: Fields
) -> Response:
    """Save a member's role, sites, plan, card, language and state."""
    data = validated(
        MemberUpdate,
        {
            "name": _value(form, "name"),
            "role": _value(form, "role"),
            "plan_id": _optional(form, "plan_id"),
            "card_uid": _optional(form, "card_uid"),
            "language": _value(form, "language") or "vi",
            "active": _checked(form, "active"),
            "sites": _values(form, "sites"),
        },
    )
    member = members_service.update_member(session, actor, member_id, data)
    session.commit()
    flash(request, text(request, actor, "Saved."))
    return see_other(f"/admin/members/{member.id}")


@router.post("/members/{member_id}/password")
def reset_password(
    request: Request,
    member_id: str,
    session: SessionDep,
    actor: AdminActor,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Set a new password; the member's sessions and tokens end."""
    password_hash = members_service.new_password_hash(password)  # before the write transaction
    member = members_service.reset_password(session, actor, member_id, password, password_hash=password_hash)
    session.commit()
    flash(
        request, text(request, actor, "Password changed; %(email)s must sign in again.", email=member.email)
    )
    return see_other(f"/admin/members/{member.id}")
