"""More than one bridge process: events stored per second by 1 and by 2 `fablab bridge` consumers.

    .venv/bin/python tests/bench/bench_processes.py [--events 6000] [--machines 200]

On a fresh PostgreSQL database and a test-owned Mosquitto (MQTT 5), N `fablab bridge` processes share
the gateways' topics (`FABLAB_BRIDGE_SHARED_GROUP`); a publisher process sends `--events` machine
events (QoS 1, each stored as a row once) as fast as the broker takes them. The window runs from the
first publish to the moment the last event is in the database. Printed for N = 1 and N = 2: events
stored per second and the ratio. Booking writes for 1 vs 2 web processes are printed by
`tests/bench/bench_booking.py --workers 1` and `--workers 2`.
Not collected by pytest; prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_ingest import PUBLISHER  # noqa: E402
from tests.bench.center import OPEN_24H  # noqa: E402
from tests.brokers import Mosquitto, wait_until  # noqa: E402
from tests.databases import migrated_database, postgres_reachable  # noqa: E402
from tests.factories import make_machine, make_site, unique  # noqa: E402


def _stored(engine: sa.engine.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT count(*) FROM deviceevent")).scalar() or 0)


def _bridges(
    engine: sa.engine.Engine, broker: str, site: str, count: int, logs: Path
) -> list[subprocess.Popen[bytes]]:
    group = unique("bench")
    processes = []
    for i in range(count):
        env = {
            **os.environ,
            "FABLAB_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "FABLAB_MQTT_URL": broker,
            "FABLAB_ENVIRONMENT": "test",
            "FABLAB_SECRET_KEY": "bench-secret-key-of-enough-length-0123456789",
            "FABLAB_LOG_LEVEL": "WARNING",
            "FABLAB_BRIDGE_CLIENT_ID": f"{group}-{i}",
            "FABLAB_BRIDGE_SHARED_GROUP": group,
            "FABLAB_BRIDGE_SITES": site,
            "FABLAB_BRIDGE_GATEWAY_RATE": "0",
            "FABLAB_SCHEDULER_ENABLED": "false",
        }
        with (logs / f"bridge-{i}.log").open("ab") as log:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "web.cli", "bridge"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return processes


def measure(consumers: int, args: argparse.Namespace, directory: Path) -> float:
    broker = Mosquitto(directory / f"mosquitto-{consumers}")
    broker.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with migrated_database("postgresql", directory) as engine:
            with Session(engine) as session:
                site = make_site(session, id=unique("bench"), opening_hours=OPEN_24H, holiday_country="")
                gateway = unique("gw")
                machines = [
                    make_machine(session, site, name=f"M{i}", gateway=gateway).id
                    for i in range(args.machines)
                ]
                session.commit()
                site_id = site.id
            processes = _bridges(engine, broker.url, site_id, consumers, directory)
            time.sleep(3.0)  # the consumers connect and subscribe
            tag = unique("p")
            publisher = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    PUBLISHER,
                    broker.url,
                    site_id,
                    gateway,
                    ",".join(machines),
                    str(args.events),
                    "0",
                    "1.0",
                    tag,
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
            began = time.perf_counter()
            wait_until(lambda: _stored(engine) >= args.events, 600, "every event stored")
            elapsed = time.perf_counter() - began
            publisher.wait(60)
            rate: float = args.events / elapsed
            print(
                f"  {consumers} bridge process(es): {args.events:,} events stored"
                f" in {elapsed:.1f} s = {rate:,.0f}/s"
            )
            return rate
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=6_000)
    parser.add_argument("--machines", type=int, default=200)
    args = parser.parse_args()
    if (reason := postgres_reachable()) is not None:
        sys.exit(f"bench_processes needs PostgreSQL: {reason}")
    print(
        f"bench_processes: {args.events:,} events over {args.machines} machines,"
        " PostgreSQL, MQTT 5 shared subscription"
    )
    with tempfile.TemporaryDirectory() as tmp:
        one = measure(1, args, Path(tmp))
        two = measure(2, args, Path(tmp))
    print(f"  2 vs 1 bridge process(es): {two / one:.2f}x")


if __name__ == "__main__":
    main()
