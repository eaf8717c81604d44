"""Tasmota smart plugs (lasers, CNCs and the like behind a metered relay).

Read, with the default FullTopic `%prefix%/%topic%/`:
- `tele/<t>/SENSOR` `{"Time": "...", "ENERGY": {"Power": W, "Total": kWh, ...}}` (Total becomes Wh);
- `tele/<t>/STATE` `{"Time": "...", "POWER": "ON"}` (or `POWER1` on multi-relay devices);
- `stat/<t>/POWER` `ON|OFF` and `stat/<t>/RESULT` `{"POWER": "ON"}`, the answers to commands;
- `tele/<t>/LWT` `Online|Offline`, the device's will (retained).
Write `cmnd/<t>/POWER` `ON|OFF`. Tasmota's `Time` is the device's local clock without a zone, so it is
kept verbatim as `device_ts` and never used as the event time.
"""

from __future__ import annotations

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
)

_ON_OFF = {"ON": True, "OFF": False, "1": True, "0": False}


class TasmotaAdapter(Adapter):
    """A Tasmota plug: metered, switchable, no display."""

    name: ClassVar[str] = "tasmota"
    metered: ClassVar[bool] = True
    switchable: ClassVar[bool] = True

    def subscriptions(self) -> Sequence[str]:
        """The plug's telemetry and command results."""
        return (f"tele/{self.source}/+", f"stat/{self.source}/+")

    def translate(self, topic: str, payload: bytes) -> list[Observation]:
        """Read SENSOR, STATE, LWT, POWER and RESULT; other Tasmota topics say nothing we use."""
        prefix, _, leaf = topic.rpartition("/")
        if prefix == f"tele/{self.source}":
            if leaf == "SENSOR":
                return self._sensor(load_object(payload))
            if leaf == "STATE":
                return self._relay(load_object(payload), device_ts_key="Time")
            if leaf == "LWT":
                return [Online(_lwt(text(payload)))]
        elif prefix == f"stat/{self.source}":
            if leaf == "POWER":
                return [Reading(relay_on=_on_off(text(payload)))]
            if leaf == "RESULT":
                return self._relay(load_object(payload), device_ts_key=None)
        return []

    def set_relay(self, on: bool) -> list[NativePublish]:
        """`cmnd/<t>/POWER ON|OFF`."""
        return [NativePublish(f"cmnd/{self.source}/POWER", b"ON" if on else b"OFF")]

    def _sensor(self, body: dict[str, Any]) -> list[Observation]:
        energy = body.get("ENERGY")
        if not isinstance(energy, dict):
            return []  # a SENSOR message from another sensor (a thermometer): nothing of ours
        power = energy.get("Power")
        if isinstance(power, list):  # multi-channel meters report one value per channel
            power = sum(number(p, "ENERGY.Power") or 0.0 for p in power)
        total_kwh = number(energy.get("Total"), "ENERGY.Total")
        return [
            Reading(
                power_w=number(power, "ENERGY.Power"),
                energy_wh_total=round(total_kwh * 1000, 3) if total_kwh is not None else None,
                device_ts=_device_ts(body.get("Time")),
            )
        ]

    def _relay(self, body: dict[str, Any], device_ts_key: str | None) -> list[Observation]:
        state = body.get("POWER", body.get("POWER1"))
        if state is None:
            return []  # a RESULT or STATE about something else (Wi-Fi, a setting)
        if not isinstance(state, str):
            raise BadPayload(f"POWER must be ON or OFF, got {state!r}")
        device_ts = _device_ts(body.get(device_ts_key)) if device_ts_key else None
        return [Reading(relay_on=_on_off(state), device_ts=device_ts)]


def _on_off(value: str) -> bool:
    try:
        return _ON_OFF[value.upper()]
    except KeyError:
        raise BadPayload(f"POWER must be ON or OFF, got {value!r}") from None


def _lwt(value: str) -> bool:
    if value == "Online":
        return True
    if value == "Offline":
        return False
    raise BadPayload(f"LWT must be Online or Offline, got {value!r}")


def _device_ts(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
