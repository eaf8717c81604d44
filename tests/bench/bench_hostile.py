"""Tap latency at rest and under the hostile mix of issue 8, in the same run.

    .venv/bin/python tests/bench/bench_hostile.py [--backend sqlite|postgresql|both] [--taps 200]

One real uvicorn server with the center's bridge on a test-owned Mosquitto. (a) At rest: card taps one
after another, each timed from its publish to the unlock command's arrival (through the broker and
back). (b) Under the hostile mix, in a process of its own: 40 parallel sign-ins, 4 RRULE bombs and a
3,000-message gateway flood, repeated until the taps are done. Printed: p50, p99 and max of both, the
mix's rounds, and the HTTP statuses it saw. Not collected by pytest; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from booking.catalogue import repository as catalogue_repo  # noqa: E402
from booking.models import ResourceKind  # noqa: E402
from firmware_bridge.client import MqttClient, Received  # noqa: E402
from firmware_bridge.contract import topics  # noqa: E402
from firmware_bridge.contract.messages import format_ts  # noqa: E402
from tests.bridge.conftest import build_lab  # noqa: E402
from tests.brokers import Mosquitto, publisher, unique  # noqa: E402
from tests.clock import FakeClock  # noqa: E402
from tests.concurrency.test_hostile import BOMB, LOAD  # noqa: E402
from tests.conftest import NOW  # noqa: E402
from tests.databases import migrated_database, postgres_reachable  # noqa: E402
from tests.factories import PASSWORD, make_machine, make_member, make_resource  # noqa: E402
from tests.servers import running_server  # noqa: E402
from web.app import create_app  # noqa: E402
from web.settings import Settings  # noqa: E402


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name}: {len(ms)} taps, p50 {_pct(ms, 50):.1f} ms, p99 {_pct(ms, 99):.1f} ms, max {max(ms):.1f} ms"
    )


def run(backend: str, args: argparse.Namespace) -> None:
    print(f"\n== {backend} ==")
    with tempfile.TemporaryDirectory() as tmp, migrated_database(backend, Path(tmp), pool_size=40) as engine:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            _measure(engine, broker.url, args)
        finally:
            broker.stop()


def _measure(engine: object, broker_url: str, args: argparse.Namespace) -> None:
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    clock = FakeClock(NOW)
    site, gateway, laser, _member, _name, card = build_lab(engine, broker_url, clock)
    with Session(engine, expire_on_commit=False) as session:
        site_row = catalogue_repo.get_site(session, site)
        assert site_row is not None
        other = make_machine(session, site_row, name="Laser 2", gateway=gateway).id
        room = make_resource(session, site_row, name="Room", kind=ResourceKind.room).id
        emails = [make_member(session, name=f"Guest {i}").email for i in range(4)]
        bomber = make_member(session, name="Bomber")
        session.commit()
        bomber_id, bomber_version = bomber.id, bomber.token_version
    settings = Settings(
        environment="test",
        secret_key="x" * 40,
        database_url="sqlite://",
        mqtt_url=broker_url,
        bridge_sites=site,
        bridge_client_id=unique("bench-center"),
        scheduler_enabled=False,
    )
    app = create_app(settings, engine=engine, clock=clock)
    bomber_token = app.state.tokens.issue(bomber_id, bomber_version)
    answered: dict[str, float] = {}
    done = threading.Condition()

    def on_command(event: object) -> None:
        if isinstance(event, Received):
            request_id = json.loads(event.payload).get("request_id")
            if request_id:
                with done:
                    answered[request_id] = time.perf_counter()
                    done.notify_all()

    watcher = MqttClient(
        broker_url,
        unique("bench-watch"),
        subscriptions=[(topics.command(site, gateway, laser), 1)],
        clean_start=True,
        sink=on_command,
    )
    tapper = publisher(broker_url)
    watcher.start()
    assert watcher.wait_subscribed(20)
    seq = iter(range(1, 10**9))

    def tap() -> float:
        request_id = unique("r")
        body = {
            "event_id": unique("ev"),
            "boot_id": "bench",
            "seq": next(seq),
            "ts": format_ts(clock()),
            "type": "access.requested",
            "data": {"request_id": request_id, "card_uid": card},
        }
        sent = time.perf_counter()
        tapper.publish(topics.event(site, gateway, laser), json.dumps(body).encode(), qos=1)
        with done:
            done.wait_for(lambda: request_id in answered, timeout=30)
        return answered[request_id] - sent

    try:
        with running_server(app) as base:
            bridge = app.state.machines.bridge
            assert bridge is not None
            assert bridge.wait_connected(20)
            for _ in range(5):
                tap()  # warm the caches and the connections
            at_rest = []
            for _ in range(args.taps):
                at_rest.append(tap())
                time.sleep(0.02)
            start = NOW + timedelta(days=1)
            load_args = {
                "base": base,
                "broker": broker_url,
                "client_id": unique("bench-flood"),
                "site": site,
                "gateway": gateway,
                "machine": other,
                "ts": format_ts(clock()),
                "flood": 3000,
                "logins": 40,
                "bombs": 4,
                "emails": emails,
                "password": PASSWORD,
                "bomber": {"Authorization": f"Bearer {bomber_token}"},
                "bomb": {
                    "resource_id": room,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                    "rrule": BOMB,
                },
            }
            under_load: list[float] = []
            statuses: Counter[str] = Counter()
            rounds = 0
            while len(under_load) < args.taps:
                load = subprocess.Popen(
                    [sys.executable, "-c", LOAD, json.dumps({**load_args, "client_id": unique("flood")})],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert load.stdin is not None
                assert load.stdout is not None
                assert load.stdout.readline().strip() == "ready"
                load.stdin.write("go\n")
                load.stdin.flush()
                while load.poll() is None and len(under_load) < args.taps:
                    under_load.append(tap())
                    time.sleep(0.02)
                output, _ = load.communicate(timeout=600)
                rounds += 1
                for what, status, _detail in json.loads(output.strip().splitlines()[-1]):
                    if status:
                        statuses[f"{what} {status}"] += 1
    finally:
        watcher.stop()
        tapper.stop()
    print(f"(a) {_line('at rest', at_rest)}")
    print(
        f"(b) {_line('under the hostile mix', under_load)} "
        f"({rounds} round(s) of 40 sign-ins, 4 RRULE bombs, a 3,000-message flood)"
    )
    print(f"    the mix's answers: {dict(sorted(statuses.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--taps", type=int, default=200)
    args = parser.parse_args()
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        if backend == "postgresql" and (problem := postgres_reachable()):
            print(f"\n== postgresql skipped: {problem} ==")
            continue
        run(backend, args)


if __name__ == "__main__":
    main()
