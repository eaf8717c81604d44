"""Ingest benchmark: what the center's bridge receives and stores per second, and tap latency under load.

    .venv/bin/python tests/bench/bench_ingest.py [--backend sqlite|postgresql] [--messages 100000]

(a) A publisher process blasts telemetry (QoS 0) with a share of events (QoS 1) for many machines at a
    test-owned Mosquitto. First a null subscriber (a bare MqttClient that only counts) receives the
    blast; then the bridge does, parsing, validating and storing it. Printed: both rates and the ratio.
    The bridge's window ends when the last reading is in the database: the readings it keeps in
    memory (written every few seconds in one statement) are flushed inside the window.
(b) Card taps are published one by one and the time to the unlock command's arrival is measured end
    to end (through the broker and back): at rest, then while a publisher keeps 2,000 telemetry
    messages per second flowing; p50 and p99 of each.
    Not collected by pytest; prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from booking.bookings import service as booking  # noqa: E402
from booking.schemas import BookingCreate  # noqa: E402
from firmware_bridge.center.bridge import CenterBridge  # noqa: E402
from firmware_bridge.center.dispatch import Dispatcher  # noqa: E402
from firmware_bridge.client import MqttClient, Received  # noqa: E402
from firmware_bridge.contract import topics  # noqa: E402
from tests.bench.center import OPEN_24H  # noqa: E402
from tests.brokers import Mosquitto  # noqa: E402
from tests.databases import migrated_database, postgres_reachable  # noqa: E402
from tests.factories import actor, make_machine, make_member, make_site, unique  # noqa: E402
from web import process  # noqa: E402
from web.db import urgent  # noqa: E402

PUBLISHER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime
    from firmware_bridge.client import MqttClient
    url, site, gw, machines, count, rate, event_share, tag = sys.argv[1:9]
    machines, count, rate, event_share = machines.split(","), int(count), float(rate), float(event_share)
    client = MqttClient(url, "bench-pub-" + tag, clean_start=True, max_inflight=1000)
    client.start(); assert client.wait_connected(20)
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    every = int(1 / event_share) if event_share else 0
    seqs = dict.fromkeys(machines, 0)
    started = time.perf_counter()
    last = None
    for i in range(count):
        m = machines[i % len(machines)]
        if every and i % every == 0:
            topic = f"fablab/v1/{site}/edge/{gw}/machine/{m}/event"
            seqs[m] += 1
            body = {"event_id": f"{tag}-{i}", "boot_id": tag, "seq": seqs[m], "ts": ts,
                    "type": "job.started", "data": {"job": "j"}}
            last = client.publish(topic, json.dumps(body).encode(), qos=1)
        else:
            topic = f"fablab/v1/{site}/edge/{gw}/machine/{m}/telemetry"
            body = {"ts": ts, "boot_id": tag, "seq": i, "power_w": 20.0 + (i % 7), "activity": "idle"}
            client.publish(topic, json.dumps(body).encode(), qos=0)
        if rate:
            ahead = started + (i + 1) / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
    if last is not None:
        last.wait(60)
    time.sleep(1.0)
    client.stop()
    print("done", flush=True)
    """
)


def _publisher(
    url: str, site: str, gw: str, machines: list[str], count: int, rate: float, event_share: float
) -> subprocess.Popen[bytes]:
    args = [url, site, gw, ",".join(machines), str(count), str(rate), str(event_share), unique("p")]
    return subprocess.Popen([sys.executable, "-c", PUBLISHER, *args], cwd=ROOT, stdout=subprocess.PIPE)


def _null_rate(url: str, site: str, gw: str, machines: list[str], count: int, share: float) -> float:
    received = 0
    first = last = 0.0
    lock = threading.Lock()

    def sink(event: object) -> None:
        nonlocal received, first, last
        if isinstance(event, Received):
            with lock:
                received += 1
                last = time.perf_counter()
                if received == 1:
                    first = last

    client = MqttClient(
        url, unique("null"), subscriptions=[(topics.edge_filter(site), 1)], clean_start=True, sink=sink
    )
    client.start()
    assert client.wait_connected(20)
    time.sleep(0.3)
    publisher = _publisher(url, site, gw, machines, count, 0, share)
    publisher.wait(600)
    if publisher.stdout:
        publisher.stdout.close()
    time.sleep(1.0)
    client.stop()
    print(f"    null subscriber received {received:,} of {count:,}")
    return received / max(last - first, 1e-9)


def _bridge_rate(
    engine_url_engine: Engine, url: str, site: str, gw: str, machines: list[str], count: int, share: float
) -> tuple[float, CenterBridge]:
    # No per-gateway rate limit: the benchmark measures how fast one gateway's stream is stored.
    # Readings on their own connection, as `fablab serve` does on the loopback listener.
    bridge = CenterBridge(
        engine_url_engine,
        url,
        client_id=unique("center"),
        sites=[site],
        gateway_rate_per_s=0,
        readings_url=url,
        urgent_engine=urgent(engine_url_engine),
    )
    seen = {"n": 0, "first": 0.0, "last": 0.0}
    original = bridge.dispatcher.handle

    def counting(batch, client):  # type: ignore[no-untyped-def]
        result = original(batch, client)
        if seen["n"] + len(batch) >= count:
            # Readings kept in memory are written by the next flush: the last batch's window ends
            # only once they are in the database (in the worker's own thread, as the bridge does).
            bridge.dispatcher.flush_live(client, force=True)
        now = time.perf_counter()
        if seen["n"] == 0:
            seen["first"] = batch[0][1]
        seen["n"] += len(batch)
        seen["last"] = now
        return result

    bridge.dispatcher.handle = counting  # type: ignore[method-assign]
    bridge.start()
    assert bridge.wait_connected(20)
    process.settle()  # as `fablab bridge` and `fablab serve` do once started
    time.sleep(0.5)
    seen["n"] = 0
    publisher = _publisher(url, site, gw, machines, count, 0, share)
    deadline = time.monotonic() + 600
    while seen["n"] < count and time.monotonic() < deadline:
        if (
            publisher.poll() is not None
            and time.monotonic() > deadline - 590
            and seen["n"]
            and time.perf_counter() - seen["last"] > 5
        ):
            break
        time.sleep(0.1)
    publisher.wait(60)
    if publisher.stdout:
        publisher.stdout.close()
    print(f"    bridge handled {seen['n']:,} of {count:,} (drops: see fablab_mqtt_messages_dropped_total)")
    return seen["n"] / max(seen["last"] - seen["first"], 1e-9), bridge


def _latency(
    bridge: CenterBridge,
    url: str,
    site: str,
    gw: str,
    machines: list[str],
    card: str,
    taps: int,
    load_rate: float,
) -> list[float]:
    load = _publisher(url, site, gw, machines[1:], 10**7, load_rate, 0) if load_rate else None
    watcher = MqttClient(
        url, unique("watch"), subscriptions=[(topics.command(site, gw, machines[0]), 1)], clean_start=True
    )
    tapper = MqttClient(url, unique("tap"), clean_start=True)
    watcher.start()
    tapper.start()
    assert watcher.wait_connected(20)
    assert tapper.wait_connected(20)
    time.sleep(1.0)
    latencies = []
    event_topic = topics.event(site, gw, machines[0])
    for i in range(taps):
        body = {
            "event_id": unique("tap"),
            "boot_id": "bench",
            "seq": i,
            "ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "type": "access.requested",
            "data": {"request_id": f"r{i}", "card_uid": card},
        }
        sent = time.perf_counter()
        tapper.publish(event_topic, json.dumps(body).encode(), qos=1)
        while True:
            event = watcher.inbox.get(timeout=10)
            if isinstance(event, Received) and json.loads(event.payload).get("request_id") == f"r{i}":
                latencies.append((time.perf_counter() - sent) * 1000)
                break
        time.sleep(0.05)
    if load is not None:
        load.kill()
        load.wait(10)
        if load.stdout:
            load.stdout.close()
    watcher.stop()
    tapper.stop()
    return latencies


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(backend: str, args: argparse.Namespace) -> None:
    print(f"\n== {backend} ==")
    with tempfile.TemporaryDirectory() as tmp, migrated_database(backend, Path(tmp)) as engine:
        broker = Mosquitto(Path(tmp) / "broker")
        # No persistence: the figures are about the center, not the broker's disk.
        broker.config.write_text(
            broker.config.read_text().replace("persistence true", "persistence false")
            + "max_inflight_messages 1000\nmax_queued_messages 1000000\n"
        )
        broker.start()
        try:
            now = datetime.now(UTC)
            with Session(engine, expire_on_commit=False) as session:
                site = make_site(session, id=unique("site"), opening_hours=OPEN_24H, holiday_country="")
                gw = unique("gw")
                machines = [
                    make_machine(session, site, gateway=gw, name=f"M{i}").id for i in range(args.machines)
                ]
                card = "BENCH" + unique("c")[-6:].upper()
                member = make_member(session, card_uid=card)
                slot = now.replace(minute=0, second=0, microsecond=0)
                booking.book(
                    session,
                    actor(session, member),
                    BookingCreate(resource_id=machines[0], start=slot, end=slot + timedelta(hours=4)),
                    slot - timedelta(minutes=1),
                )
                session.commit()
                site_id = site.id
            null = _null_rate(broker.url, site_id, gw, machines, args.messages, args.event_share)
            print(f"(a) null paho subscriber: {null:,.0f} msg/s")
            rate, bridge = _bridge_rate(
                engine, broker.url, site_id, gw, machines, args.messages, args.event_share
            )
            print(f"    bridge (parse, validate, store; {args.event_share:.1%} events): {rate:,.0f} msg/s")
            print(f"    ratio bridge / null = {rate / null:.2f}   [goal >= 0.5 at 2 % events]")
            try:
                at_rest = _latency(bridge, broker.url, site_id, gw, machines, card, args.taps, 0)
                loaded = _latency(bridge, broker.url, site_id, gw, machines, card, args.taps, 2000)
                print("(b) tap -> unlock, end to end through the broker, same run:")
                for name, values, goal in (
                    ("at rest", at_rest, 20),
                    ("with 2,000 msg/s of telemetry flowing", loaded, 50),
                ):
                    print(
                        f"    {name}, {len(values)} taps: p50 {_pct(values, 50):.1f} ms, "
                        f"p99 {_pct(values, 99):.1f} ms [goal < {goal} ms], max {max(values):.1f} ms"
                    )
            finally:
                bridge.stop()
        finally:
            broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument(
        "--event-share", type=float, default=0.02, help="share of QoS 1 events among the messages"
    )
    parser.add_argument("--taps", type=int, default=200)
    args = parser.parse_args()
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        if backend == "postgresql" and (problem := postgres_reachable()):
            print(f"\n== postgresql skipped: {problem} ==")
            continue
        run(backend, args)
    _ = Dispatcher  # the benchmark drives the dispatcher through the bridge


if __name__ == "__main__":
    main()
