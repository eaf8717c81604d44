"""Device dialects the gateway speaks: one adapter per device, pure translation, no network."""

from __future__ import annotations

from firmware_bridge.edge.adapters.base import Adapter, BadPayload, NativePublish, Observation
from firmware_bridge.edge.adapters.native import NativeAdapter
from firmware_bridge.edge.adapters.octoprint import OctoPrintAdapter
from firmware_bridge.edge.adapters.shelly import ShellyAdapter
from firmware_bridge.edge.adapters.tasmota import TasmotaAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    TasmotaAdapter.name: TasmotaAdapter,
    ShellyAdapter.name: ShellyAdapter,
    OctoPrintAdapter.name: OctoPrintAdapter,
    NativeAdapter.name: NativeAdapter,
}


def make_adapter(name: str, source: str, *, gateway: str) -> Adapter:
    """The adapter called `name` for the device `source`; `KeyError` for an unknown name."""
    return ADAPTERS[name](source, gateway=gateway)


__all__ = [
    "ADAPTERS",
    "Adapter",
    "BadPayload",
    "NativePublish",
    "Observation",
    "make_adapter",
]
