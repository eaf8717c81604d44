"""Request bodies bounded in size and time, on a real server over real sockets.

Found by an outside test: an anonymous 150 MB JSON POST grew the server by 400 MB before its 401,
and 200 connections sending their bodies a byte at a time were held for 30 s and more.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.servers import served_address
from web.http_protocol import HeaderDeadlineProtocol


@pytest.fixture
def server(engine: Engine) -> Iterator[tuple[str, int]]:
    with served_address(engine, body_timeout_s=1.0) as address:
        yield address


def _answer(sock: socket.socket) -> tuple[int, str]:
    sock.settimeout(15)
    data = b""
    while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 4 + _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode("utf-8", "replace")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_body_declared_too_large_is_refused_unread(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 157286400\r\n\r\n{"
        )
        status, body = _answer(sock)
    assert status == 413
    assert "the request is too large: at most 1 MiB" in body


def test_a_chunked_body_that_grows_too_large_is_stopped(server: tuple[str, int]) -> None:
    chunk = b"x" * 65536
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/bookings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        try:
            while sent < 4 * 1024 * 1024:  # 4 MiB, where 1 MiB is the most
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what the guard is for
        status, body = _answer(sock)
    assert status == 413
    assert "at most 1 MiB" in body


def test_a_body_that_stops_arriving_is_given_up(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername=a"
        )
        # Without the guard no answer comes: the socket's own timeout (15 s) fails the test.
        status, body = _answer(sock)
    assert status == 408
    assert "stopped arriving" in body


def test_error_pages_carry_the_pages_security_headers(server: tuple[str, int]) -> None:
    """403 and 404 pages were served with no CSP and no frame-ancestors."""
    host, port = server
    for path in ("/no-such-page", "/manage/machines"):
        with socket.create_connection(server) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/html\r\n\r\n".encode())
            sock.settimeout(15)
            head = sock.recv(65536).split(b"\r\n\r\n")[0].decode().lower()
        status = int(head.split(" ")[1])
        assert status in (303, 404), head  # an anonymous manager page sends to sign-in
        if status == 404:
            assert "content-security-policy: default-src 'self'" in head
            assert "frame-ancestors 'none'" in head
            assert "x-content-type-options: nosniff" in head


class _QuickHeaderDeadline(HeaderDeadlineProtocol):
    header_timeout_s = 1.0


def test_headers_that_trickle_are_cut_off(engine: Engine) -> None:
    """A client sending a header line every 0.3 s held its connection for ever (slowloris)."""
    with served_address(engine, http=_QuickHeaderDeadline) as address:
        with socket.create_connection(address) as sock:  # an honest client is served
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _answer(sock)[0] == 200
        with socket.create_connection(address) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(0.3)
            closed = False
            for _ in range(40):  # 12 s of trickling at most; the deadline is 1 s
                try:
                    if sock.recv(1024) == b"":
                        closed = True
                        break
                except TimeoutError:
                    pass
                except ConnectionResetError:
                    closed = True
                    break
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
            assert closed
