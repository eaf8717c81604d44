"""What the booking domain takes in (XCreate / XUpdate) and gives out (XRead)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from booking.models import (
    LONGEST_BOOKING_MINUTES,
    BookingStatus,
    EventKind,
    EventStatus,
    QuotaPeriod,
    RegistrationStatus,
    ResourceKind,
    Role,
    WaitlistStatus,
)


def format_ts(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds and Z, as CONTRACT.md fixes: 2026-03-02T07:15:00.000Z."""
    # isoformat, not strftime: a third of the time, for each instant of each answer.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


Timestamp = Annotated[datetime, PlainSerializer(format_ts, return_type=str)]


def _reasonable(value: datetime) -> datetime:
    if not 2000 <= value.year <= 2199:
        raise ValueError("must be between the years 2000 and 2199")
    return value


# A time a person may book or ask about: aware (with an offset), and within two centuries.
When = Annotated[AwareDatetime, AfterValidator(_reasonable)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,64}$")]
# A local wall-clock time, HH:MM (24 h).
LocalTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- sites and resources ------------------------------------------------------------------------


class SiteRead(_Out):
    id: str
    name: str
    name_en: str
    timezone: str
    holiday_country: str
    opening_hours: dict[str, list[list[str]]]
    address: str
    approve_members: bool = False


class SiteCreate(_In):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    timezone: str = Field(default="Asia/Ho_Chi_Minh", max_length=64)
    holiday_country: str = Field(default="VN", max_length=2)
    opening_hours: dict[str, list[list[str]]]
    address: str = Field(default="", max_length=400)
    # Members who signed up themselves book here once a manager approved them.
    approve_members: bool = False


class SiteUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    timezone: str = Field(default="Asia/Ho_Chi_Minh", max_length=64)
    holiday_country: str = Field(default="VN", max_length=2)
    opening_hours: dict[str, list[list[str]]]
    address: str = Field(default="", max_length=400)
    # Members who signed up themselves book here once a manager approved them.
    approve_members: bool = False


class ClosureCreate(_In):
    start: When
    end: When
    reason: str = Field(min_length=1, max_length=200)
    # What becomes of the active bookings the closure covers: kept (the default) or cancelled; their
    # members are told either way.
    on_bookings: Literal["keep", "cancel"] = "keep"


class ClosureRead(_Out):
    id: int
    site_id: str
    start: Timestamp
    end: Timestamp
    reason: str
    cancelled_bookings: list[str] = []
    kept_bookings: list[str] = []


class ResourceRules(BaseModel):
    slot_minutes: int
    min_minutes: int
    max_minutes: int
    lead_minutes: int
    max_days_ahead: int
    buffer_minutes: int
    requires_approval: bool
    allow_walk_in: bool
    quota_group: str | None


class ResourceRead(BaseModel):
    id: str
    site: str
    kind: ResourceKind
    name: str
    name_en: str
    description: str
    capacity: int
    requires_training: str | None
    rules: ResourceRules
    active: bool


class ResourceCreate(_In):
    id: Slug
    site_id: Slug
    kind: ResourceKind
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    capacity: int = Field(default=1, ge=1, le=10_000)
    slot_minutes: int = Field(default=30, ge=5, le=1440)
    min_minutes: int = Field(default=30, ge=5, le=1440)
    max_minutes: int = Field(default=240, ge=5, le=LONGEST_BOOKING_MINUTES)
    lead_minutes: int = Field(default=0, ge=0)
    max_days_ahead: int = Field(default=60, ge=1, le=730)
    buffer_minutes: int = Field(default=0, ge=0, le=1440)
    requires_approval: bool = False
    training_id: Slug | None = None
    quota_group: Slug | None = None
    allow_walk_in: bool = True


class ResourceUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    capacity: int = Field(default=1, ge=1, le=10_000)
    slot_minutes: int = Field(default=30, ge=5, le=1440)
    min_minutes: int = Field(default=30, ge=5, le=1440)
    max_minutes: int = Field(default=240, ge=5, le=LONGEST_BOOKING_MINUTES)
    lead_minutes: int = Field(default=0, ge=0)
    max_days_ahead: int = Field(default=60, ge=1, le=730)
    buffer_minutes: int = Field(default=0, ge=0, le=1440)
    requires_approval: bool = False
    training_id: Slug | None = None
    quota_group: Slug | None = None
    allow_walk_in: bool = True
    active: bool = True


# --- members, trainings, plans ------------------------------------------------------------------


class MemberCreate(_In):
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(default="", max_length=200)
    password: str = Field(min_length=10, max_length=1024)
    role: Role = Role.member
    plan_id: Slug | None = None
    card_uid: str | None = Field(default=None, pattern=r"^[A-Fa-f0-9:]{4,64}$")
    language: str = Field(default="vi", pattern=r"^(vi|en)$")
    sites: list[Slug] = Field(default_factory=list)


class MemberUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    plan_id: Slug | None = None
    card_uid: str | None = Field(default=None, pattern=r"^[A-Fa-f0-9:]{4,64}$")
    language: str = Field(default="vi", pattern=r"^(vi|en)$")
    active: bool = True
    sites: list[Slug] = Field(default_factory=list)


class MemberRead(_Out):
    id: str
    email: str
    name: str
    role: Role
    plan_id: str | None
    language: str
    kiosk_site_id: str | None
    sites: list[str] = Field(default_factory=list)


class TrainingRead(_Out):
    id: str
    name: str
    name_en: str
    valid_days: int | None


class TrainingCreate(_In):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    valid_days: int | None = Field(default=None, ge=1, le=3650)


class MemberTrainingRead(BaseModel):
    training_id: str
    name: str
    granted_at: Timestamp
    expires_at: Timestamp | None
    valid: bool


class QuotaRuleRead(_Out):
    quota_group: str
    period: QuotaPeriod
    max_hours: float | None
    max_bookings: int | None
    max_future_bookings: int | None
    max_runtime_hours: float | None


class QuotaRuleCreate(_In):
    quota_group: Slug
    period: QuotaPeriod
    max_hours: float | None = Field(default=None, ge=0)
    max_bookings: int | None = Field(default=None, ge=0)
    max_future_bookings: int | None = Field(default=None, ge=0)
    max_runtime_hours: float | None = Field(default=None, ge=0)


class PlanCreate(_In):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    monthly_price_vnd: int = Field(default=0, ge=0)


class PlanUpdate(_In):
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    monthly_price_vnd: int = Field(default=0, ge=0)


class PlanRead(BaseModel):
    id: str
    name: str
    name_en: str
    monthly_price_vnd: int
    quotas: list[QuotaRuleRead]


class QuotaRead(BaseModel):
    """One rule of the member's plan with what the member holds against it now."""

    quota_group: str
    # Extensions: the group's name as an admin set it (empty: the pages use their words for the id).
    group_name: str = ""
    group_name_en: str = ""
    period: QuotaPeriod
    period_start: Timestamp
    period_end: Timestamp
    limit_hours: float | None
    booked_hours: float
    used_hours: float
    limit_runtime_hours: float | None
    limit_bookings: int | None
    bookings: int
    limit_future_bookings: int | None
    future_bookings: int


# --- bookings -----------------------------------------------------------------------------------


class BookingCreate(_In):
    resource_id: Slug
    start: When
    end: When
    seats: int = Field(default=1, ge=1, le=10_000)
    rrule: str | None = Field(default=None, max_length=500)
    # With an rrule: book the free occurrences and list the others, instead of refusing them all.
    skip_conflicts: bool = False
    note: str = Field(default="", max_length=500)
    # A manager, an admin or the site's kiosk may book for a member.
    member: Slug | None = None


class BookingRead(BaseModel):
    id: str
    resource_id: str
    site: str
    member: str
    start: Timestamp
    end: Timestamp
    seats: int
    status: BookingStatus
    code: str
    series_id: str | None
    note: str
    created_at: Timestamp
    checked_in_at: Timestamp | None
    booked_by: str | None = None


class BookingUpdate(_In):
    """Move a booking: another time, another resource of the same kind, or both (omitted = unchanged)."""

    start: When | None = None
    end: When | None = None
    resource_id: Slug | None = None


class SeriesUpdate(_In):
    """Move the occurrences of a series that have not started: to other local times, another weekday."""

    start_time: LocalTime | None = None
    end_time: LocalTime | None = None
    # 0 = Monday … 6 = Sunday: each occurrence moves to that weekday of its own week.
    weekday: int | None = Field(default=None, ge=0, le=6)
    # Move the free occurrences and list the others (they keep their time), instead of refusing all.
    skip_conflicts: bool = False


class CancelReason(_In):
    reason: str = Field(default="", max_length=500)


class SkippedOccurrence(BaseModel):
    start: Timestamp
    end: Timestamp
    reason: str


class SeriesRead(BaseModel):
    series_id: str
    rrule: str
    bookings: list[BookingRead]
    skipped: list[SkippedOccurrence]


class SeriesChangeRead(BaseModel):
    series_id: str
    bookings: list[BookingRead]
    skipped: list[SkippedOccurrence]


class FreeSpan(BaseModel):
    start: Timestamp
    end: Timestamp
    seats: int | None = None


class AvailabilityRead(BaseModel):
    resource_id: str
    free: list[FreeSpan]


class WaitlistCreate(_In):
    resource_id: Slug
    start: When
    end: When
    seats: int = Field(default=1, ge=1, le=10_000)


class WaitlistRead(BaseModel):
    id: str
    resource_id: str
    member: str
    start: Timestamp
    end: Timestamp
    seats: int
    status: WaitlistStatus
    booking_id: str | None
    position: int | None
    created_at: Timestamp


class DecisionCreate(_In):
    note: str = Field(default="", max_length=500)


# --- events -------------------------------------------------------------------------------------


class EventSessionCreate(_In):
    resource_id: str = Field(min_length=1, max_length=64)
    start: When
    end: When


class EventCreate(_In):
    site: str = Field(min_length=1, max_length=64)
    kind: EventKind
    title: str = Field(min_length=1, max_length=200)
    title_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    description_en: str = Field(default="", max_length=4000)
    # Bounds wide enough for the rules to refuse a wrong number in words.
    capacity: int = Field(ge=-1_000_000, le=1_000_000)
    public: bool = True
    training_id: str | None = Field(default=None, max_length=64)
    required_plan_id: str | None = Field(default=None, max_length=64)
    required_training_id: str | None = Field(default=None, max_length=64)
    opens_at: When | None = None
    closes_at: When | None = None
    sessions: list[EventSessionCreate] = Field(max_length=20_000)
    # Repeats the first session (FREQ=WEEKLY;COUNT=10); the rest of `sessions` is then not allowed.
    rrule: str | None = Field(default=None, max_length=500)


class EventUpdate(_In):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    description_en: str | None = Field(default=None, max_length=4000)
    capacity: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    public: bool | None = None
    opens_at: When | None = None
    closes_at: When | None = None
    # The whole new list of sessions: those kept stay (with their attendance), the rest are released
    # and the new ones booked, all or nothing.
    sessions: list[EventSessionCreate] | None = Field(default=None, max_length=20_000)


class EventMessage(_In):
    text: str = Field(min_length=1, max_length=1000)


class EventSessionRead(BaseModel):
    id: str
    resource_id: str
    start: Timestamp
    end: Timestamp


class EventRead(BaseModel):
    id: str
    site: str
    kind: EventKind
    title: str
    title_en: str
    description: str
    description_en: str
    capacity: int
    registered: int
    waitlisted: int
    seats_left: int
    training_id: str | None
    required_plan_id: str | None
    required_training_id: str | None
    public: bool
    opens_at: Timestamp | None
    closes_at: Timestamp | None
    start: Timestamp
    end: Timestamp
    sessions: list[EventSessionRead]
    status: EventStatus


class RegistrationCreate(_In):
    # A guest's name and e-mail (public events, no account); a signed-in member sends neither.
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    # A manager registering a member on their behalf.
    member: str | None = Field(default=None, max_length=64)


class RegistrationRead(BaseModel):
    id: str
    event_id: str
    member: str | None
    name: str
    status: RegistrationStatus
    position: int | None
    code: str
    attended: bool
    attended_sessions: list[str]
    passed: bool
    created_at: Timestamp


class AttendanceCreate(_In):
    code: str | None = Field(default=None, max_length=32)
    registration_id: str | None = Field(default=None, max_length=32)
    # The session attended; by default the one under way (or beginning within the hour).
    session_id: str | None = Field(default=None, max_length=32)
    # Only for managers: the instructor marks a training's registrant as passed.
    passed: bool | None = None
