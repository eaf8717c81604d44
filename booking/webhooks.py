"""Webhooks: other systems (a chat bridge, Home Assistant) told of events by a signed JSON POST.

An admin registers a URL, the kinds of event it wants and a shared secret; `notifications.publish`
queues each event for the webhooks that want it, in the transaction of the change; the web layer's
worker sends it (web/webhooks.py). Whether a host is public is a network question, asked there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, col, select, update

from booking.catalogue.rules import Acting, require_admin
from booking.errors import InvalidRequest, NotFound
from booking.models import Delivery, DeliveryStatus, Webhook
from booking.notifications import webhooks_changed
from booking.security import new_id, new_token

ALL_KINDS = "*"


def check_url(url: str) -> str:
    """An http(s) URL with a host, no credentials in it."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise InvalidRequest(
            "a webhook's address must be an http:// or https:// URL (at most 500 characters)"
        )
    if parts.username or parts.password:
        raise InvalidRequest(
            "put no user name or password in a webhook's address; it is signed with its secret"
        )
    return url


def check_kinds(kinds: Iterable[str], known: Sequence[str]) -> list[str]:
    """The kinds asked for, each one FabLab Hub sends ("*": all)."""
    chosen = sorted({k.strip() for k in kinds if k.strip()})
    if not chosen:
        raise InvalidRequest("choose at least one kind of event for the webhook")
    unknown = [k for k in chosen if k != ALL_KINDS and k not in known]
    if unknown:
        raise InvalidRequest("FabLab Hub sends no event of the kind {kinds}", kinds=", ".join(unknown))
    return chosen


def create_webhook(
    session: Session,
    actor: Acting,
    url: str,
    kinds: Iterable[str],
    now: datetime,
    *,
    known: Sequence[str],
    secret: str = "",
) -> Webhook:
    """Register a webhook; without a secret one is made (shown once, to the admin who made it)."""
    require_admin(actor)
    secret = secret.strip() or new_token()
    if len(secret) < 16:
        raise InvalidRequest("a webhook's secret needs at least 16 characters")
    hook = Webhook(
        id=new_id(),
        url=check_url(url),
        kinds=check_kinds(kinds, known),
        secret=secret[:200],
        active=True,
        created_at=now,
    )
    session.add(hook)
    session.flush()
    webhooks_changed()
    return hook


def list_webhooks(session: Session, actor: Acting) -> list[Webhook]:
    require_admin(actor)
    return list(session.exec(select(Webhook).order_by(col(Webhook.created_at))).all())


def _get(session: Session, hook_id: str) -> Webhook:
    hook = session.get(Webhook, hook_id)
    if hook is None:
        raise NotFound("there is no webhook '{webhook}'", webhook=hook_id)
    return hook


def delete_webhook(session: Session, actor: Acting, hook_id: str) -> None:
    """Remove a webhook; what it had not received yet is dropped."""
    require_admin(actor)
    hook = _get(session, hook_id)
    give_up(session, hook.id, "the webhook was removed")
    session.delete(hook)
    session.flush()
    webhooks_changed()


def enable_webhook(session: Session, actor: Acting, hook_id: str) -> Webhook:
    """Switch a webhook on again (after it was switched off for a day of failures)."""
    require_admin(actor)
    hook = _get(session, hook_id)
    hook.active, hook.failing_since, hook.last_error = True, None, ""
    session.add(hook)
    session.flush()
    webhooks_changed()
    return hook


def give_up(session: Session, hook_id: str, why: str) -> int:
    """Drop what waits for a webhook; how many deliveries."""
    result = session.connection().execute(
        update(Delivery)
        .where(col(Delivery.webhook_id) == hook_id, col(Delivery.status) == DeliveryStatus.pending)
        .values(status=DeliveryStatus.failed, last_error=why)
    )
    return int(result.rowcount or 0)
