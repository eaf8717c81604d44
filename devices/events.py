"""What a machine reports, as the machines' domain receives it: one frozen type per event.

The bridge validates a message against the wire contract (CONTRACT §1) and builds the matching event
here; the domain `match`es on its type, so every field arrives typed and nothing is looked up by a
string. `event_data` gives an event's own fields as the contract's `data` object: what is stored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from devices.models import Activity

StopType = Literal["normal", "deadline", "lock", "idle", "offline"]

# An event time further from the center's clock than this is not believed.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
MAX_EVENT_AGE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every event carries: its id (unique, so a redelivery is known), the gateway's boot and
    sequence number it came with, and the gateway's time of it."""

    event_id: str
    boot_id: str
    seq: int
    ts: datetime


@dataclass(frozen=True, slots=True)
class AccessRequested:
    """A member presented a card at the machine."""

    type: ClassVar[str] = "access.requested"
    envelope: Envelope
    request_id: str
    card_uid: str


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The machine began a use: granted by an unlock, or detected from its power."""

    type: ClassVar[str] = "session.started"
    envelope: Envelope
    session_id: str
    card_uid: str | None


@dataclass(frozen=True, slots=True)
class SessionActivity:
    """The session's machine turned busy or idle."""

    type: ClassVar[str] = "session.activity"
    envelope: Envelope
    session_id: str
    activity: Activity


@dataclass(frozen=True, slots=True)
class SessionStopped:
    """A use ended, with its totals: seconds on, seconds busy, energy in Wh (0 where not metered)."""

    type: ClassVar[str] = "session.stopped"
    envelope: Envelope
    session_id: str
    stop_type: StopType
    duration_s: float
    busy_s: float
    energy_wh: float


@dataclass(frozen=True, slots=True)
class _Job:
    envelope: Envelope
    job: str
    duration_s: float | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class JobStarted(_Job):
    """A job (a print, a cut) began."""

    type: ClassVar[str] = "job.started"


@dataclass(frozen=True, slots=True)
class JobFinished(_Job):
    """A job completed."""

    type: ClassVar[str] = "job.finished"


@dataclass(frozen=True, slots=True)
class JobFailed(_Job):
    """A job failed or was cancelled."""

    type: ClassVar[str] = "job.failed"


@dataclass(frozen=True, slots=True)
class FaultRaised:
    """The machine reports a fault."""

    type: ClassVar[str] = "fault.raised"
    envelope: Envelope
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FaultCleared:
    """The machine reports its fault gone."""

    type: ClassVar[str] = "fault.cleared"
    envelope: Envelope
    code: str
    message: str


MachineEvent = (
    AccessRequested
    | SessionStarted
    | SessionActivity
    | SessionStopped
    | JobStarted
    | JobFinished
    | JobFailed
    | FaultRaised
    | FaultCleared
)


def event_data(event: MachineEvent) -> dict[str, object]:
    """The event's own fields (all but the envelope) as the contract's `data` object, in JSON types."""
    return {
        field.name: _plain(getattr(event, field.name)) for field in fields(event) if field.name != "envelope"
    }


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


def sane_event_time(ts: datetime, now: datetime) -> bool:
    """Whether a gateway's time stamp is believable: not ahead of the center, not ancient."""
    return now - MAX_EVENT_AGE <= ts <= now + MAX_CLOCK_AHEAD
