"""Request bodies: bounded in size and in time, before any route reads them.

An anonymous 150 MB JSON POST grew the server by 400 MB before its 401, and 200 connections that
sent their bodies a byte at a time held the server for 30 s and more. This outermost ASGI layer
refuses a body that says it is too large (413 from its Content-Length, nothing read), stops one that
grows too large as it streams (chunked: the bytes are counted), and gives up on one that stops
arriving (408). Uploads (a problem's photo) have a larger limit than every other body.

Headers that trickle are uvicorn's to bound (`h11_max_incomplete_event_size`, `timeout_keep_alive`,
set in web/server.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking.messages import Message as Sentence
from web.errors import BodyTooLarge, BodyTooSlow, body_refusal, error_language, render_error
from web.i18n import say


class BodyGuard:
    """Refuses a body over `max_bytes` (`upload_bytes` on upload paths) with 413, and one whose next
    chunk takes longer than `timeout_s` to arrive with 408."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_bytes: int,
        upload_paths: Sequence[str],
        timeout_s: float,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes
        self.upload_paths = tuple(upload_paths)
        self.timeout_s = timeout_s

    def _limit(self, path: str) -> int:
        uploads = any(path.endswith(suffix) for suffix in self.upload_paths)
        return self.upload_bytes if uploads else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, 413, _too_large(limit))
            return
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            try:
                # A timer on this task, not wait_for's new task per message (20 µs of CPU more).
                async with asyncio.timeout(self.timeout_s):
                    incoming = await receive()
            except TimeoutError as exc:
                raise BodyTooSlow from exc
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return incoming

        async def tracking_send(outgoing: Message) -> None:
            nonlocal started
            if outgoing["type"] == "http.response.start":
                started = True
            await send(outgoing)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except (BodyTooLarge, BodyTooSlow) as exc:
            refused = body_refusal(exc)
            if refused is not None and not started:
                await _refuse(scope, receive, send, *refused)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> Sentence:
    refused = body_refusal(BodyTooLarge(limit))
    assert refused is not None
    return refused[1]


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, said: Sentence) -> None:
    request = Request(scope)
    detail = say(said, error_language(request))
    response = render_error(request, status, "InvalidRequest", detail, headers={"Connection": "close"})
    await response(scope, receive, send)
