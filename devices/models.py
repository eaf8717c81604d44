"""The machines' tables: registry, live state, events, sessions, commands, maintenance, alerts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel
from ulid import ULID

from booking.models import enum_column, utc_column


def new_id() -> str:
    """A new id for a session, command or alert: a ULID in lower case (sorts by time)."""
    return str(ULID()).lower()


class MachineState(enum.StrEnum):
    free = "free"
    in_use = "in_use"
    reserved = "reserved"
    blocked = "blocked"
    offline = "offline"
    fault = "fault"


class Activity(enum.StrEnum):
    busy = "busy"
    idle = "idle"
    off = "off"
    unknown = "unknown"


class AlertKind(enum.StrEnum):
    due = "due"
    overdue = "overdue"
    fault = "fault"
    offline = "offline"
    unbooked_use = "unbooked_use"
    quota = "quota"
    # A member reported a problem with a machine or a room (one alert per report).
    reported = "reported"


class Machine(SQLModel, table=True):
    """A bookable resource of kind `machine`, the gateway that speaks for it, and its live state."""

    id: str = Field(foreign_key="resource.id", primary_key=True, max_length=64)
    site_id: str = Field(foreign_key="site.id", index=True, max_length=64)
    gateway_id: str = Field(index=True, max_length=64)
    adapter: str = Field(default="native", max_length=16)
    offline_after_s: int = 90
    # A lock lets a running job finish within this many seconds.
    grace_s: int = 120
    busy_on_w: float | None = None
    busy_off_w: float | None = None
    # Counters since the machine was registered.
    runtime_s: int = 0
    jobs: int = 0
    energy_wh: float = 0.0
    # Live state, published retained on fablab/v1/{site}/machine/{machine}/status.
    state: MachineState = Field(default=MachineState.offline, sa_column=enum_column(MachineState, 16))
    activity: Activity = Field(default=Activity.unknown, sa_column=enum_column(Activity, 16))
    online: bool = False
    session_id: str | None = Field(default=None, max_length=64)
    member_id: str | None = Field(default=None, max_length=64)
    booking_id: str | None = Field(default=None, max_length=32)
    since: datetime = Field(sa_column=utc_column())
    deadline: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    rev: int = 0
    last_seen_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    power_w: float | None = None
    fault_code: str | None = Field(default=None, max_length=64)
    fault_message: str | None = Field(default=None, max_length=500)
    # What the last published status showed, to publish (and bump `rev`) only on a change.
    shown: str = Field(default="", max_length=400)


class Gateway(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    site_id: str = Field(foreign_key="site.id", max_length=64)
    state: str = Field(default="unknown", max_length=16)
    boot_id: str | None = Field(default=None, max_length=64)
    last_seen_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class DeviceEvent(SQLModel, table=True):
    """Every event a gateway sent, stored once: its `event_id` is the key, so a redelivery is a no-op."""

    __table_args__ = (sa.Index("ix_deviceevent_machine_ts", "machine_id", "ts"),)

    event_id: str = Field(primary_key=True, max_length=64)
    machine_id: str = Field(foreign_key="machine.id", max_length=64)
    gateway_id: str = Field(max_length=64)
    boot_id: str = Field(max_length=64)
    seq: int
    type: str = Field(max_length=32)
    ts: datetime = Field(sa_column=utc_column())
    received_at: datetime = Field(sa_column=utc_column())
    data: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))


class SeqCursor(SQLModel, table=True):
    """The highest event `seq` seen per gateway boot and machine, to notice gaps."""

    gateway_id: str = Field(primary_key=True, max_length=64)
    machine_id: str = Field(primary_key=True, max_length=64)
    boot_id: str = Field(primary_key=True, max_length=64)
    last_seq: int


class UsageSession(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("machine_id", "external_id", name="uq_usagesession_machine_external"),
        sa.Index("ix_usagesession_machine_started", "machine_id", "started_at"),
    )

    id: str = Field(primary_key=True, max_length=32)
    machine_id: str = Field(foreign_key="machine.id", max_length=64)
    # The session id on the wire (minted by the center at unlock, or by the gateway when it sees power).
    external_id: str = Field(max_length=64)
    member_id: str | None = Field(default=None, foreign_key="member.id", index=True, max_length=64)
    booking_id: str | None = Field(default=None, foreign_key="booking.id", max_length=32)
    card_uid: str | None = Field(default=None, max_length=64)
    quota_group: str | None = Field(default=None, max_length=64)
    started_at: datetime = Field(sa_column=utc_column())
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    duration_s: float | None = None
    busy_s: float | None = None
    energy_wh: float | None = None
    stop_type: str | None = Field(default=None, max_length=16)
    # Live estimate while open: busy seconds so far, and since when it is busy now.
    busy_so_far_s: float = 0.0
    busy_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    warned_quota: bool = False
    warned_end: bool = False
    lock_sent: bool = False


class MachineCommand(SQLModel, table=True):
    """Each command sent to a machine, and the gateway's ack."""

    cmd_id: str = Field(primary_key=True, max_length=64)
    machine_id: str = Field(foreign_key="machine.id", index=True, max_length=64)
    cmd: str = Field(max_length=16)
    payload: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=utc_column())
    result: str | None = Field(default=None, max_length=16)
    acked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class MaintenancePlan(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    machine_id: str = Field(foreign_key="machine.id", index=True, max_length=64)
    name: str = Field(max_length=200)
    every_runtime_h: float | None = None
    every_jobs: int | None = None
    every_days: int | None = None
    last_done_at: datetime = Field(sa_column=utc_column())
    runtime_s_at_done: int = 0
    jobs_at_done: int = 0


class MaintenanceLog(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="maintenanceplan.id", index=True)
    machine_id: str = Field(foreign_key="machine.id", max_length=64)
    done_at: datetime = Field(sa_column=utc_column())
    done_by: str = Field(max_length=64)
    note: str = Field(default="", max_length=1000)


class Alert(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_alert_site_opened", "site_id", "opened_at"),)

    id: str = Field(primary_key=True, max_length=32)
    kind: AlertKind = Field(sa_column=enum_column(AlertKind, 16))
    site_id: str = Field(foreign_key="site.id", max_length=64)
    machine_id: str | None = Field(default=None, foreign_key="machine.id", max_length=64)
    plan_id: int | None = Field(default=None, foreign_key="maintenanceplan.id")
    member_id: str | None = Field(default=None, max_length=64)
    # The sentence in English (logs, the API); `data` keeps the Message, rendered per reader.
    message: str = Field(max_length=1000)
    data: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # Set while the alert is open, so the same condition never opens a second alert; NULL once resolved.
    open_key: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(200), nullable=True, unique=True)
    )
    opened_at: datetime = Field(sa_column=utc_column())
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    acknowledged_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    resolved_by: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=1000)


class ProblemReport(SQLModel, table=True):
    """A problem a member (or a passer-by at the kiosk) reported with a machine or a room, with an
    optional photo; it opens an alert for the site's managers, whose handling is the report's state."""

    __table_args__ = (sa.Index("ix_problemreport_member", "member_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    site_id: str = Field(foreign_key="site.id", max_length=64)
    resource_id: str = Field(foreign_key="resource.id", max_length=64)
    member_id: str | None = Field(default=None, max_length=64)
    description: str = Field(max_length=1000)
    # The photo lives with the rest of the center's data (backed up with it); at most a few MiB.
    photo: bytes | None = Field(default=None, sa_column=sa.Column(sa.LargeBinary, nullable=True))
    photo_type: str | None = Field(default=None, max_length=32)
    alert_id: str = Field(foreign_key="alert.id", max_length=32)
    created_at: datetime = Field(sa_column=utc_column())


class JobRun(SQLModel, table=True):
    """One run of a scheduled job: which process ran it, when, and how it ended."""

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True, max_length=64)
    worker: str = Field(max_length=128)
    started_at: datetime = Field(sa_column=utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ok: bool = False
    detail: str = Field(default="", max_length=500)
