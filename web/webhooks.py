"""The webhook worker: sends the events queued for other systems, each a signed JSON POST.

Each delivery is claimed like an e-mail (web/outbox.py: a short transaction, a lease), then posted
from a pool of threads with a timeout, so a slow endpoint holds one thread and never another
delivery, a request or the bridge. The body carries its timestamp and is signed with the webhook's
secret: `X-FabLab-Signature: sha256=<hex HMAC-SHA256 of the body>`, `X-FabLab-Timestamp` (the same
Unix time as the body's `timestamp`: a receiver refuses old ones, so a captured request cannot be
replayed later), `X-FabLab-Delivery` (the same id on every retry: a receiver drops duplicates). A
2xx answer is success; anything else is retried with the e-mails' back-off; a webhook failing for
a day is switched off and the admins are told.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from booking import webhooks
from booking.errors import InvalidRequest
from booking.messages import Message, message
from booking.models import Delivery, DeliveryStatus, Member, Role, Webhook
from booking.notifications import notify, webhooks_changed
from web.backoff import MAX_ATTEMPTS, retry_after, settle, take_due
from web.i18n import say
from web.metrics import DELIVERIES
from web.settings import Settings

log = logging.getLogger(__name__)

BATCH = 50
TIMEOUT_S = 10.0
THREADS = 8
GIVE_UP_AFTER = timedelta(days=1)
USER_AGENT = "FabLab-Hub-Webhook/1"


def check_destination(url: str, *, allow_private: bool) -> str:
    """The address to post to: the URL's host resolved once, refused if it is (or resolves to)
    loopback, a private, link-local or reserved address, unless the admin setting allows it: a
    webhook must not reach into the center's own network on someone's behalf.

    The post connects to this address and no other (`post`): a name resolved again at connect time
    could answer differently (DNS rebinding: a public address for the check, 127.0.0.1 for the post).
    """
    webhooks.check_url(url)
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidRequest("the webhook's host {host} could not be found", host=host) from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private and any(not a.is_global or a.is_multicast for a in addresses):
        raise InvalidRequest(
            "the webhook's host {host} is a local or private address; an admin setting "
            "(FABLAB_WEBHOOK_ALLOW_PRIVATE) allows that for a system on the center's own network",
            host=host,
        )
    if not addresses:
        raise InvalidRequest("the webhook's host {host} could not be found", host=host)
    return str(addresses[0])


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: str
    webhook_id: str
    url: str
    secret: str
    kind: str
    message: Message
    payload: dict[str, Any]
    link: str
    attempts: int


_delivery: sa.Table = Delivery.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    _delivery.c.webhook_id,
    _delivery.c.kind,
    _delivery.c.message,
    _delivery.c.payload,
    _delivery.c.link,
)


def claim(engine: Engine, now: datetime, batch: int = BATCH) -> list[Outgoing]:
    """Take the due webhook deliveries (leased for LEASE) in one short transaction."""
    with Session(engine, expire_on_commit=False) as session:
        rows = take_due(session, engine, "webhook", now, batch, columns=_COLUMNS)
        ids = {row.webhook_id for row in rows if row.webhook_id}
        hooks = {h.id: h for h in session.exec(select(Webhook).where(col(Webhook.id).in_(ids))).all()}
        claimed, gone = [], []
        for row in rows:
            hook = hooks.get(row.webhook_id or "")
            if hook is None or not hook.active:
                gone.append(row.id)
            else:
                claimed.append(
                    Outgoing(
                        id=row.id,
                        webhook_id=hook.id,
                        url=hook.url,
                        secret=hook.secret,
                        kind=row.kind,
                        message=Message.from_json(row.message),
                        payload=dict(row.payload or {}),
                        link=row.link,
                        attempts=row.attempts,
                    )
                )
        settle(session, gone, DeliveryStatus.failed, "the webhook was removed or switched off")
        session.commit()
        return claimed


def body_of(outgoing: Outgoing, settings: Settings, now: datetime) -> bytes:
    """The JSON sent: the event, its sentence in Vietnamese and English, the page, and the time."""
    base = settings.public_url.rstrip("/")
    document = {
        "id": outgoing.id,
        **outgoing.payload,
        "text": {"vi": say(outgoing.message, "vi"), "en": say(outgoing.message, "en")},
        "link": base + outgoing.link if outgoing.link else "",
        "timestamp": int(now.timestamp()),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: it could lead the request somewhere the URL check never saw."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Pinned(urllib.request.Request):
    """A request whose connection goes to `address`, the one its destination check approved; the URL's
    host still names the server (the Host header, TLS's server name and the certificate checked)."""

    def __init__(self, url: str, address: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.address = address


def _connection(kind: type[http.client.HTTPConnection], request: urllib.request.Request) -> Any:
    """A factory of `kind` connections for urllib that connect to the request's approved address
    (through a proxy, the proxy's own address is used, and the proxy resolves the name)."""
    address = getattr(request, "address", None)

    def connect(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        connection = kind(host, **kwargs)
        if address is not None and not request.has_proxy():
            port = connection.port

            def to_address(_where: tuple[str, int], *args: Any) -> socket.socket:
                return socket.create_connection((address, port), *args)

            setattr(connection, "_create_connection", to_address)  # noqa: B010 - http.client's own hook
        return connection

    return connect


class _PinnedHTTP(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPConnection, req), req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_connection(http.client.HTTPSConnection, req), req, context=self.context)


@functools.cache
def opener() -> urllib.request.OpenerDirector:
    """The one opener of every webhook post, made at the first: its TLS context is shared, where
    urllib would make one per HTTPS connection (reading the system's certificates: some 50 ms of CPU
    a post). It connects each request to the address its destination check approved."""
    return urllib.request.build_opener(
        _NoRedirects, _PinnedHTTP(), _PinnedHTTPS(ssl.create_default_context())
    )


def post(outgoing: Outgoing, settings: Settings, now: datetime, timeout_s: float = TIMEOUT_S) -> str:
    """Send one delivery; "" on a 2xx answer, else what went wrong."""
    try:
        address = check_destination(outgoing.url, allow_private=settings.webhook_allow_private)
    except InvalidRequest as exc:
        return exc.detail
    body = body_of(outgoing, settings, now)
    # check_destination let only http(s) through.
    request = _Pinned(
        outgoing.url,
        address,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-FabLab-Event": outgoing.kind,
            "X-FabLab-Delivery": outgoing.id,
            "X-FabLab-Timestamp": str(int(now.timestamp())),
            "X-FabLab-Signature": sign(outgoing.secret, body),
        },
    )
    try:
        with opener().open(request, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return repr(exc)[:300]
    return "" if 200 <= status < 300 else f"HTTP {status}"


def deliver_due(
    engine: Engine, settings: Settings, now: datetime, *, timeout_s: float = TIMEOUT_S
) -> dict[str, int]:
    """Post what is due, many at once; returns how many were sent, put off and given up."""
    claimed = claim(engine, now)
    outcome = {"sent": 0, "retry": 0, "failed": 0}
    if not claimed:
        return outcome
    with ThreadPoolExecutor(max_workers=min(THREADS, len(claimed)), thread_name_prefix="webhook") as pool:
        futures = [(o, pool.submit(post, o, settings, now, timeout_s)) for o in claimed]
        for outgoing, future in futures:
            error = future.result()
            result = _record(engine, outgoing, error, now)
            outcome[result] += 1
            DELIVERIES.labels(channel="webhook", result=result).inc()
            if error:
                log.warning(
                    "webhook %s to %s not delivered (%s): %s", outgoing.id, outgoing.url, result, error
                )
    return outcome


def _record(engine: Engine, outgoing: Outgoing, error: str, now: datetime) -> str:
    with Session(engine) as session:
        row = session.get(Delivery, outgoing.id)
        hook = session.get(Webhook, outgoing.webhook_id)
        if row is None:
            return "failed"
        if not error:
            row.status, row.sent_at, row.last_error = DeliveryStatus.sent, now, ""
            if hook is not None and hook.failing_since is not None:
                hook.failing_since, hook.last_error = None, ""
                session.add(hook)
            result = "sent"
        else:
            row.last_error = error[:500]
            result = "failed" if outgoing.attempts >= MAX_ATTEMPTS else "retry"
            if result == "failed":
                row.status = DeliveryStatus.failed
            else:
                row.next_attempt_at = now + retry_after(outgoing.attempts)
            if hook is not None:
                hook.failing_since = hook.failing_since or now
                hook.last_error = error[:500]
                if hook.active and now - hook.failing_since >= GIVE_UP_AFTER:
                    _switch_off(session, hook, now)
                    row.status = DeliveryStatus.failed
                    result = "failed"
                session.add(hook)
        session.add(row)
        session.commit()
        return result


def _switch_off(session: Session, hook: Webhook, now: datetime) -> None:
    """A day of failures: the webhook stops, what waited for it is dropped, the admins are told."""
    hook.active = False
    webhooks.give_up(session, hook.id, "the webhook was switched off after a day of failures")
    said = message(
        "The webhook to {url} failed for a day ({error}) and was switched off; switch it on again "
        "from the admin pages once the other system answers",
        url=hook.url,
        error=hook.last_error[:200],
    )
    for admin_id in session.exec(
        select(Member.id).where(Member.role == Role.admin, col(Member.active))
    ).all():
        notify(session, admin_id, "webhook_disabled", said, now=now, link="/admin/webhooks")
    webhooks_changed()
    log.error("webhook %s to %s switched off after a day of failures", hook.id, hook.url)
