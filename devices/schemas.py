"""What the machines' domain takes in and gives out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from booking.schemas import Slug, Timestamp
from devices.models import Activity, AlertKind, MachineState


class MachineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Slug
    site_id: Slug
    name: str = Field(min_length=1, max_length=200)
    name_en: str = ""
    gateway_id: Slug
    adapter: str = Field(default="native", pattern=r"^(tasmota|shelly|octoprint|native)$")
    training_id: Slug | None = None
    quota_group: Slug | None = None
    offline_after_s: int = Field(default=90, ge=10, le=86_400)
    grace_s: int = Field(default=120, ge=0, le=3600)
    busy_on_w: float | None = Field(default=None, ge=0)
    busy_off_w: float | None = Field(default=None, ge=0)
    max_minutes: int = Field(default=240, ge=5)
    buffer_minutes: int = Field(default=0, ge=0)


class MachineRead(BaseModel):
    """A machine's live status, exactly the contract's status payload plus a few readable extras."""

    machine: str
    site: str
    state: MachineState
    activity: Activity
    online: bool
    session_id: str | None
    member: str | None
    booking_id: str | None
    since: Timestamp | None
    deadline: Timestamp | None
    rev: int
    ts: Timestamp
    name: str = ""
    # The English name, for pages read in English; not part of the published status.
    name_en: str = Field(default="", exclude=True)
    power_w: float | None = None
    fault: str | None = None


class UsageSessionRead(BaseModel):
    id: str
    machine: str
    member: str | None
    booking_id: str | None
    started_at: Timestamp
    ended_at: Timestamp | None
    duration_s: float | None
    busy_s: float | None
    energy_wh: float | None
    stop_type: str | None


class AlertRead(BaseModel):
    id: str
    kind: AlertKind
    site: str
    machine: str | None
    message: str
    opened_at: Timestamp
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None
    resolved_at: Timestamp | None
    resolved_by: str | None
    note: str
    # The sentence as a Message (pages render it in the reader's language); not part of the API.
    data: dict[str, Any] | None = Field(default=None, exclude=True)


class AlertDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=1000)


class MaintenancePlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    every_runtime_h: float | None = Field(default=None, gt=0)
    every_jobs: int | None = Field(default=None, gt=0)
    every_days: int | None = Field(default=None, gt=0)


class MaintenancePlanRead(BaseModel):
    id: int
    machine: str
    name: str
    every_runtime_h: float | None
    every_jobs: int | None
    every_days: int | None
    last_done_at: Timestamp
    status: str
    progress: str
    ratio: float
