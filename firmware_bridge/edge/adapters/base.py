"""What every device adapter is: native topics in, neutral observations out, native commands back.

An adapter is pure translation. It knows one device dialect and one device (its `source`: a Tasmota
topic, a Shelly id, an OctoPrint base topic, a native controller's prefix). It never touches the
network, the clock or the canonical topics: `translate` turns one native message into observations,
and `set_relay` / `show` / `forward` turn the gateway's decisions into native messages to publish. The
machine runtime (`firmware_bridge.edge.machine`) does the rest: sessions, timers, stamping.

Subscriptions are exact topics or filters ending in `/+`, so the gateway routes a message to its
adapter with two dictionary lookups whatever the number of machines.

Malformed device input raises `BadPayload`; the runtime counts, logs and drops it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from firmware_bridge.contract.messages import AckResult, Activity, Command, Message, format_ts


class BadPayload(ValueError):
    """A device message the adapter cannot read."""


# --- observations: what a native message says, in neutral terms ---------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """Measurements, normalised to W, Wh, °C and %; None where the message did not say."""

    power_w: float | None = None
    energy_wh_total: float | None = None
    relay_on: bool | None = None
    temp_c: float | None = None
    bed_temp_c: float | None = None
    progress_pct: float | None = None
    # Only devices that know their own activity say it; plugs leave it to the hysteresis.
    activity: Activity | None = None
    device_ts: str | None = None


@dataclass(frozen=True, slots=True)
class Online:
    """The device's own will or birth: it is reachable or not."""

    online: bool


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """A job (a print) started, finished or failed on the device."""

    phase: Literal["started", "finished", "failed"]
    job: str
    duration_s: float | None = None
    reason: str | None = None
    device_ts: str | None = None


@dataclass(frozen=True, slots=True)
class FaultUpdate:
    """The device raised or cleared a fault."""

    raised: bool
    code: str
    message: str
    device_ts: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The identity a self-managed controller gave its event; kept so the center dedups it."""

    event_id: str
    boot_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class CanonicalEvent:
    """An event a self-managed controller sent already in canonical form (typed `data`)."""

    event_type: str
    data: Message
    envelope: Envelope | None = None
    device_ts: str | None = None


@dataclass(frozen=True, slots=True)
class CanonicalAck:
    """A self-managed controller's answer to a command it executed itself."""

    cmd_id: str
    result: AckResult
    detail: str | None = None


Observation = Reading | Online | JobUpdate | FaultUpdate | CanonicalEvent | CanonicalAck


@dataclass(frozen=True, slots=True)
class NativePublish:
    """A message to the device in its own dialect. Commands are never retained."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


# --- the adapter ---------------------------------------------------------------------------------


class Adapter(ABC):
    """One device, one dialect. Subclasses set the class flags and implement `translate`."""

    name: ClassVar[str]
    # Power readings drive the busy/idle hysteresis and power-detected sessions.
    metered: ClassVar[bool] = False
    # The gateway can switch the machine on and off (a relay).
    switchable: ClassVar[bool] = False
    # The device runs the contract itself (sessions, deadlines, acks); the gateway only relays.
    self_managed: ClassVar[bool] = False

    def __init__(self, source: str, *, gateway: str = "gateway") -> None:
        self.source = source
        self.gateway = gateway

    @abstractmethod
    def subscriptions(self) -> Sequence[str]:
        """The native topics (exact, or ending in `/+`) this device publishes on."""

    @abstractmethod
    def translate(self, topic: str, payload: bytes) -> list[Observation]:
        """Observations in one native message; raise `BadPayload` if it cannot be read."""

    def set_relay(self, on: bool) -> list[NativePublish]:
        """Native messages that switch the machine on or off; none if it has no relay."""
        return []

    def show(self, text: str) -> list[NativePublish]:
        """Native messages that show `text` to the person at the machine; none if it cannot."""
        return []

    def forward(self, command: Command) -> list[NativePublish]:
        """Native messages carrying a canonical command to a self-managed controller."""
        return []


# --- helpers shared by the dialects --------------------------------------------------------------


def load_json(payload: bytes) -> Any:
    """Parse JSON device input or raise `BadPayload`."""
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayload(f"not JSON: {exc}") from None


def load_object(payload: bytes) -> dict[str, Any]:
    """Parse a JSON object or raise `BadPayload`."""
    value = load_json(payload)
    if not isinstance(value, dict):
        raise BadPayload(f"expected a JSON object, got {type(value).__name__}")
    return value


def number(value: Any, what: str) -> float | None:
    """A finite number, None if absent; `BadPayload` for anything else (bools are not numbers)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPayload(f"{what} must be a number, got {value!r}")
    result = float(value)
    if result != result or result in (float("inf"), float("-inf")):
        raise BadPayload(f"{what} must be finite, got {value!r}")
    return result


def text(payload: bytes) -> str:
    """A short plain-text payload (`Online`, `ON`, `true`), stripped; `BadPayload` if not UTF-8."""
    try:
        return payload.decode().strip()
    except UnicodeDecodeError:
        raise BadPayload("payload is not UTF-8 text") from None


def unix_ts(value: Any, what: str) -> str | None:
    """A device's Unix time in seconds as an RFC 3339 string for `device_ts`; None if absent."""
    seconds = number(value, what)
    if seconds is None:
        return None
    try:
        return format_ts(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        raise BadPayload(f"{what} is not a Unix time: {value!r}") from None
