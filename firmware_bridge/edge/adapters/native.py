"""Controllers that already speak the contract (an RFID reader with its own relay, our own firmware).

Such a controller runs the contract itself: it decides its sessions, keeps its own deadlines and acks
the commands it executes. The gateway relays it through one place (one MQTT identity, store-and-
forward of its events, the gateway's clock on every `ts`), on the controller's own prefix `<p>`:
- in `<p>/telemetry`: canonical telemetry fields (`ts`, `boot_id`, `seq` optional; the device's `ts`
  becomes `device_ts`);
- in `<p>/event`: `{"type", "data"}`, optionally with `event_id`, `boot_id` and `seq`, which are kept
  (all three or none) so a redelivery still dedups at the center; without them the gateway mints them;
- in `<p>/availability`: `{"online": bool}` or `true|false`, the controller's will (retained);
- in `<p>/ack`: `{"cmd_id", "result", "detail"?}`, relayed with the gateway's `ts`;
- out `<p>/cmd`: each canonical command exactly as the center sent it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from firmware_bridge.contract.messages import (
    EVENT_DATA,
    AckResult,
    Activity,
    Command,
    Finite,
    Ident,
    NonNegative,
    Percent,
    Text,
    encode,
)
from firmware_bridge.edge.adapters.base import (
    Adapter,
    BadPayload,
    CanonicalAck,
    CanonicalEvent,
    Envelope,
    NativePublish,
    Observation,
    Online,
    Reading,
    load_json,
    load_object,
)

M = TypeVar("M", bound=BaseModel)


class _Measurements(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    ts: Text | None = None
    power_w: NonNegative | None = None
    energy_wh_total: NonNegative | None = None
    activity: Activity | None = None
    relay_on: bool | None = None
    temp_c: Finite | None = None
    progress_pct: Percent | None = None
    bed_temp_c: Finite | None = None


class _NativeEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: str
    data: dict[str, Any]
    event_id: Ident | None = None
    boot_id: Ident | None = None
    seq: int | None = None
    ts: Text | None = None
    device_ts: Text | None = None


class _NativeAck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    cmd_id: Ident
    result: AckResult
    ts: Text | None = None
    detail: Text | None = None


class NativeAdapter(Adapter):
    """A self-managed controller: its messages are validated and relayed, commands passed on."""

    name: ClassVar[str] = "native"
    self_managed: ClassVar[bool] = True

    def subscriptions(self) -> Sequence[str]:
        """The controller's telemetry, events, availability and acks."""
        prefix = self.source
        return (
            f"{prefix}/telemetry",
            f"{prefix}/event",
            f"{prefix}/availability",
            f"{prefix}/ack",
        )

    def translate(self, topic: str, payload: bytes) -> list[Observation]:
        """Validate one canonical message from the controller."""
        leaf = topic.removeprefix(f"{self.source}/")
        if leaf == "telemetry":
            measured = _validate(_Measurements, load_object(payload))
            fields = measured.model_dump(exclude={"ts"})
            return [Reading(**fields, device_ts=measured.ts)]
        if leaf == "event":
            return [_event(_validate(_NativeEvent, load_object(payload)))]
        if leaf == "availability":
            return [Online(_online(load_json(payload)))]
        if leaf == "ack":
            ack = _validate(_NativeAck, load_object(payload))
            return [CanonicalAck(ack.cmd_id, ack.result, ack.detail)]
        return []

    def forward(self, command: Command) -> list[NativePublish]:
        """The command, unchanged, on `<p>/cmd`."""
        return [NativePublish(f"{self.source}/cmd", encode(command))]


def _event(raw: _NativeEvent) -> CanonicalEvent:
    data_model = EVENT_DATA.get(raw.type)
    if data_model is None:
        raise BadPayload(f"unknown event type {raw.type!r}")
    data = _validate(data_model, raw.data)
    envelope = None
    if raw.event_id is not None and raw.boot_id is not None and raw.seq is not None:
        if raw.seq < 0:
            raise BadPayload("seq must not be negative")
        envelope = Envelope(raw.event_id, raw.boot_id, raw.seq)
    elif (raw.event_id, raw.boot_id, raw.seq) != (None, None, None):
        raise BadPayload("give event_id, boot_id and seq together, or none of them")
    return CanonicalEvent(raw.type, data, envelope, raw.device_ts or raw.ts)


def _online(value: Any) -> bool:
    if isinstance(value, dict):
        value = value.get("online")
    if isinstance(value, bool):
        return value
    raise BadPayload(f"availability must be true, false or {{'online': bool}}, got {value!r}")


def _validate(model: type[M], value: dict[str, Any]) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise BadPayload(f"{where}: {first['msg']}") from None
