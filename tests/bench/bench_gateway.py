"""Edge benchmark: how fast one gateway translates, and how big a fleet one simulator plays.

    .venv/bin/python tests/bench/bench_gateway.py [--broker mqtt://127.0.0.1:1883] [--seconds 10]

(a) Translation alone: native messages (Tasmota SENSOR, Shelly status, OctoPrint progress and
    temperatures) through the adapters, the usage tracker and the stamper to encoded canonical
    payloads, in this process, no network: messages per second.
(b) One real gateway process (`fablab gateway`) on the broker, 50 machines, fed native telemetry as
    fast as one publisher sends it; counted at a subscriber to the canonical telemetry: messages per
    second end to end, and how many were lost (QoS 0, as devices publish telemetry).
(c) One simulator process at 1 Hz telemetry per machine, with ever more machines: the largest fleet
    whose reports stay on schedule (fewer than 1 % late, at least 97 % of the expected messages).
Not collected by pytest; prints figures, asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from firmware_bridge.client import MqttClient, Received  # noqa: E402
from firmware_bridge.edge.adapters import make_adapter  # noqa: E402
from firmware_bridge.edge.adapters.usage import Thresholds  # noqa: E402
from firmware_bridge.edge.machine import Stamper, make_runtime  # noqa: E402
from firmware_bridge.sim.fleets import demo_fleet  # noqa: E402
from firmware_bridge.sim.simulator import Simulator  # noqa: E402

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def native_stream(count: int, machines: int) -> list[tuple[int, str, bytes]]:
    """(machine index, topic, payload) for a mixed lab: 2/5 Tasmota, 1/5 Shelly, 2/5 OctoPrint."""
    rng = random.Random(1)
    stream: list[tuple[int, str, bytes]] = []
    for n in range(count):
        i = n % machines
        kind = i % 5
        body: dict[str, Any]
        if kind in (0, 2):
            body = {
                "Time": "2026-03-02T14:00:00",
                "ENERGY": {"Power": rng.choice([18, 540, 610]), "Total": 12.3 + n / 1e5},
            }
            stream.append((i, f"tele/bench_t{i}/SENSOR", json.dumps(body).encode()))
        elif kind == 3:
            body = {
                "id": 0,
                "output": True,
                "apower": rng.choice([11.0, 950.0]),
                "aenergy": {"total": 5210.0 + n / 100},
            }
            stream.append((i, f"bench-s{i}/status/switch:0", json.dumps(body).encode()))
        else:
            body = {"_timestamp": 1772434800 + n, "actual": 209.5, "target": 210.0}
            stream.append((i, f"octoPrint/bench-p{i}/temperature/tool0", json.dumps(body).encode()))
    return stream


def sources(machines: int) -> list[tuple[str, str]]:
    out = []
    for i in range(machines):
        kind = i % 5
        if kind in (0, 2):
            out.append(("tasmota", f"bench_t{i}"))
        elif kind == 3:
            out.append(("shelly", f"bench-s{i}"))
        else:
            out.append(("octoprint", f"octoPrint/bench-p{i}"))
    return out


def bench_translation(seconds: float) -> float:
    """(a): native messages translated per second, pure."""
    machines = 50
    counter = iter(range(10**9))
    stamper = Stamper("bench", "gw-bench", "boot", lambda: f"e{next(counter)}")
    runtimes = [
        make_runtime(
            f"m-{i}",
            make_adapter(a, s, gateway="gw-bench"),
            stamper,
            Thresholds(busy_min_s=0),
            lambda: f"s{next(counter)}",
        )
        for i, (a, s) in enumerate(sources(machines))
    ]
    stream = native_stream(50_000, machines)
    done = 0
    started = time.perf_counter()
    now = T0
    while time.perf_counter() - started < seconds:
        for index, topic, payload in stream:
            now += timedelta(milliseconds=10)
            runtimes[index].handle_native(topic, payload, now)
        done += len(stream)
    return done / (time.perf_counter() - started)


def bench_gateway_process(broker: str, seconds: float) -> tuple[float, int, int, float]:
    """(b): one gateway process fed as fast as possible: rate, sent, received, per CPU second."""
    machines = 50
    site, gw = "bench", f"gw-{uuid.uuid4().hex[:8]}"
    entries = sources(machines)
    lines = [f'site = "{site}"', f'gateway = "{gw}"', f'broker = "{broker}"', "heartbeat_s = 30"]
    for i, (adapter, source) in enumerate(entries):
        lines += [
            "[[machine]]",
            f'machine = "m-{i}"',
            f'adapter = "{adapter}"',
            f'source = "{source}"',
            "busy_min_s = 0",
        ]
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "gateway.toml"
        config.write_text("\n".join(lines) + "\n")
        code = "import sys; from firmware_bridge.edge.gateway import run; sys.exit(run(sys.argv[1]))"
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            cpu_before = _cpu_seconds(process.pid)
            rate, sent, received = _feed(broker, site, gw, machines, seconds)
            cpu = _cpu_seconds(process.pid) - cpu_before
            return rate, sent, received, received / cpu if cpu > 0 else 0.0
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _feed(broker: str, site: str, gw: str, machines: int, seconds: float) -> tuple[float, int, int]:
    telemetry = f"fablab/v1/{site}/edge/{gw}/machine/+/telemetry"
    state = f"fablab/v1/{site}/edge/{gw}/state"
    received = 0
    first_at = last_at = 0.0
    ready = threading.Event()

    def sink(event: object) -> None:
        nonlocal received, last_at
        if isinstance(event, Received):
            if event.topic == state:
                ready.set()
            else:
                received += 1
                last_at = time.perf_counter()

    watcher = MqttClient(
        broker, f"bench-watch-{gw}", subscriptions=[(telemetry, 0), (state, 1)], clean_start=True, sink=sink
    )
    watcher.start()
    if not ready.wait(30):
        raise SystemExit("the gateway did not come up")
    device = MqttClient(broker, f"bench-dev-{gw}", clean_start=True, max_inflight=1000)
    device.start()
    device.wait_connected(20)
    stream = native_stream(20_000, machines)
    sent = 0
    first_at = time.perf_counter()
    while time.perf_counter() - first_at < seconds:
        for _, topic, payload in stream:
            device.publish(topic, payload, qos=0)
        sent += len(stream)
        # Stay within what the broker and gateway can take, so the figure is a rate, not a queue.
        while sent - received > 20_000 and time.perf_counter() - first_at < seconds + 30:
            time.sleep(0.01)
    deadline = time.perf_counter() + 30
    while received < sent and time.perf_counter() < deadline:
        previous = received
        time.sleep(0.5)
        if received == previous and time.perf_counter() - last_at > 3:
            break
    device.stop()
    watcher.stop()
    return received / (last_at - first_at), sent, received


def bench_simulator(broker: str, seconds: float) -> list[tuple[int, float, float]]:
    """(c): (machines, share of late steps, share of expected messages) for growing fleets."""
    results = []
    count = 250
    while count <= 16_000:
        machines = [(f"m-{i}", ("laser", "cnc", "printer", "laser")[i % 4]) for i in range(count)]
        _, fleet = demo_fleet("bench", "gw-sim", broker, machines)
        simulator = Simulator(
            fleet,
            broker,
            period_s=1.0,
            random_activity=True,
            seed=3,
            client_id=f"bench-sim-{uuid.uuid4().hex[:8]}",
        )
        simulator.start()
        simulator.wait_connected(20)
        time.sleep(seconds)
        steps, late = simulator.stats["steps"], simulator.stats["late_steps"]
        simulator.stop()
        expected = count * seconds
        results.append((count, late / max(1, steps), steps / expected))
        print(
            f"    {count:6d} machines: {steps / seconds:8.0f} reports/s "
            f"({simulator.stats['published'] / seconds:,.0f} messages/s), "
            f"{100 * late / max(1, steps):5.1f} % late, {100 * steps / expected:5.1f} % of schedule",
            flush=True,
        )
        if late / max(1, steps) > 0.01 or steps / expected < 0.97:
            break
        count *= 2
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}; broker {args.broker}")
    print("(a) translation alone (adapters + usage + stamping + JSON), one thread:")
    print(f"    {bench_translation(args.seconds):,.0f} native messages/s")
    print("(b) one gateway process, 50 machines, native telemetry in, canonical telemetry out:")
    rate, sent, received, per_cpu = bench_gateway_process(args.broker, args.seconds)
    print(f"    {rate:,.0f} messages/s end to end ({received:,} of {sent:,} arrived)")
    print(f"    {per_cpu:,.0f} messages per CPU-second of the gateway process")
    print("(c) one simulator process, 1 Hz telemetry per machine:")
    results = bench_simulator(args.broker, args.seconds)
    sustained = [n for n, late, share in results if late <= 0.01 and share >= 0.97]
    print(f"    sustains {max(sustained) if sustained else 0:,} machines at 1 Hz")


if __name__ == "__main__":
    main()
