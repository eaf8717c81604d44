"""The HTTP protocol the server runs: uvicorn's httptools protocol with a deadline on request headers,
and a response's head written with its body.

uvicorn starts no timer while a request's headers trickle in (its keep-alive timeout runs only
between requests, and any byte cancels it), so a client sending a header line every few seconds
holds a connection for ever; a few hundred of them hold the server. Here every request's headers
must be complete within HEADER_TIMEOUT_S of their first byte (or of the connection opening), or the
connection is closed. Bodies are bounded by web/guard.py.

uvicorn writes a response's status line and headers to the socket, then its body: two system calls
and two packets (the socket sends at once), so the client wakes twice, for each answer. Profiled
under load, those writes were a tenth of a worker's time holding the interpreter. Here the head
waits for the body's first bytes and goes out with them (`HeadWithBody`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """Closes a connection whose request headers are not complete within `header_timeout_s`."""

    header_timeout_s = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadWithBody(transport, self.loop))  # type: ignore[arg-type]
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class HeadWithBody:
    """A connection's transport that holds a response's head (the one write that starts with the
    status line) and writes it with the next write, the body's first bytes: one write for both. A
    head no write follows (a HEAD request's, an interim 100 Continue) goes out at the end of the
    event loop's turn, or before the connection closes. Everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + bytes(data))
        elif bytes(data[:5]) == b"HTTP/":
            self._head = bytes(data)
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._head = None
        self._transport.abort()

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
