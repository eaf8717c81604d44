"""No client stalls the center: card taps and another member's booking stay fast under a hostile mix.

One real uvicorn server with the center's bridge on the real Mosquitto, on SQLite and PostgreSQL.
At once: 40 parallel sign-ins (Argon2 each), 4 bookings whose RRULE never gives a date
(FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30), and a gateway flooding 3,000 messages (readings alternating
busy/idle, and readings for machines nobody registered). Meanwhile a member taps a card again and
again and another member books a room. Every tap is answered within the contract's second, the
booking within 2 s, and nothing anywhere answers 5xx.

This is the one test with latency bounds (issue 8 asks for them); they are the contract's, and
generous against the work involved (a tap is a few milliseconds of database work when it goes first).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.models import ResourceKind
from firmware_bridge.client import MqttClient, Received
from firmware_bridge.contract import topics
from firmware_bridge.contract.messages import format_ts
from tests.bridge.conftest import build_lab
from tests.brokers import publisher, unique
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import PASSWORD, make_machine, make_member, make_resource
from tests.servers import running_server
from web import process
from web.app import create_app
from web.settings import Settings

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
LOGINS = 40
BOMBS = 4
FLOOD = 3_000
TAP_BOUND_S = 1.0  # the contract: a card tap is answered within 1 s
BOOKING_BOUND_S = 2.0
BOMB = "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"


# The hostile clients run in a process of their own, as they would: their threads must not compete
# with the center's for this process's interpreter lock. It runs at the lowest CPU priority, as if on
# another machine: what is measured is how the center serves, not how the clients are scheduled.
LOAD = textwrap.dedent(
    """
    import json, os, sys, threading
    os.nice(19)
    from concurrent.futures import ThreadPoolExecutor
    import httpx
    from firmware_bridge.client import MqttClient
    args = json.loads(sys.argv[1])
    flooder = MqttClient(args["broker"], args["client_id"], clean_start=True)
    flooder.start()
    assert flooder.wait_connected(20)

    def login(i):
        with httpx.Client(base_url=args["base"], timeout=120) as client:
            response = client.post(
                "/api/v1/auth/token",
                data={"username": args["emails"][i % len(args["emails"])], "password": args["password"]},
            )
        return ["login", response.status_code, ""]

    def bomb(i):
        with httpx.Client(base_url=args["base"], timeout=120) as client:
            response = client.post("/api/v1/bookings", json=args["bomb"], headers=args["bomber"])
        return ["bomb", response.status_code, response.json().get("detail", "")]

    def flood(_):
        # Readings as fast as paho sends them: busy/idle in turn, and for unregistered machines.
        for i in range(args["flood"]):
            machine = args["machine"] if i % 3 else "ghost-%d" % i
            topic = "fablab/v1/%s/edge/%s/machine/%s/telemetry" % (args["site"], args["gateway"], machine)
            body = {"ts": args["ts"], "boot_id": "flood", "seq": i,
                    "power_w": 900.0 if i % 2 else 5.0, "activity": "busy" if i % 2 else "idle"}
            flooder.publish(topic, json.dumps(body).encode(), qos=0)
        return ["flood", 0, ""]

    print("ready", flush=True)
    sys.stdin.readline()
    gun = threading.Barrier(args["logins"] + args["bombs"] + 1)

    def at_once(work):
        def run(i):
            gun.wait(timeout=60)
            return work(i)
        return run

    with ThreadPoolExecutor(max_workers=args["logins"] + args["bombs"] + 1) as pool:
        jobs = [pool.submit(at_once(login), i) for i in range(args["logins"])]
        jobs += [pool.submit(at_once(bomb), i) for i in range(args["bombs"])]
        jobs.append(pool.submit(at_once(flood), 0))
        results = [job.result() for job in jobs]
    flooder.stop()
    print(json.dumps(results), flush=True)
    """
)


class TestHostileLoad:
    def test_taps_and_a_booking_stay_fast_while_logins_rrule_bombs_and_a_flood_run(
        self, fresh_engine: Engine, broker_url: str
    ) -> None:
        clock = FakeClock(NOW)
        site, gateway, laser, _member_id, _name, card = build_lab(fresh_engine, broker_url, clock)
        with Session(fresh_engine, expire_on_commit=False) as session:
            site_row = catalogue_repo.get_site(session, site)
            assert site_row is not None
            other = make_machine(session, site_row, name="Laser 2", gateway=gateway).id
            room = make_resource(session, site_row, name="Phòng họp", kind=ResourceKind.room).id
            signers = [make_member(session, name=f"Khách {i}") for i in range(4)]
            bomber = make_member(session, name="Người gửi RRULE")
            booker = make_member(session, name="Trần Văn Bình")
            session.commit()
            emails = [m.email for m in signers]
            people = [(bomber.id, bomber.token_version), (booker.id, booker.token_version)]

        settings = Settings(
            environment="test",
            secret_key="x" * 40,
            database_url="sqlite://",
            mqtt_url=broker_url,
            bridge_sites=site,
            bridge_client_id=unique("hostile-center"),
            scheduler_enabled=False,
        )
        app = create_app(settings, engine=fresh_engine, clock=clock)
        bomber_token, booker_token = (app.state.tokens.issue(m, v) for m, v in people)
        dropped_before, retries_before = _dropped("rate"), _db_retries()
        commands: dict[str, float] = {}
        answered = threading.Condition()

        def on_command(event: object) -> None:
            if isinstance(event, Received):
                body = json.loads(event.payload)
                if body.get("request_id"):
                    with answered:
                        commands[body["request_id"]] = time.perf_counter()
                        answered.notify_all()

        watcher = MqttClient(
            broker_url,
            unique("hostile-watch"),
            subscriptions=[(topics.command(site, gateway, laser), 1)],
            clean_start=True,
            sink=on_command,
        )
        tapper = publisher(broker_url)
        watcher.start()
        try:
            assert watcher.wait_subscribed(20)
            with running_server(app) as base:
                bridge = app.state.machines.bridge
                assert bridge is not None
                assert bridge.wait_connected(20)
                # Started, the center's processes freeze their heap out of the collector's full
                # passes (web/process.py). This process also carries the suite's heap: millions of
                # objects by the time this test runs on PostgreSQL in CI, where one full pass over
                # them stopped every thread, the bridge's too, for 1.7 s (a tap then took over 1 s).
                # It is settled as a center's process is, for this test only.
                process.settle()

                def tap(i: int) -> float:
                    request_id = f"tap-{i}-{unique('r')}"
                    body = {
                        "event_id": unique("ev"),
                        "boot_id": "hostile",
                        "seq": i + 1,
                        "ts": format_ts(clock()),
                        "type": "access.requested",
                        "data": {"request_id": request_id, "card_uid": card},
                    }
                    sent = time.perf_counter()
                    tapper.publish(topics.event(site, gateway, laser), json.dumps(body).encode(), qos=1)
                    with answered:
                        answered.wait_for(lambda: request_id in commands, timeout=30)
                    assert request_id in commands, f"tap {i} was never answered"
                    return commands[request_id] - sent

                # At rest first: the tap path works, and its time is known.
                at_rest = [tap(i) for i in range(3)]
                start = NOW + timedelta(days=1)
                load_args = {
                    "base": base,
                    "broker": broker_url,
                    "client_id": unique("flood"),
                    "site": site,
                    "gateway": gateway,
                    "machine": other,
                    "ts": format_ts(clock()),
                    "flood": FLOOD,
                    "logins": LOGINS,
                    "bombs": BOMBS,
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
                load = subprocess.Popen(
                    [sys.executable, "-c", LOAD, json.dumps(load_args)],
                    cwd=ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                try:
                    assert load.stdout is not None
                    assert load.stdin is not None
                    assert load.stdout.readline().strip() == "ready"
                    load.stdin.write("go\n")
                    load.stdin.flush()
                    time.sleep(0.3)  # the sign-ins are hashing, the bombs are in, the flood is queued
                    under_load = [tap(i) for i in range(3, 6)]
                    begun = time.perf_counter()
                    with httpx.Client(base_url=base, timeout=120) as client:
                        booked = client.post(
                            "/api/v1/bookings",
                            json={
                                "resource_id": room,
                                "start": (start + timedelta(days=1)).isoformat(),
                                "end": (start + timedelta(days=1, hours=1)).isoformat(),
                            },
                            headers={"Authorization": f"Bearer {booker_token}"},
                        )
                    booked_in = time.perf_counter() - begun
                    for i in range(6, 16):
                        under_load.append(tap(i))
                        time.sleep(0.1)
                    output, _ = load.communicate(timeout=300)
                finally:
                    if load.poll() is None:
                        load.kill()
                        load.wait(10)
                dropped = _dropped("rate") - dropped_before
        finally:
            gc.unfreeze()  # the next tests' garbage, and this one's, collectable again
            watcher.stop()
            tapper.stop()

        results = json.loads(output.strip().splitlines()[-1])
        statuses = [status for _what, status, _detail in results if status] + [booked.status_code]
        assert [s for s in statuses if s >= 500] == []
        assert booked.status_code == 201, booked.text
        logins = [status for what, status, _ in results if what == "login"]
        assert len(logins) == LOGINS
        # 200, or 429 where sign-ins are rate-limited: never a 5xx, never a stall.
        assert set(logins) <= {200, 429}, logins
        assert 200 in logins
        bombs = [(status, detail) for what, status, detail in results if what == "bomb"]
        assert bombs == [(422, "the rrule gives no occurrence")] * BOMBS
        # A string, so that pytest prints every tap (it cuts a list short).
        taps = (
            f"at rest {', '.join(f'{s * 1000:.0f}' for s in at_rest)} ms; under load "
            f"{', '.join(f'{s * 1000:.0f}' for s in under_load)} ms; the bridge's database retries: "
            f"{_db_retries() - retries_before:g}"
        )
        assert max(at_rest) < TAP_BOUND_S, taps
        assert max(under_load) < TAP_BOUND_S, taps
        assert booked_in < BOOKING_BOUND_S, f"the unrelated booking took {booked_in:.2f} s"
        # The flood was cut at the gateway's rate limit, not stored message by message.
        assert dropped > 0
        assert _count(fresh_engine, "SELECT count(*) FROM series") == 0


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(sql)).scalar_one())


def _dropped(reason: str) -> float:
    value = REGISTRY.get_sample_value("fablab_mqtt_messages_dropped_total", {"reason": reason})
    return value or 0.0


def _db_retries() -> float:
    """Batches the bridge handled again because the database refused them (each after a backoff of
    0.5, 1, 2 … s): named in a slow tap's failure, the likeliest cause of one."""
    return REGISTRY.get_sample_value("fablab_bridge_db_retries_total") or 0.0
