"""Shelly Gen2 / Plus plugs and relays (switch channel 0).

Read:
- `<id>/status/switch:0` `{"output": bool, "apower": W, "aenergy": {"total": Wh}, ...}`, published on
  change when "generic status update over MQTT" is on;
- `<id>/events/rpc` `NotifyStatus` notifications, whose `params["switch:0"]` carries only the changed
  fields and `params.ts` the device's Unix time (kept as `device_ts`);
- `<id>/online` `true|false`, the device's will (retained).
Write JSON-RPC on `<id>/rpc`: `{"id": n, "src": "...", "method": "Switch.Set", "params": {"id": 0,
"on": false}}`. The device answers on `<src>/rpc`; we do not need the answer, because the switch's new
state arrives as a status update anyway.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from firmware_bridge.edge.adapters.base import (
    Adapter,
    BadPayload,
    NativePublish,
    Observation,
    Online,
    Reading,
    load_object,
    number,
    text,
    unix_ts,
)

CHANNEL = "switch:0"


class ShellyAdapter(Adapter):
    """A Shelly Gen2 switch: metered, switchable, no display."""

    name: ClassVar[str] = "shelly"
    metered: ClassVar[bool] = True
    switchable: ClassVar[bool] = True

    def __init__(self, source: str, *, gateway: str = "gateway") -> None:
        super().__init__(source, gateway=gateway)
        self._rpc_ids = itertools.count(1)

    def subscriptions(self) -> Sequence[str]:
        """Status, notifications and the will of the device."""
        return (f"{self.source}/status/{CHANNEL}", f"{self.source}/events/rpc", f"{self.source}/online")

    def translate(self, topic: str, payload: bytes) -> list[Observation]:
        """Read switch status, NotifyStatus and online; other notifications say nothing we use."""
        if topic == f"{self.source}/status/{CHANNEL}":
            return _switch(load_object(payload), device_ts=None)
        if topic == f"{self.source}/online":
            return [Online(_true_false(text(payload)))]
        if topic == f"{self.source}/events/rpc":
            body = load_object(payload)
            params = body.get("params")
            if body.get("method") != "NotifyStatus" or not isinstance(params, dict):
                return []
            status = params.get(CHANNEL)
            if not isinstance(status, dict):
                return []
            return _switch(status, device_ts=unix_ts(params.get("ts"), "ts"))
        return []

    def set_relay(self, on: bool) -> list[NativePublish]:
        """JSON-RPC `Switch.Set` on `<id>/rpc`."""
        request = {
            "id": next(self._rpc_ids),
            "src": f"fablab-{self.gateway}",
            "method": "Switch.Set",
            "params": {"id": 0, "on": on},
        }
        return [NativePublish(f"{self.source}/rpc", json.dumps(request).encode())]


def _switch(status: dict[str, Any], device_ts: str | None) -> list[Observation]:
    output = status.get("output")
    if output is not None and not isinstance(output, bool):
        raise BadPayload(f"output must be true or false, got {output!r}")
    energy = status.get("aenergy")
    if energy is not None and not isinstance(energy, dict):
        raise BadPayload(f"aenergy must be an object, got {energy!r}")
    reading = Reading(
        power_w=number(status.get("apower"), "apower"),
        energy_wh_total=number(energy.get("total"), "aenergy.total") if energy else None,
        relay_on=output,
        device_ts=device_ts,
    )
    if reading.power_w is None and reading.relay_on is None and reading.energy_wh_total is None:
        return []  # a notification about voltage or temperature only
    return [reading]


def _true_false(value: str) -> bool:
    if value == "true":
        return True
    if value == "false":
        return False
    raise BadPayload(f"online must be true or false, got {value!r}")
