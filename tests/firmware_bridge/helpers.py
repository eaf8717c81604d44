"""Helpers of the edge tests: a fixed start time, deterministic ids, machine runtimes, decoded output.

The MQTT tools (brokers, collectors, publishers) are in tests/brokers.py, the fake clock in tests/clock.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from firmware_bridge.edge.adapters import make_adapter
from firmware_bridge.edge.adapters.usage import Thresholds
from firmware_bridge.edge.machine import MachineRuntime, Publication, Stamper, make_runtime
from tests.brokers import body_of

T0 = datetime(2026, 3, 2, 7, 15, tzinfo=UTC)
SITE = "biic"
GATEWAY = "gw-1"


def at(seconds: float) -> datetime:
    """`T0` plus `seconds`."""
    return T0 + timedelta(seconds=seconds)


class Ids:
    """Deterministic ids: `ev-1`, `ev-2`… for events and `s-1`, `s-2`… for sessions."""

    def __init__(self) -> None:
        self._events = itertools.count(1)
        self._sessions = itertools.count(1)

    def event(self) -> str:
        return f"ev-{next(self._events)}"

    def session(self) -> str:
        return f"s-{next(self._sessions)}"


def runtime(
    adapter: str,
    source: str,
    *,
    machine: str = "laser-1",
    thresholds: Thresholds | None = None,
    command_ttl_s: float = 60.0,
) -> MachineRuntime:
    """A machine runtime with fixed site, gateway, boot id and deterministic ids."""
    ids = Ids()
    stamper = Stamper(SITE, GATEWAY, "boot-1", ids.event)
    return make_runtime(
        machine,
        make_adapter(adapter, source, gateway=GATEWAY),
        stamper,
        thresholds or Thresholds(),
        ids.session,
        command_ttl_s=command_ttl_s,
    )


def decoded(publications: Iterable[Publication]) -> list[tuple[str, Any]]:
    """(topic, payload) pairs, JSON payloads parsed, plain ones as text."""
    return [(p.topic, body_of(p.payload)) for p in publications]
