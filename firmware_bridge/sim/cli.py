"""The simulator's command: `fablab simulate …`, a fleet of simulated devices on a broker."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from firmware_bridge.client import BrokerUrlError, parse_broker_url
from firmware_bridge.edge.config import ConfigError, GatewayConfig, load_config
from firmware_bridge.sim.fleets import config_toml, demo_fleet, fleet_for, generated_fleet
from firmware_bridge.sim.simulator import SCENARIOS, Fleet, Simulator, Step, parse_scenario


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `simulate` to the `fablab` parser."""
    simulate = commands.add_parser(
        "simulate",
        help="a simulated fleet of machines speaking their native dialects",
        description=(
            "Play lasers and CNCs on Tasmota or Shelly plugs and printers on OctoPrint over MQTT. "
            "Give --config to simulate the devices of a gateway file, or --machines N for a "
            "generated lab (with --print-config to get the gateway file that matches it)."
        ),
    )
    simulate.add_argument("--broker", metavar="URL", help="mqtt://user:pass@host:port")
    source = simulate.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="simulate the devices of this gateway file")
    source.add_argument("--machines", type=int, metavar="N", help="a generated lab of N machines")
    simulate.add_argument("--site", default="demo", help="site slug for a generated lab")
    simulate.add_argument("--gateway", default="gw-sim", help="gateway slug for a generated lab")
    simulate.add_argument(
        "--time-scale", type=float, default=1.0, metavar="X", help="simulated seconds per second"
    )
    simulate.add_argument(
        "--period", type=float, default=2.0, metavar="S", help="seconds between device reports"
    )
    simulate.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME=MACHINE[@S]",
        help=f"a scripted happening ({', '.join(sorted(SCENARIOS))}), at S simulated seconds",
    )
    simulate.add_argument(
        "--no-random", action="store_true", help="only the scripted scenarios, no random jobs"
    )
    simulate.add_argument("--seed", type=int, help="random seed, for a repeatable run")
    simulate.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    simulate.add_argument("--protocol", choices=("5", "3.1.1"), default=None, help="MQTT version")
    simulate.add_argument(
        "--print-config",
        action="store_true",
        help="print the gateway file matching a generated lab and exit",
    )
    simulate.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    try:
        config, fleet = _fleet(args)
        scenario: list[Step] = [step for spec in args.scenario for step in parse_scenario(spec)]
        if args.time_scale <= 0 or args.period <= 0:
            raise ValueError("--time-scale and --period must be positive")
    except (ConfigError, ValueError) as exc:
        print(f"fablab simulate: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(config_toml(config), end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        simulator = Simulator(
            fleet,
            args.broker or config.broker,
            time_scale=args.time_scale,
            period_s=args.period,
            scenario=scenario,
            random_activity=not args.no_random,
            seed=args.seed,
            protocol=args.protocol or config.protocol,
        )
    except ValueError as exc:
        print(f"fablab simulate: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    simulator.start()
    print(
        f"simulating {len(fleet.devices)} machines on {simulator.client.broker.redacted()}"
        f" at x{args.time_scale:g}; Ctrl-C stops",
        file=sys.stderr,
    )
    started = time.monotonic()
    stopping.wait(args.duration)
    simulator.stop()
    elapsed = time.monotonic() - started
    published = simulator.stats["published"]
    print(f"published {published} messages in {elapsed:.0f} s", file=sys.stderr)
    return 0


def _fleet(args: argparse.Namespace) -> tuple[GatewayConfig, Fleet]:
    if args.config:
        config = load_config(Path(args.config))
        if args.broker:
            _check_url(args.broker)
        return config, fleet_for(config)
    count = args.machines if args.machines is not None else 6
    if count < 1:
        raise ValueError("--machines must be at least 1")
    broker = args.broker or "mqtt://127.0.0.1:1883"
    _check_url(broker)
    return demo_fleet(
        args.site,
        args.gateway,
        broker,
        generated_fleet(args.site, count),
        time_scale=args.time_scale if args.time_scale > 0 else 1.0,
        protocol=args.protocol or "5",
    )


def _check_url(url: str) -> None:
    try:
        parse_broker_url(url)
    except BrokerUrlError as exc:
        raise ValueError(str(exc)) from None
