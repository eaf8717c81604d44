"""The canonical MQTT payloads of CONTRACT §1 as frozen, strictly typed pydantic models.

Every payload is one model. Parsing is strict (no `"true"` for a bool, no number for a time) and refuses
unknown fields, except telemetry, whose unknown fields are ignored as the contract says. Times are
aware UTC datetimes in Python and RFC 3339 UTC with milliseconds and `Z` on the wire (`format_ts`).

Use `encode(model)` to get the bytes to publish, and `decode(Model, payload)`, `parse_event(payload)`
or `parse_command(payload)` to read one; they raise `MessageError` whose `reason` (`too_large`,
`malformed_json`, `invalid`) is what the center counts dropped messages by. This module is shared by the
gateway and the center's bridge and imports no MQTT client.

Extensions beyond the contract's table (all optional, so the old form keeps working): telemetry
`bed_temp_c` and `device_ts`, an event's `device_ts` (the device's own clock, untrusted, kept as the
device wrote it), and an ack's `detail` (a sentence saying why a command was rejected).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

MAX_PAYLOAD_BYTES = 8 * 1024

# --- times -------------------------------------------------------------------------------------


def format_ts(value: datetime) -> str:
    """Render an aware datetime as RFC 3339 UTC with milliseconds and `Z`."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("a naive datetime has no place on the wire; give an aware one")
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def parse_ts(value: str | datetime) -> datetime:
    """Read an RFC 3339 time (or an aware datetime) as an aware UTC datetime; refuse naive ones."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an RFC 3339 time: {value!r}") from None
    else:
        raise ValueError(f"a time must be an RFC 3339 string, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"a time must carry its offset (use Z for UTC), got {value!r}")
    return parsed.astimezone(UTC)


def now_utc() -> datetime:
    """The current instant as an aware UTC datetime (the default clock of the edge)."""
    return datetime.now(UTC)


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_ts),
    PlainSerializer(format_ts, return_type=str, when_used="json"),
]

# --- identifiers and values ----------------------------------------------------------------------

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}$")]
# Ids minted by the center or the gateway (ULIDs, UUIDs, slugs): one token, no spaces, no slashes.
Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=1024)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]

Activity = Literal["busy", "idle", "off"]
SessionActivityKind = Literal["busy", "idle"]
StopType = Literal["normal", "deadline", "lock", "idle", "offline"]
Reason = Literal[
    "unknown_card",
    "no_booking",
    "no_training",
    "quota_exhausted",
    "maintenance",
    "fault",
    "closed",
    "booking_ended",
    "manager",
]
AckResult = Literal["applied", "rejected", "expired", "duplicate"]
MachineState = Literal["free", "in_use", "reserved", "blocked", "offline", "fault"]
StatusActivity = Literal["busy", "idle", "off", "unknown"]
EventType = Literal[
    "access.requested",
    "session.started",
    "session.activity",
    "session.stopped",
    "job.started",
    "job.finished",
    "job.failed",
    "fault.raised",
    "fault.cleared",
]
CommandName = Literal["unlock", "deny", "warn", "lock"]


class Message(BaseModel):
    """Base of every canonical payload: frozen, strict, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    # Optional fields left at None are omitted on the wire, unless a model keeps its nulls.
    keep_nulls: ClassVar[bool] = False


# --- center ------------------------------------------------------------------------------------


class CenterState(Message):
    """`fablab/v1/center/state`: `online` as birth, `offline` as will."""

    state: Literal["online", "offline"]


class MachineStatus(Message):
    """`fablab/v1/{site}/machine/{machine}/status`: the center's authoritative live state."""

    keep_nulls: ClassVar[bool] = True

    machine: Slug
    site: Slug
    state: MachineState
    activity: StatusActivity
    online: bool
    session_id: Ident | None = None
    member: ShortText | None = None
    booking_id: Ident | None = None
    since: Timestamp | None = None
    deadline: Timestamp | None = None
    rev: int = Field(ge=0)
    ts: Timestamp


# --- gateway -----------------------------------------------------------------------------------


class EdgeState(Message):
    """`…/edge/{gw}/state`: birth `ready` with the machines, will `lost`."""

    state: Literal["ready", "lost"]
    boot_id: Ident
    machines: list[Slug] | None = None

    @model_validator(mode="after")
    def _birth_names_machines(self) -> EdgeState:
        if self.state == "ready" and self.machines is None:
            raise ValueError("a ready (birth) state lists its machines")
        return self


class Heartbeat(Message):
    """`…/edge/{gw}/heartbeat`: sent every 30 s."""

    ts: Timestamp
    boot_id: Ident


class Availability(Message):
    """`…/machine/{machine}/availability`: the device's own will, mirrored by the gateway."""

    online: bool
    ts: Timestamp


class Telemetry(Message):
    """`…/machine/{machine}/telemetry`: measurements in W, Wh, °C and %; unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    ts: Timestamp
    boot_id: Ident
    seq: int = Field(ge=0)
    power_w: NonNegative | None = None
    energy_wh_total: NonNegative | None = None
    activity: Activity | None = None
    relay_on: bool | None = None
    temp_c: Finite | None = None
    progress_pct: Percent | None = None
    bed_temp_c: Finite | None = None
    device_ts: Text | None = None


class Ack(Message):
    """`…/machine/{machine}/ack`: the gateway's answer to one command."""

    cmd_id: Ident
    result: AckResult
    ts: Timestamp
    detail: Text | None = None


# --- events ------------------------------------------------------------------------------------


class AccessRequested(Message):
    """A member presented a card at the machine."""

    request_id: Ident
    card_uid: ShortText


class SessionStarted(Message):
    """The machine began a use (granted, or detected from power)."""

    session_id: Ident
    card_uid: ShortText | None = None


class SessionActivity(Message):
    """The session's machine turned busy or idle."""

    session_id: Ident
    activity: SessionActivityKind


class SessionStopped(Message):
    """The use ended; durations in seconds, energy in Wh (0 where the machine is not metered)."""

    session_id: Ident
    stop_type: StopType
    duration_s: NonNegative
    busy_s: NonNegative
    energy_wh: NonNegative


class JobData(Message):
    """A job (a print, a cut) started, finished or failed."""

    job: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    duration_s: NonNegative | None = None
    reason: Text | None = None


class FaultData(Message):
    """A fault raised or cleared on the machine."""

    code: ShortText
    message: Text


EventData = AccessRequested | SessionStarted | SessionActivity | SessionStopped | JobData | FaultData


class EventBase(Message):
    """The envelope every event carries; subclasses fix `type` and `data`."""

    event_id: Ident
    boot_id: Ident
    seq: int = Field(ge=0)
    ts: Timestamp
    device_ts: Text | None = None


class AccessRequestedEvent(EventBase):
    """`access.requested`: a card was presented."""

    type: Literal["access.requested"]
    data: AccessRequested


class SessionStartedEvent(EventBase):
    """`session.started`: a use began."""

    type: Literal["session.started"]
    data: SessionStarted


class SessionActivityEvent(EventBase):
    """`session.activity`: the machine turned busy or idle."""

    type: Literal["session.activity"]
    data: SessionActivity


class SessionStoppedEvent(EventBase):
    """`session.stopped`: a use ended, with its totals."""

    type: Literal["session.stopped"]
    data: SessionStopped


class JobStartedEvent(EventBase):
    """`job.started`: a print or cut began."""

    type: Literal["job.started"]
    data: JobData


class JobFinishedEvent(EventBase):
    """`job.finished`: a job completed."""

    type: Literal["job.finished"]
    data: JobData


class JobFailedEvent(EventBase):
    """`job.failed`: a job failed or was cancelled."""

    type: Literal["job.failed"]
    data: JobData


class FaultRaisedEvent(EventBase):
    """`fault.raised`: the machine reports a fault."""

    type: Literal["fault.raised"]
    data: FaultData


class FaultClearedEvent(EventBase):
    """`fault.cleared`: the fault is gone."""

    type: Literal["fault.cleared"]
    data: FaultData


Event = Annotated[
    AccessRequestedEvent
    | SessionStartedEvent
    | SessionActivityEvent
    | SessionStoppedEvent
    | JobStartedEvent
    | JobFinishedEvent
    | JobFailedEvent
    | FaultRaisedEvent
    | FaultClearedEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# Which data model each event type carries.
EVENT_DATA: dict[str, type[Message]] = {
    "access.requested": AccessRequested,
    "session.started": SessionStarted,
    "session.activity": SessionActivity,
    "session.stopped": SessionStopped,
    "job.started": JobData,
    "job.finished": JobData,
    "job.failed": JobData,
    "fault.raised": FaultData,
    "fault.cleared": FaultData,
}


def build_event(
    event_type: str,
    data: Message | Mapping[str, Any],
    *,
    event_id: str,
    boot_id: str,
    seq: int,
    ts: datetime,
    device_ts: str | None = None,
) -> Event:
    """Wrap typed `data` in the envelope of `event_type`; raise `ValueError` if they do not fit."""
    fields = data.model_dump() if isinstance(data, Message) else dict(data)
    envelope: dict[str, Any] = {
        "event_id": event_id,
        "boot_id": boot_id,
        "seq": seq,
        "ts": ts,
        "type": event_type,
        "data": fields,
    }
    if device_ts is not None:
        envelope["device_ts"] = device_ts
    return EVENT_ADAPTER.validate_python(envelope)


# --- commands ----------------------------------------------------------------------------------


class CommandBase(Message):
    """What every command carries: a unique `cmd_id` and the center's `ts`."""

    cmd_id: Ident
    ts: Timestamp


class Unlock(CommandBase):
    """Switch the machine on; switch it off locally after `max_duration_s` whatever happens."""

    cmd: Literal["unlock"]
    request_id: Ident | None = None
    session_id: Ident
    member: ShortText
    max_duration_s: Positive


class Deny(CommandBase):
    """Keep the machine off; show the reason where the machine can."""

    cmd: Literal["deny"]
    request_id: Ident
    reason: Reason


class Warn(CommandBase):
    """Show or signal a warning to the member using the machine."""

    cmd: Literal["warn"]
    session_id: Ident
    message: Annotated[str, StringConstraints(max_length=256)]
    seconds_left: NonNegative


class Lock(CommandBase):
    """Switch the machine off after `grace_s` (a busy job may finish within it)."""

    cmd: Literal["lock"]
    session_id: Ident | None = None
    reason: Reason
    grace_s: NonNegative


Command = Annotated[Unlock | Deny | Warn | Lock, Field(discriminator="cmd")]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

# --- encoding and decoding ---------------------------------------------------------------------


class MessageError(ValueError):
    """A payload that cannot be read; `reason` is the label it is counted under when dropped."""

    def __init__(self, reason: Literal["too_large", "malformed_json", "invalid"], detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


M = TypeVar("M", bound=Message)
T = TypeVar("T")


def encode(message: Message) -> bytes:
    """The UTF-8 JSON bytes to publish for `message` (unset optional fields omitted)."""
    return message.model_dump_json(exclude_none=not message.keep_nulls).encode()


def decode(model: type[M], payload: bytes | str) -> M:
    """Read `payload` as `model`; raise `MessageError` if it is too large, not JSON or invalid."""
    return _validate(TypeAdapter(model), payload)


def parse_event(payload: bytes | str) -> Event:
    """Read an event of any type, with the typed `data` of its `type`; raise `MessageError`."""
    return _validate(EVENT_ADAPTER, payload)


def parse_command(payload: bytes | str) -> Command:
    """Read a command (`unlock`, `deny`, `warn`, `lock`); raise `MessageError`."""
    return _validate(COMMAND_ADAPTER, payload)


def _validate(adapter: TypeAdapter[T], payload: bytes | str) -> T:
    size = len(payload.encode() if isinstance(payload, str) else payload)
    if size > MAX_PAYLOAD_BYTES:
        raise MessageError("too_large", f"payload of {size} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return adapter.validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise MessageError("malformed_json", f"not JSON: {errors[0]['msg']}") from None
        raise MessageError("invalid", _describe(errors)) from None


def _describe(errors: list[Any]) -> str:
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more
