"""Admin page for webhooks: register a URL with the kinds of event it wants, see which fail, switch
one on again, remove it. The secret is shown once, when the webhook is made."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlmodel import Session

from booking import webhooks
from booking.errors import DomainError
from booking.members.actors import Actor
from booking.models import Webhook
from booking.spans import zone
from web import notices
from web.api.webhooks import known_kinds
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.errors import status_of
from web.i18n import say
from web.pages.admin import Fields, _value, _values
from web.pages.common import AdminActor, flash, language_of, render, see_other, text
from web.settings import Settings
from web.webhooks import check_destination

router = APIRouter(prefix="/admin", include_in_schema=False)


def _page(
    request: Request,
    reader: Session,
    settings: Settings,
    actor: Actor,
    *,
    form: Mapping[str, object] | None = None,
    created: str = "",
    hooks: list[Webhook] | None = None,
    status: int = 200,
) -> Response:
    language = language_of(request, actor)
    return render(
        request,
        "admin/webhooks.html",
        actor,
        status=status,
        hooks=webhooks.list_webhooks(reader, actor) if hooks is None else hooks,
        kinds=[(kind, notices.title(kind, language)) for kind in known_kinds()],
        form=form or {"url": "", "kinds": [], "error": ""},
        created=created,
        tz=zone(settings.timezone),
    )


@router.get("/webhooks")
def webhooks_page(
    request: Request, reader: ReadSessionDep, settings: SettingsDep, actor: AdminActor
) -> Response:
    """The webhooks, how each is doing, and a form for a new one."""
    return _page(request, reader, settings, actor)


@router.post("/webhooks")
async def add_webhook(
    request: Request,
    session: SessionDep,
    reader: ReadSessionDep,
    settings: SettingsDep,
    now: NowDep,
    actor: AdminActor,
    form: Fields,
) -> Response:
    """Register one; a refusal stands beside the address, with what was typed kept."""
    url, kinds = _value(form, "url"), _values(form, "kinds")
    try:
        await run_in_threadpool(check_destination, url, allow_private=settings.webhook_allow_private)
        secret, hooks = await run_in_threadpool(_create, session, actor, url, kinds, now)
    except DomainError as exc:
        problem = {"url": url, "kinds": kinds, "error": say(exc.message, language_of(request, actor))}
        status = status_of(exc)
        return await run_in_threadpool(
            lambda: _page(request, reader, settings, actor, form=problem, status=status)
        )
    return _page(request, reader, settings, actor, created=secret, hooks=hooks)


def _create(
    session: Session, actor: Actor, url: str, kinds: list[str], now: datetime
) -> tuple[str, list[Webhook]]:
    """The new webhook's secret, and every webhook as the page lists them (read before the commit)."""
    try:
        hook = webhooks.create_webhook(session, actor, url, kinds, now, known=known_kinds())
        secret, hooks = hook.secret, webhooks.list_webhooks(session, actor)
        session.expunge_all()
        session.commit()
    except DomainError:
        session.rollback()
        raise
    return secret, hooks


@router.post("/webhooks/{hook_id}/enable")
def enable(request: Request, hook_id: str, session: SessionDep, actor: AdminActor) -> Response:
    webhooks.enable_webhook(session, actor, hook_id)
    session.commit()
    flash(request, text(request, actor, "The webhook is on again."))
    return see_other("/admin/webhooks")


@router.post("/webhooks/{hook_id}/delete")
def delete(request: Request, hook_id: str, session: SessionDep, actor: AdminActor) -> Response:
    webhooks.delete_webhook(session, actor, hook_id)
    session.commit()
    flash(request, text(request, actor, "The webhook was removed."))
    return see_other("/admin/webhooks")
