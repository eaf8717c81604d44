"""The server's HTTP protocol writes a response's head with its body (web/http_protocol.py).

A real server on a real socket; what the protocol hands to the connection's real transport is
recorded on its way there.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from sqlalchemy.engine import Engine

from tests.servers import served_address
from web.http_protocol import HeaderDeadlineProtocol


class _Recording:
    """The real transport, each write it is given kept in `written`."""

    def __init__(self, transport: asyncio.Transport, written: list[bytes]) -> None:
        self._transport = transport
        self._written = written

    def write(self, data: bytes) -> None:
        self._written.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Recorded(HeaderDeadlineProtocol):
    written: ClassVar[list[bytes]] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recording(transport, self.written))  # type: ignore[arg-type]


@pytest.fixture
def server(engine: Engine) -> Iterator[tuple[str, int]]:
    _Recorded.written = []
    with served_address(engine, http=_Recorded) as address:
        yield address


def _read_until(sock: socket.socket, ending: bytes) -> bytes:
    sock.settimeout(15)
    data = b""
    while not data.endswith(ending):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_each_answer_goes_out_in_one_write(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        for _ in range(2):  # two requests on one kept-alive connection
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = _read_until(sock, b"}")
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert answer.endswith(b'\r\n\r\n{"status":"ok"}')

    assert len(_Recorded.written) == 2
    for written in _Recorded.written:
        assert written.startswith(b"HTTP/1.1 200 OK\r\n")
        assert written.endswith(b'{"status":"ok"}')


def test_a_head_no_body_follows_still_goes_out(server: tuple[str, int]) -> None:
    """An answer to HEAD has no body, so no write follows its head: the head goes out anyway, and
    the connection serves the next request."""
    with socket.create_connection(server) as sock:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = _read_until(sock, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 405 "), head
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_until(sock, b"}").startswith(b"HTTP/1.1 200 OK\r\n")


def test_an_interim_100_continue_goes_out_before_the_body_is_sent(server: tuple[str, int]) -> None:
    """A client that asks whether to send its body waits for "100 Continue", written alone."""
    body = b"username=nobody%40example.org&password=wrong"
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        assert _read_until(sock, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = _read_until(sock, b"}")
    status = int(answer.split(b" ")[1])
    assert 400 <= status < 500, answer
