"""Webhooks (admins): register a URL for kinds of event, list, switch on again, remove."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlmodel import Session

from booking import webhooks
from booking.catalogue.rules import require_admin
from booking.members.actors import Actor
from booking.models import Webhook
from booking.schemas import Timestamp
from web import notices
from web.deps import ActorDep, NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.webhooks import check_destination

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str = Field(min_length=8, max_length=500)
    kinds: list[str] = Field(min_length=1, max_length=100)
    # Empty: one is made and returned once.
    secret: str = Field(default="", max_length=200)


class WebhookRead(BaseModel):
    id: str
    url: str
    kinds: list[str]
    active: bool
    failing_since: Timestamp | None
    last_error: str
    created_at: Timestamp


class WebhookCreated(WebhookRead):
    # Shown this once: the receiver checks X-FabLab-Signature with it.
    secret: str


def _read(hook: Webhook) -> WebhookRead:
    return WebhookRead.model_validate(hook, from_attributes=True)


def known_kinds() -> list[str]:
    """The kinds of event a webhook may ask for."""
    return sorted(notices.TITLES)


@router.get("")
def list_webhooks(reader: ReadSessionDep, actor: ActorDep) -> list[WebhookRead]:
    return [_read(h) for h in webhooks.list_webhooks(reader, actor)]


@router.get("/kinds")
def kinds(actor: ActorDep) -> list[str]:
    """The kinds of event there are ("*" asks for all)."""
    return known_kinds()


@router.post("", status_code=201)
async def create_webhook(
    data: WebhookCreate, session: SessionDep, actor: ActorDep, settings: SettingsDep, now: NowDep
) -> WebhookCreated:
    """Register a webhook; its host must be public unless FABLAB_WEBHOOK_ALLOW_PRIVATE."""
    require_admin(actor)
    # The host's name is resolved outside any transaction (it may take a while).
    await run_in_threadpool(check_destination, data.url.strip(), allow_private=settings.webhook_allow_private)
    return await run_in_threadpool(_create, session, actor, data, now)


def _create(session: Session, actor: Actor, data: WebhookCreate, now: datetime) -> WebhookCreated:
    hook = webhooks.create_webhook(
        session, actor, data.url, data.kinds, now, known=known_kinds(), secret=data.secret
    )
    created = WebhookCreated(**_read(hook).model_dump(), secret=hook.secret)
    session.commit()
    return created


@router.post("/{hook_id}/enable")
def enable_webhook(hook_id: str, session: SessionDep, actor: ActorDep) -> WebhookRead:
    hook = webhooks.enable_webhook(session, actor, hook_id)
    read = _read(hook)
    session.commit()
    return read


@router.delete("/{hook_id}", status_code=204)
def delete_webhook(hook_id: str, session: SessionDep, actor: ActorDep) -> None:
    webhooks.delete_webhook(session, actor, hook_id)
    session.commit()
