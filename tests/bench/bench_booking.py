"""Booking benchmark: API bookings/s beside raw SQL inserts/s, and availability latency at scale.

    .venv/bin/python tests/bench/bench_booking.py [--backend sqlite|postgresql|both]

(a) A real `fablab serve` process; 16+ concurrent keep-alive HTTP clients book free slots for a few
    seconds, in `--rounds` rounds (the median is reported: single rounds on a shared machine move by a
    third). Then, on the same database in the same run, plain INSERT+COMMIT of booking rows (no
    checks) for as long. Printed: both rates and their ratio. Each booking's e-mail is composed and
    sent by the server over SMTP, as in production, to a local sink that only counts it; a round's
    server CPU is read once all its e-mails have arrived, so CPU per booking includes its e-mail.
(b) 1,000 resources holding 1,000,000 bookings; one week's availability of a random resource, asked
    over HTTP one request at a time: p50 and p95 latency; and the member who holds them all listing
    one hour of their bookings (a year of history behind it).
Not collected by pytest; prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.center import booking_center  # noqa: E402
from tests.databases import migrated_database, postgres_reachable  # noqa: E402
from tests.factories import PASSWORD  # noqa: E402
from tests.servers import free_port  # noqa: E402

# --- a small HTTP/1.1 keep-alive client: the load generator must cost less CPU than the server --


class RawClient:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()


def _token(base: str, email: str) -> str:
    import httpx

    response = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": email, "password": PASSWORD}, timeout=30
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


class _MailCount:
    """An SMTP server's handler that takes each message and only counts it: the server composes and
    sends each booking's e-mail as in production, and the benchmark spends little CPU receiving it."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, _server: object, _session: object, _envelope: object) -> str:  # noqa: N802
        self.received += 1
        return "250 OK"


def _drain(mail: _MailCount, sent: int, timeout_s: float = 120.0) -> float:
    """Wait until the SMTP sink has received `sent` e-mails (or `timeout_s` passed); seconds waited."""
    started = time.monotonic()
    while mail.received < sent and time.monotonic() - started < timeout_s:
        time.sleep(0.05)
    if mail.received < sent:
        print(f"    only {mail.received:,} of {sent:,} e-mails arrived within {timeout_s:.0f} s")
    return time.monotonic() - started


def _start_server(url: str, port: int, workers: int, smtp_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FABLAB_DATABASE_URL": url,
        "FABLAB_SECRET_KEY": "bench-" + "x" * 40,
        "FABLAB_LOG_LEVEL": "warning",
        "FABLAB_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    # The server's log goes to a file: an unread pipe fills and then blocks the server's writes.
    log = tempfile.NamedTemporaryFile(prefix="fablab-bench-server-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    SERVER_LOGS[process.pid] = Path(log.name)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start: " + Path(log.name).read_text(errors="replace")[-3000:])


SERVER_LOGS: dict[int, Path] = {}


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        log = SERVER_LOGS.get(server.pid)
        print(f"    the server took over 60 s to stop; its log: {log}")
        server.kill()
        server.wait()


# --- (a) booking throughput ----------------------------------------------------------------------


async def _book_load(
    port: int, tokens: list[str], resources: list[str], seconds: float, first_day: int
) -> tuple[int, int, float]:
    clients = [RawClient("127.0.0.1", port, token) for token in tokens]
    for client in clients:
        await client.connect()
    base = (datetime.now(UTC) + timedelta(days=first_day)).replace(minute=0, second=0, microsecond=0)
    ok = failed = 0
    stop = time.perf_counter() + seconds

    async def run(index: int, client: RawClient) -> None:
        nonlocal ok, failed
        mine = resources[index :: len(clients)]
        slot = 0
        while time.perf_counter() < stop:
            resource = mine[slot % len(mine)]
            start = base + timedelta(hours=slot // len(mine))
            body = json.dumps(
                {
                    "resource_id": resource,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                }
            ).encode()
            status, payload = await client.request("POST", "/api/v1/bookings", body)
            if status == 201:
                ok += 1
            else:
                failed += 1
                if failed <= 3:
                    print(f"    unexpected {status}: {payload[:200]!r}")
            slot += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(i, c) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.close()
    return ok, failed, elapsed


def _raw_insert_rate(
    engine: sa.Engine,
    backend: str,
    resource_id: str,
    member_id: str,
    site_id: str,
    seconds: float,
    threads: int,
) -> float:
    """INSERT + COMMIT of booking rows, no checks, through the same driver, `threads` at a time."""
    count = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    base = datetime.now(UTC) + timedelta(days=400)
    statement = sa.text(
        "INSERT INTO booking (id, resource_id, site_id, member_id, start_at, end_at, block_end, seats, "
        "exclusive, status, code, note, created_at, updated_at) "
        "VALUES (:id, :r, :s, :m, :a, :b, :b, 1, :x, 'confirmed', :code, '', :now, :now)"
    )

    def work(offset: int) -> None:
        nonlocal count
        done = 0
        with engine.connect() as connection:
            while time.perf_counter() < stop:
                start = base + timedelta(minutes=offset * 10_000_000 + done)
                values = {
                    "id": uuid.uuid4().hex[:26],
                    "r": resource_id,
                    "s": site_id,
                    "m": member_id,
                    "a": _bind(start, backend),
                    "b": _bind(start + timedelta(minutes=1), backend),
                    "now": _bind(datetime.now(UTC), backend),
                    "code": uuid.uuid4().hex[:12],
                    "x": False,
                }
                connection.execute(statement, values)
                connection.commit()
                done += 1
        with lock:
            count += done

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return count / (time.perf_counter() - started)


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of the server process and its worker processes (Linux /proc)."""
    stats: dict[int, tuple[int, float, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, …, utime (12th), stime (13th), in clock ticks.
        stats[int(entry.name)] = (int(fields[1]), int(fields[11]) / tick, int(fields[12]) / tick)
    family, user, system = {pid}, 0.0, 0.0
    grew = True
    while grew:
        grew = False
        for child, (parent, _u, _s) in stats.items():
            if parent in family and child not in family:
                family.add(child)
                grew = True
    for member in family:
        if member in stats:
            user += stats[member][1]
            system += stats[member][2]
    return user, system


def _machine_busy() -> tuple[int, int]:
    """The whole machine's busy and total CPU time so far, in clock ticks (Linux /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and waiting for I/O
    return sum(fields) - idle, sum(fields)


def _plain_sqlite_rate(path: Path, seconds: float) -> float:
    """INSERT + COMMIT with the sqlite3 module alone, in the journal mode the center uses."""
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE booking (id TEXT PRIMARY KEY, resource_id TEXT, start_at TEXT, end_at TEXT, code TEXT)"
    )
    done = 0
    started = time.perf_counter()
    stop = started + seconds
    while time.perf_counter() < stop:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO booking VALUES (?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, "r", "2027-01-01 10:00:00", "2027-01-01 11:00:00", uuid.uuid4().hex[:8]),
        )
        connection.execute("COMMIT")
        done += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return done / elapsed


def _bind(value: datetime, backend: str) -> datetime | str:
    if backend == "sqlite":
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


# --- (b) availability at scale ---------------------------------------------------------------------


def _fill(
    engine: sa.Engine, backend: str, site_id: str, member_id: str, resources: int, per_resource: int
) -> float:
    """Insert resources × per_resource non-overlapping bookings in bulk; returns seconds taken."""
    started = time.perf_counter()
    ids = [f"r{i:04d}" for i in range(resources)]
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO resource (id, site_id, kind, name, name_en, description, capacity, "
                "slot_minutes, min_minutes, max_minutes, lead_minutes, max_days_ahead, buffer_minutes, "
                "requires_approval, allow_walk_in, active) "
                "VALUES (:id, :s, 'room', :id, '', '', 1, 30, 30, 240, 0, 730, 0, false, true, true)"
            ),
            [{"id": rid, "s": site_id} for rid in ids],
        )
    origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=365)
    rows_per_batch = 50_000
    batch: list[dict[str, object]] = []
    now_bind = _bind(datetime.now(UTC), backend)

    def flush() -> None:
        if not batch:
            return
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO booking (id, resource_id, site_id, member_id, start_at, end_at, block_end, "
                    "seats, exclusive, status, code, note, created_at, updated_at) "
                    "VALUES (:id, :r, :s, :m, :a, :b, :b, 1, true, :st, :code, '', :now, :now)"
                ),
                batch,
            )
        batch.clear()

    n = 0
    for rid in ids:
        for k in range(per_resource):
            # About 1.4 bookings a day per resource over two years, past and future.
            start = origin + timedelta(hours=17 * k)
            batch.append(
                {
                    "id": f"{n:026d}",
                    "r": rid,
                    "s": site_id,
                    "m": member_id,
                    "a": _bind(start, backend),
                    "b": _bind(start + timedelta(hours=2), backend),
                    "st": "confirmed" if start > datetime.now(UTC) else "completed",
                    "code": f"{n:012d}",
                    "now": now_bind,
                }
            )
            n += 1
            if len(batch) >= rows_per_batch:
                flush()
    flush()
    if backend == "postgresql":
        with engine.connect() as connection:
            connection.execute(sa.text("ANALYZE booking"))
            connection.commit()
    return time.perf_counter() - started


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def _availability_paths(resources: int, samples: int) -> list[str]:
    """One week's availability of a random resource, at random days of the filled year ahead."""
    rng = random.Random(7)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    paths = []
    for _ in range(samples):
        start = today + timedelta(days=rng.randrange(0, 300))
        paths.append(
            f"/api/v1/resources/r{rng.randrange(resources):04d}/availability"
            f"?start={_iso(start)}&end={_iso(start + timedelta(days=7))}"
        )
    return paths


def _listing_paths(samples: int) -> list[str]:
    """A member's bookings over one hour (GET /api/v1/bookings?start&end), at random hours of the filled
    year ahead: the member holds every one of the filled bookings, a year of them behind."""
    rng = random.Random(11)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    starts = [now + timedelta(hours=rng.randrange(0, 300 * 24)) for _ in range(samples)]
    return [f"/api/v1/bookings?mine=true&start={_iso(s)}&end={_iso(s + timedelta(hours=1))}" for s in starts]


async def _latencies(port: int, token: str, paths: list[str]) -> list[float]:
    """Each GET asked over one keep-alive connection, one at a time; milliseconds each."""
    client = RawClient("127.0.0.1", port, token)
    await client.connect()
    latencies = []
    for path in paths:
        began = time.perf_counter()
        status, body = await client.request("GET", path)
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}: {body[:200]!r}")
    await client.close()
    return latencies


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(backend: str, args: argparse.Namespace) -> None:
    print(f"\n== {backend} ==")
    with tempfile.TemporaryDirectory() as tmp, migrated_database(backend, Path(tmp), pool_size=40) as engine:
        url = engine.url.render_as_string(hide_password=False)
        with Session(engine) as session:
            site, rooms, members = booking_center(session, args.clients * 8, args.clients)
            emails = [m.email for m in members]
            member_id, site_id = members[0].id, site.id
            session.commit()
        port = free_port()
        from aiosmtpd.controller import Controller

        mail = _MailCount()
        smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
        smtp.start()
        server = _start_server(url, port, args.workers, smtp.port)
        try:
            base = f"http://127.0.0.1:{port}"
            tokens = [_token(base, email) for email in emails]
            booked, _failed, _elapsed = asyncio.run(_book_load(port, tokens, rooms, 1.0, 1))  # warm up
            _drain(mail, booked)
            rounds = []
            for number in range(args.rounds):
                cpu_before = _cpu_seconds(server.pid)
                machine_before, client_before = _machine_busy(), time.thread_time()
                ok, failed, elapsed = asyncio.run(
                    _book_load(port, tokens, rooms, args.seconds, 60 + 60 * number)
                )
                cpu_loaded = _cpu_seconds(server.pid)
                client_ms = (time.thread_time() - client_before) * 1000 / max(ok, 1)
                machine = _machine_busy()
                machine_busy = (machine[0] - machine_before[0]) / max(machine[1] - machine_before[1], 1)
                # Each booking's e-mail is part of its cost: the round's CPU is read once the server
                # has sent them all (its outbox drains after the load, a batch at a time).
                booked += ok
                waited = _drain(mail, booked)
                cpu_after = _cpu_seconds(server.pid)
                user_s, system_s = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
                during = cpu_loaded[0] + cpu_loaded[1] - cpu_before[0] - cpu_before[1]
                rounds.append((ok / elapsed, (user_s + system_s) * 1000 / max(ok, 1), during / elapsed))
                print(
                    f"    round {number + 1}: {ok} bookings in {elapsed:.1f} s = {ok / elapsed:,.0f}/s "
                    f"({failed} not 201), server CPU {rounds[-1][1]:.2f} ms per booking with its e-mail "
                    f"sent ({user_s * 1000 / max(ok, 1):.2f} user, {system_s * 1000 / max(ok, 1):.2f} "
                    f"system; {during * 1000 / max(ok, 1):.2f} during the load, the e-mails' last "
                    f"{waited:.0f} s after it), cores busy {rounds[-1][2]:.2f}; load generator "
                    f"{client_ms:.2f} ms CPU per booking; machine busy {machine_busy:.0%}"
                )
            # The median round: a shared machine's noise moves single rounds by a third.
            api_rate, per_booking, busy = sorted(rounds)[len(rounds) // 2]
            print(
                f"(a) API ({args.workers} worker process(es), {args.clients} clients, median of "
                f"{args.rounds} rounds): {api_rate:,.0f} bookings/s"
                + ("   [goal >= 1,000/s]" if backend == "sqlite" else "")
            )
            print(
                f"    server CPU {per_booking:.2f} ms per booking, its e-mail sent [goal <= 2 ms]; "
                f"cores busy during the load {busy:.2f} of {os.cpu_count()}"
            )
            raw_threads = args.clients if backend == "postgresql" else 1
            raw_rate = _raw_insert_rate(
                engine, backend, rooms[0], member_id, site_id, args.seconds, raw_threads
            )
            print(
                f"    raw INSERT+COMMIT through SQLAlchemy ({raw_threads} connection(s)): "
                f"{raw_rate:,.0f} rows/s"
            )
            print(f"    ratio API / raw = {api_rate / raw_rate:.2f}   [goal >= 0.25]")
            if backend == "sqlite":
                plain = _plain_sqlite_rate(Path(tmp) / "plain.db", args.seconds)
                print(
                    f"    plain sqlite3, WAL, synchronous=NORMAL, same disk: {plain:,.0f} rows/s "
                    f"(API / plain = {api_rate / plain:.3f})"
                )
            if args.bookings:
                per = args.bookings // args.resources
                took = _fill(engine, backend, site_id, member_id, args.resources, per)
                print(f"(b) filled {args.resources} resources x {per} bookings in {took:.0f} s")
                latencies = asyncio.run(
                    _latencies(port, tokens[0], _availability_paths(args.resources, args.samples))
                )
                print(
                    f"    week availability over HTTP, {args.samples} requests: "
                    f"p50 {_percentile(latencies, 50):.1f} ms, p95 {_percentile(latencies, 95):.1f} ms, "
                    f"max {max(latencies):.1f} ms"
                )
                listed = asyncio.run(_latencies(port, tokens[0], _listing_paths(args.samples // 3)))
                print(
                    f"    the member's bookings in one hour over HTTP (of {args.bookings:,} theirs), "
                    f"{len(listed)} requests: p50 {_percentile(listed, 50):.1f} ms, "
                    f"p95 {_percentile(listed, 95):.1f} ms"
                )
        finally:
            _stop_server(server)
            smtp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3, help="booking rounds; the median is reported")
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=1_000_000, help="0 skips part (b)")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgresql" and (problem := postgres_reachable()):
            print(f"\n== postgresql skipped: {problem} ==")
            continue
        run(backend, args)


if __name__ == "__main__":
    main()
