"""Where a booking's CPU goes: each layer timed in one process, one request at a time.

    .venv/bin/python tests/bench/bench_cpu.py [--backend sqlite|postgresql|both] [--requests 1000]

Throughput on a shared 2-core machine moves by a third from one minute to the next; CPU time spent by
one thread doing one thing at a time moves far less. So, in this process (no sockets, no other
threads at work), on a fresh migrated database:
- the web stack alone: `GET /healthz` through the whole ASGI app (middlewares, routing, threadpool);
- a booking through the whole ASGI app (`POST /api/v1/bookings`, a bearer token, JSON both ways);
- the same booking's domain and database work alone (`book_idempotent` and its commit);
- sixteen bookings in one transaction, each in its own savepoint (what a group commit would save);
- the e-mail each booking queues, claimed, composed, sent over SMTP and recorded by the outbox
  (`deliver_due`; the SMTP server is another process that only counts, so its CPU is not ours).
Printed: CPU milliseconds of each per request. Not collected by pytest; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from booking import idempotency  # noqa: E402
from booking.schemas import BookingCreate  # noqa: E402
from tests.bench.center import booking_center  # noqa: E402
from tests.databases import migrated_database, postgres_reachable  # noqa: E402
from tests.servers import free_port  # noqa: E402
from web import outbox  # noqa: E402
from web.app import create_app  # noqa: E402
from web.deps import _load_actor  # noqa: E402
from web.settings import Settings  # noqa: E402

ROOMS = 128


def _cpu_ms(work: Callable[[int], Any], count: int, first: int = 0, warm: int = 20) -> float:
    """CPU milliseconds per call of `work(i)`, after `warm` calls not counted."""
    for i in range(first, first + warm):
        work(i)
    started = time.process_time()
    for i in range(first + warm, first + warm + count):
        work(i)
    return (time.process_time() - started) * 1000 / count


def _cpu_ms_async(work: Callable[[int], Awaitable[Any]], count: int, first: int = 0, warm: int = 20) -> float:
    """`_cpu_ms` of an ASGI call: every call in one task of one event loop, as a server runs them (the
    thread pool's workers belong to that task and stay between requests; a new task per call would
    start a new worker thread each time)."""

    async def calls() -> float:
        for i in range(first, first + warm):
            await work(i)
        started = time.process_time()
        for i in range(first + warm, first + warm + count):
            await work(i)
        return (time.process_time() - started) * 1000 / count

    return asyncio.run(calls())


async def _asgi_call(app: Any, method: str, path: str, token: str, body: bytes = b"") -> int:
    headers = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", b"Bearer " + token.encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # pragma: no cover - the app never asks twice
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


# An SMTP server in a process of its own that takes every message and only counts it.
SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Count:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
"""


@contextmanager
def _smtp_sink() -> Iterator[int]:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        assert sink.stdout.readline().strip() == "ready"
        yield port
    finally:
        sink.kill()
        sink.wait(10)


def run(backend: str, requests: int) -> None:
    print(f"\n== {backend} ==")
    with (
        tempfile.TemporaryDirectory() as tmp,
        migrated_database(backend, Path(tmp)) as engine,
        _smtp_sink() as smtp_port,
    ):
        with Session(engine, expire_on_commit=False) as session:
            _site, rooms, members = booking_center(session, ROOMS, 16)
            session.commit()
            actors = [actor for m in members if (actor := _load_actor(session, m.id, m.token_version))]
        settings = Settings(
            environment="test",
            secret_key="bench-" + "x" * 40,
            database_url=engine.url.render_as_string(hide_password=False),
            scheduler_enabled=False,
            bridge_enabled=False,
            log_level="warning",
        )
        app = create_app(settings, engine=engine)
        tokens = [app.state.tokens.issue(m.id, m.token_version) for m in members]
        base = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)

        def slot(i: int) -> tuple[str, datetime]:
            start = base + timedelta(hours=i // ROOMS)
            return rooms[i % ROOMS], start

        async def healthz(i: int) -> None:
            assert await _asgi_call(app, "GET", "/healthz", tokens[0]) == 200

        async def over_http(i: int) -> None:
            room, start = slot(i)
            body = json.dumps(
                {
                    "resource_id": room,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                }
            ).encode()
            status = await _asgi_call(app, "POST", "/api/v1/bookings", tokens[i % 16], body)
            assert status == 201, status

        def domain(i: int) -> None:
            room, start = slot(i)
            data = BookingCreate(resource_id=room, start=start, end=start + timedelta(hours=1))
            with Session(engine, expire_on_commit=False) as session:
                idempotency.book_idempotent(session, actors[i % 16], data, datetime.now(UTC), None)
                session.commit()

        group = 16

        def sixteen(i: int) -> None:
            with Session(engine, expire_on_commit=False) as session:
                for j in range(i * group, (i + 1) * group):
                    room, start = slot(j)
                    data = BookingCreate(resource_id=room, start=start, end=start + timedelta(hours=1))
                    with session.begin_nested():
                        idempotency.book_idempotent(session, actors[j % 16], data, datetime.now(UTC), None)
                session.commit()

        sender = outbox.SmtpSender(f"smtp://127.0.0.1:{smtp_port}")
        later = datetime.now(UTC) + timedelta(days=1)

        def emails() -> tuple[int, float]:
            sent, started = 0, time.process_time()
            while batch := sum(outbox.deliver_due(engine, sender, settings, later).values()):
                sent += batch
            return sent, (time.process_time() - started) * 1000

        emails()  # the bookings made while setting up
        health = _cpu_ms_async(healthz, requests)
        # Warmed over every room: each one's rules are then in the catalogue cache, as in a server.
        http = _cpu_ms_async(over_http, requests, first=0, warm=ROOMS)
        alone = _cpu_ms(domain, requests, first=10 * requests, warm=ROOMS)
        grouped = _cpu_ms(sixteen, max(requests // group, 4), first=30 * requests // group) / group
        sent, spent = emails()
        print(f"    web stack alone (GET /healthz through the app):        {health:6.2f} ms per request")
        print(f"    a booking through the app (POST /api/v1/bookings):     {http:6.2f} ms per booking")
        print(f"    its domain and database work alone (one transaction):  {alone:6.2f} ms per booking")
        print(f"    sixteen bookings per transaction, a savepoint each:    {grouped:6.2f} ms per booking")
        per_email = spent / max(sent, 1)
        print(f"    its e-mail, claimed, composed, sent, recorded (outbox): {per_email:6.2f} ms per e-mail")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("FABLAB_LOG_LEVEL", "warning")
    for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
        if backend == "postgresql":
            problem = postgres_reachable()
            if problem is not None:
                print(f"\n== postgresql skipped: {problem} ==")
                continue
        run(backend, args.requests)


if __name__ == "__main__":
    main()
