"""3D printers through OctoPrint's MQTT plugin (base topic `octoPrint` by default, one per printer).

Read, under the base topic `<b>`:
- `<b>/event/PrintStarted|PrintDone|PrintFailed` with `name`, `time` (seconds printed), `reason`
  (`error|cancelled`) and `_timestamp` (Unix seconds, kept as `device_ts`);
- `<b>/event/Error` (a printer error: a fault) and `<b>/event/Connected` (the printer is back: the
  fault clears);
- `<b>/progress/printing` `{"progress": %}`;
- `<b>/temperature/tool0|bed` `{"actual": °C, "target": °C}`;
- `<b>/mqtt` `connected|disconnected`, the plugin's will (retained).
OctoPrint takes no commands over MQTT and the printer has no relay here, so a print is both the job
and the session, and `unlock`/`lock` only keep the session books.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from firmware_bridge.edge.adapters.base import (
    Adapter,
    BadPayload,
    FaultUpdate,
    JobUpdate,
    Observation,
    Online,
    Reading,
    load_object,
    number,
    text,
    unix_ts,
)

_PHASES: dict[str, Literal["started", "finished", "failed"]] = {
    "PrintStarted": "started",
    "PrintDone": "finished",
    "PrintFailed": "failed",
}
FAULT_CODE = "printer_error"


class OctoPrintAdapter(Adapter):
    """An OctoPrint printer: jobs, progress and temperatures; not metered, not switchable."""

    name: ClassVar[str] = "octoprint"

    def __init__(self, source: str, *, gateway: str = "gateway") -> None:
        super().__init__(source, gateway=gateway)
        self._fault_open = False

    def subscriptions(self) -> Sequence[str]:
        """Events, progress, temperatures and the plugin's will."""
        base = self.source
        return (f"{base}/event/+", f"{base}/progress/printing", f"{base}/temperature/+", f"{base}/mqtt")

    def translate(self, topic: str, payload: bytes) -> list[Observation]:
        """Read print events, errors, progress, temperatures and the will; ignore other events."""
        base = self.source
        if topic == f"{base}/mqtt":
            return [Online(_connected(text(payload)))]
        prefix, _, leaf = topic.rpartition("/")
        if prefix == f"{base}/event":
            return self._event(leaf, load_object(payload))
        if topic == f"{base}/progress/printing":
            body = load_object(payload)
            return [
                Reading(
                    progress_pct=_percent(number(body.get("progress"), "progress")),
                    device_ts=unix_ts(body.get("_timestamp"), "_timestamp"),
                )
            ]
        if prefix == f"{base}/temperature" and leaf in ("tool0", "bed"):
            body = load_object(payload)
            actual = number(body.get("actual"), "actual")
            device_ts = unix_ts(body.get("_timestamp"), "_timestamp")
            if leaf == "tool0":
                return [Reading(temp_c=actual, device_ts=device_ts)]
            return [Reading(bed_temp_c=actual, device_ts=device_ts)]
        return []

    def _event(self, name: str, body: dict[str, Any]) -> list[Observation]:
        device_ts = unix_ts(body.get("_timestamp"), "_timestamp")
        phase = _PHASES.get(name)
        if phase is not None:
            job = body.get("name") or body.get("path")
            if not isinstance(job, str) or not job:
                raise BadPayload(f"{name} names no file")
            reason = body.get("reason")
            return [
                JobUpdate(
                    phase=phase,
                    job=job[:256],
                    duration_s=number(body.get("time"), "time") if phase != "started" else None,
                    reason=str(reason)[:1024] if phase == "failed" and reason else None,
                    device_ts=device_ts,
                )
            ]
        if name == "Error":
            self._fault_open = True
            message = body.get("error") or body.get("reason") or "printer error"
            return [FaultUpdate(True, FAULT_CODE, str(message)[:1024], device_ts)]
        if name == "Connected" and self._fault_open:
            self._fault_open = False
            return [FaultUpdate(False, FAULT_CODE, "printer connected again", device_ts)]
        return []


def _connected(value: str) -> bool:
    if value == "connected":
        return True
    if value == "disconnected":
        return False
    raise BadPayload(f"mqtt state must be connected or disconnected, got {value!r}")


def _percent(value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 <= value <= 100:
        raise BadPayload(f"progress must be 0 to 100, got {value}")
    return value
