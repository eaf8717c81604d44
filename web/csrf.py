"""CSRF protection for cookie-authenticated requests: a per-session token on every state change.

The token lives in the signed session cookie. Pages put it in a hidden `csrf_token` field of every
form and in an `X-CSRF-Token` header on every htmx request (`hx-headers` on <body>). A request that
changes state (not GET, HEAD, OPTIONS) must carry it, unless it is authenticated otherwise:

- a valid bearer token (API clients): a browser never attaches one by itself to a cross-site
  request, so such a request cannot be forged from another site. Any other `Authorization` header
  (`Basic …`, a bearer that does not verify) skips nothing: the cookie's authority still needs the token;
- an anonymous JSON API call (no member in the session), e.g. `POST /api/v1/auth/token`: no cookie
  authority is at stake.

Pure ASGI, inside SessionMiddleware: it reads `scope["session"]`, buffers a small urlencoded body to
find the field and replays it to the app unchanged.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking.messages import message
from web.errors import error_language, render_error
from web.i18n import say

FIELD = "csrf_token"
HEADER = "x-csrf-token"
SESSION_KEY = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Our forms are a few fields; a larger urlencoded body is not a form of ours.
MAX_FORM_BYTES = 256 * 1024
REFUSAL = "this form has expired or did not come from FabLab Hub; reload the page and try again"


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def rotate(session: MutableMapping[str, Any]) -> str:
    """A new token (at sign-in and sign-out, so a token seen before does not outlive the session)."""
    session.pop(SESSION_KEY, None)
    return csrf_token(session)


class CSRFMiddleware:
    """Refuses (403) a state-changing, cookie-authenticated request without the session's token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        session: dict[str, Any] = scope.get("session") or {}
        if _valid_bearer(scope, headers) or (scope["path"].startswith("/api/") and not session.get("member")):
            await self.app(scope, receive, send)
            return
        expected = session.get(SESSION_KEY)
        supplied = headers.get(HEADER)
        if supplied is None and headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            body, too_large = await _read_body(receive)
            if not too_large:
                values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(FIELD)
                supplied = values[0] if values else None
            receive = _replay(body, receive)
        elif supplied is None and headers.get("content-type", "").startswith("multipart/form-data"):
            # A form with a file (a problem's photo) is not parsed here: its token rides in the
            # action's query string, same origin only, and is checked like any other.
            values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(FIELD)
            supplied = values[0] if values else None
        if not isinstance(expected, str) or not supplied or not hmac.compare_digest(expected, supplied):
            request = Request(scope)
            refusal = say(message(REFUSAL), error_language(request))
            response = render_error(request, 403, "NotPermitted", refusal)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _valid_bearer(scope: Scope, headers: Headers) -> bool:
    """Whether the request carries a bearer token this center signed (an HMAC check, no I/O)."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return False
    app = scope.get("app")
    codec = getattr(getattr(app, "state", None), "tokens", None)
    return codec is not None and codec.read(credentials.strip()) is not None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), size > MAX_FORM_BYTES


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
