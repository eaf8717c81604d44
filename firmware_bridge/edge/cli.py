"""The edge side's command: `fablab gateway --config FILE`."""

from __future__ import annotations

import argparse
from typing import Any

from firmware_bridge.edge.gateway import run as run_gateway


def register(commands: argparse._SubParsersAction[Any]) -> None:
    """Add `gateway` to the `fablab` parser."""
    gateway = commands.add_parser(
        "gateway",
        help="run the edge adapters of one gateway (CONTRACT §2)",
        description="Translate the devices' own MQTT dialects into the canonical topics and back.",
    )
    gateway.add_argument("--config", required=True, metavar="FILE", help="the gateway's TOML file")
    gateway.set_defaults(handler=_gateway)


def _gateway(args: argparse.Namespace) -> int:
    return run_gateway(args.config)
