"""The booking domain's tables. Times are stored in UTC; see `UTCDateTime`."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# The SQLite texts of the latest UTC instants bound (UTCDateTime.bind_processor), up to _KEPT_TEXTS
# of them; then it starts afresh.
_SQLITE_TEXTS: dict[datetime, str] = {}
_KEPT_TEXTS = 4096


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC instant on every database.

    PostgreSQL stores `timestamptz`; SQLite has no zone, so the value is stored as naive UTC text in
    one fixed format (which keeps lexicographic order equal to time order, as the overlap trigger
    relies on) and comes back aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC instant is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, the stored text in one step: SQLAlchemy's own processor formats through a dict
        of seven fields, twice the cost. The text is the same (`%Y-%m-%d %H:%M:%S.%f`, the format the
        overlap triggers compare; tests hold it). A booking binds some twenty instants, most of them
        its start, its end and its clock several times over, in several statements: the texts of the
        latest UTC instants are kept, for every column and parameter, and a kept one costs a lookup."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        texts = _SQLITE_TEXTS

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            zone = value.tzinfo
            if zone is UTC:
                text = texts.get(value)
                if text is not None:
                    return text
            elif zone is None:
                raise ValueError("naive datetime given where an aware UTC instant is required")
            # isoformat of the aware instant ends in "+00:00": the first 26 characters are the text.
            text = value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
            if zone is UTC:  # only UTC ones are kept: in a zone with summer time, two instants an
                # hour apart can compare equal (an hour that repeats, told apart by `fold` alone)
                if len(texts) >= _KEPT_TEXTS:
                    texts.clear()
                texts[value] = text
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(
    enum_type: type[enum.StrEnum], length: int, *, index: bool = False, primary_key: bool = False
) -> Any:
    """A VARCHAR column holding a StrEnum's values, read back as enum members (never bare strings)."""
    return sa.Column(
        sa.Enum(
            enum_type,
            native_enum=False,
            create_constraint=False,
            length=length,
            values_callable=lambda members: [m.value for m in members],
        ),
        nullable=False,
        index=index,
        primary_key=primary_key,
    )


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    """A `UTCDateTime` column for a SQLModel `Field(sa_column=...)`."""
    return sa.Column(UTCDateTime(), nullable=nullable, index=index)


class ResourceKind(enum.StrEnum):
    room = "room"
    desk_pool = "desk_pool"
    stem_space = "stem_space"
    training_room = "training_room"
    online_room = "online_room"
    machine = "machine"


class Role(enum.StrEnum):
    member = "member"
    manager = "manager"
    admin = "admin"
    kiosk = "kiosk"


class BookingStatus(enum.StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    checked_in = "checked_in"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"
    released = "released"
    rejected = "rejected"


# No booking spans more than this: a resource's longest booking (its max_minutes) may not exceed it,
# the engine refuses a longer slot whatever a resource's rules say, and an event's session is at most
# a day. Listings rely on it: the bookings that overlap a window started at most this long before it,
# so they read a bounded range of an index instead of the whole history before the window.
LONGEST_BOOKING_MINUTES = 14 * 1440
LONGEST_BOOKING = timedelta(minutes=LONGEST_BOOKING_MINUTES)

ACTIVE_STATUSES: tuple[BookingStatus, ...] = (
    BookingStatus.pending,
    BookingStatus.confirmed,
    BookingStatus.checked_in,
)
# The active statuses as SQL, written exactly as the queries write them: SQLite uses a partial index
# only for a query that repeats its condition word for word.
HELD_SQL = "status IN (" + ", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES) + ")"
# Statuses whose booked hours count against a quota: the active ones, the used ones and no-shows
# (a no-show is not refunded, so that holding a slot one does not use has a cost).
QUOTA_STATUSES: tuple[BookingStatus, ...] = (
    *ACTIVE_STATUSES,
    BookingStatus.completed,
    BookingStatus.no_show,
)
# Bookings whose hours were held for the member (pending ones are not yet granted; called-off ones
# were given back). A released booking counts for the part it kept.
BOOKED_STATUSES: tuple[BookingStatus, ...] = (
    BookingStatus.confirmed,
    BookingStatus.checked_in,
    BookingStatus.completed,
    BookingStatus.no_show,
    BookingStatus.released,
)
# Bookings whose start has been judged: the member came (checked in, completed, released after the
# start) or did not (no_show). Confirmed bookings not yet judged by the no-show job are left out.
JUDGED_STATUSES: tuple[BookingStatus, ...] = (
    BookingStatus.checked_in,
    BookingStatus.completed,
    BookingStatus.no_show,
    BookingStatus.released,
)


class QuotaPeriod(enum.StrEnum):
    day = "day"
    week = "week"
    month = "month"


class LedgerKind(enum.StrEnum):
    booked = "booked"
    runtime = "runtime"


class WaitlistStatus(enum.StrEnum):
    waiting = "waiting"
    booked = "booked"
    cancelled = "cancelled"
    expired = "expired"


class Site(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    timezone: str = Field(default="Asia/Ho_Chi_Minh", max_length=64)
    # ISO 3166 country whose public holidays close the site; empty for none.
    holiday_country: str = Field(default="VN", max_length=2)
    # {"mon": [["08:00", "17:30"]], ...}; a weekday that is absent is closed.
    opening_hours: dict[str, list[list[str]]] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    address: str = Field(default="", max_length=400)
    # Members who signed up themselves book here only once a manager approved them.
    approve_members: bool = False
    # The local day the managers' morning digest was last sent (once a day, whatever restarts).
    digest_on: date | None = None


class Closure(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    site_id: str = Field(foreign_key="site.id", index=True, max_length=64)
    start_at: datetime = Field(sa_column=utc_column())
    end_at: datetime = Field(sa_column=utc_column())
    reason: str = Field(max_length=200)


class Training(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    # How long a grant stays valid; None: it does not expire.
    valid_days: int | None = None


class Resource(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    site_id: str = Field(foreign_key="site.id", index=True, max_length=64)
    kind: ResourceKind = Field(sa_column=enum_column(ResourceKind, 32))
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    capacity: int = 1
    slot_minutes: int = 30
    min_minutes: int = 30
    max_minutes: int = 240
    lead_minutes: int = 0
    max_days_ahead: int = 60
    buffer_minutes: int = 0
    requires_approval: bool = False
    training_id: str | None = Field(default=None, foreign_key="training.id", max_length=64)
    quota_group: str | None = Field(default=None, max_length=64)
    allow_walk_in: bool = True
    active: bool = True


class Plan(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    monthly_price_vnd: int = 0


class QuotaGroup(SQLModel, table=True):
    """What a quota group is called on the pages and in refusals ("máy cắt laser" for `laser`).

    Optional: a group without a row is named by the catalogue's words for its id."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)


class QuotaRule(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("plan_id", "quota_group", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plan.id", index=True, max_length=64)
    quota_group: str = Field(max_length=64)
    period: QuotaPeriod = Field(sa_column=enum_column(QuotaPeriod, 16))
    max_hours: float | None = None
    max_bookings: int | None = None
    max_future_bookings: int | None = None
    max_runtime_hours: float | None = None


class Member(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))
    name: str = Field(max_length=200)
    password_hash: str = Field(default="", max_length=200)
    role: Role = Field(sa_column=enum_column(Role, 16))
    plan_id: str | None = Field(default=None, foreign_key="plan.id", max_length=64)
    card_uid: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True, unique=True))
    language: str = Field(default="vi", max_length=8)
    kiosk_site_id: str | None = Field(default=None, foreign_key="site.id", max_length=64)
    # Bumped to revoke every bearer token and session the member holds.
    token_version: int = 1
    ical_token: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(64), nullable=True, unique=True)
    )
    active: bool = True
    created_at: datetime = Field(sa_column=utc_column())
    # The kinds of notification the member reads in the app only, not by e-mail.
    email_off: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # Set when the member opened the link sent to their address (accounts opened by an admin are).
    email_verified_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # Set when a manager let a member who signed up book at sites that ask for approval.
    approved_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # A new address the member asked for, until they confirm it from that address.
    pending_email: str | None = Field(default=None, max_length=320)


class ManagerSite(SQLModel, table=True):
    member_id: str = Field(foreign_key="member.id", primary_key=True, max_length=64)
    site_id: str = Field(foreign_key="site.id", primary_key=True, max_length=64)


class MemberTraining(SQLModel, table=True):
    member_id: str = Field(foreign_key="member.id", primary_key=True, max_length=64)
    training_id: str = Field(foreign_key="training.id", primary_key=True, max_length=64)
    granted_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    granted_by: str | None = Field(default=None, max_length=64)
    # When the member was told that this grant expires soon (once per grant; a renewal clears it).
    warned_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Series(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=32)
    member_id: str = Field(foreign_key="member.id", index=True, max_length=64)
    resource_id: str = Field(foreign_key="resource.id", max_length=64)
    rrule: str = Field(max_length=500)
    created_at: datetime = Field(sa_column=utc_column())


class Booking(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_booking_resource_start", "resource_id", "start_at"),
        sa.Index("ix_booking_member_start", "member_id", "start_at"),
        sa.Index("ix_booking_site_start", "site_id", "start_at"),
        # The jobs' queues (no-shows, reminders): a status's bookings by start, read from the oldest.
        sa.Index("ix_booking_status_start", "status", "start_at"),
        # A series' bookings; most bookings belong to none and stay out of it.
        sa.Index(
            "ix_booking_series_id",
            "series_id",
            sqlite_where=sa.text("series_id IS NOT NULL"),
            postgresql_where=sa.text("series_id IS NOT NULL"),
        ),
        # The bookings holding their slot, by resource: what every overlap check and free-slot search
        # reads. Ended and cancelled ones leave it, so it stays the size of what lies ahead.
        sa.Index(
            "ix_booking_held",
            "resource_id",
            "start_at",
            "block_end",
            sqlite_where=sa.text(HELD_SQL),
            postgresql_where=sa.text(HELD_SQL),
        ),
        sa.CheckConstraint("end_at > start_at", name="ck_booking_positive"),
        sa.CheckConstraint("block_end >= end_at", name="ck_booking_block_end"),
        sa.CheckConstraint("seats >= 1", name="ck_booking_seats"),
    )

    id: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(foreign_key="resource.id", max_length=64)
    site_id: str = Field(foreign_key="site.id", max_length=64)
    member_id: str = Field(foreign_key="member.id", max_length=64)
    start_at: datetime = Field(sa_column=utc_column())
    end_at: datetime = Field(sa_column=utc_column())
    # end_at plus the resource's buffer: the span no other booking of the resource may touch.
    block_end: datetime = Field(sa_column=utc_column())
    seats: int = 1
    # True for every kind but desk pools; only exclusive bookings are in the overlap constraint.
    exclusive: bool = True
    status: BookingStatus = Field(sa_column=enum_column(BookingStatus, 16))
    code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, unique=True))
    quota_group: str | None = Field(default=None, max_length=64)
    series_id: str | None = Field(default=None, foreign_key="series.id", max_length=32)
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
    checked_in_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=64)
    # The manager (or kiosk) who booked on the member's behalf; None when the member booked.
    booked_by: str | None = Field(default=None, max_length=64)
    # The event whose session this booking holds the room for (no check-in, no no-show, no quota).
    event_id: str | None = Field(default=None, max_length=32)
    # When its member was reminded of it (once, FABLAB_REMINDER_MIN before the start).
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # When its member, at the machine, was told the booking ends in a few minutes (once).
    end_warned_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class LedgerEntry(SQLModel, table=True):
    """One append-only movement of a member's quota; balances are sums over these."""

    # `seconds` last: a balance (the sum over a period) reads this index alone.
    __table_args__ = (sa.Index("ix_ledger_balance", "member_id", "quota_group", "kind", "at", "seconds"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(foreign_key="member.id", max_length=64)
    quota_group: str = Field(max_length=64)
    kind: LedgerKind = Field(sa_column=enum_column(LedgerKind, 16))
    # The instant the movement counts at (a booking's start, a session's end); periods use it.
    at: datetime = Field(sa_column=utc_column())
    seconds: int
    booking_id: str | None = Field(default=None, foreign_key="booking.id", index=True, max_length=32)
    reference: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=utc_column())


class LedgerDay(SQLModel, table=True):
    """A member's ledger seconds of one kind in one quota group on one UTC day: the sum of that day's
    movements, kept by the database itself (triggers on `ledgerentry`, migration 0021). A balance over
    a period reads its whole UTC days here and only its partial first and last days from the ledger:
    a quota check costs the same whether the member booked ten hours that week or a thousand."""

    __table_args__ = {"sqlite_with_rowid": False}

    member_id: str = Field(primary_key=True, max_length=64)
    quota_group: str = Field(primary_key=True, max_length=64)
    kind: LedgerKind = Field(sa_column=enum_column(LedgerKind, 16, primary_key=True))
    day: date = Field(primary_key=True)
    seconds: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))


class WaitlistEntry(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_waitlist_resource_start", "resource_id", "start_at"),)

    id: str = Field(primary_key=True, max_length=32)
    resource_id: str = Field(foreign_key="resource.id", max_length=64)
    member_id: str = Field(foreign_key="member.id", index=True, max_length=64)
    start_at: datetime = Field(sa_column=utc_column())
    end_at: datetime = Field(sa_column=utc_column())
    seats: int = 1
    status: WaitlistStatus = Field(sa_column=enum_column(WaitlistStatus, 16))
    booking_id: str | None = Field(default=None, foreign_key="booking.id", max_length=32)
    created_at: datetime = Field(sa_column=utc_column())


class EventKind(enum.StrEnum):
    workshop = "workshop"
    class_ = "class"
    training = "training"
    event = "event"


class EventStatus(enum.StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class RegistrationStatus(enum.StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    cancelled = "cancelled"


class Event(SQLModel, table=True):
    """A workshop, class, training or event: sessions in rooms of one site, and seats to register for.

    `registered` counts the registrations holding a seat; the CHECK keeps it within `capacity`, so no
    race can seat one person too many, whatever the code above it does.
    """

    __table_args__ = (
        sa.Index("ix_event_site_starts", "site_id", "starts_at"),
        sa.CheckConstraint("capacity >= 1", name="ck_event_capacity"),
        sa.CheckConstraint("registered >= 0 AND registered <= capacity", name="ck_event_seats"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_event_span"),
    )

    id: str = Field(primary_key=True, max_length=32)
    site_id: str = Field(foreign_key="site.id", max_length=64)
    kind: EventKind = Field(sa_column=enum_column(EventKind, 16))
    title: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    description_en: str = Field(default="", max_length=4000)
    capacity: int
    registered: int = 0
    public: bool = True
    training_id: str | None = Field(default=None, foreign_key="training.id", max_length=64)
    # Who may register: holders of this plan, of this training (None: anyone allowed to register).
    required_plan_id: str | None = Field(default=None, foreign_key="plan.id", max_length=64)
    required_training_id: str | None = Field(default=None, foreign_key="training.id", max_length=64)
    # Registration is open from `opens_at` (None: at once) until `closes_at` (None: the first start).
    opens_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closes_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The first session's start and the last one's end, kept for listing by time.
    starts_at: datetime = Field(sa_column=utc_column())
    ends_at: datetime = Field(sa_column=utc_column())
    status: EventStatus = Field(sa_column=enum_column(EventStatus, 16))
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class EventSession(SQLModel, table=True):
    """One sitting of an event, in a room or space it books as `booking_id`."""

    __table_args__ = (sa.CheckConstraint("end_at > start_at", name="ck_eventsession_positive"),)

    id: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=32)
    resource_id: str = Field(foreign_key="resource.id", max_length=64)
    start_at: datetime = Field(sa_column=utc_column())
    end_at: datetime = Field(sa_column=utc_column())
    booking_id: str | None = Field(default=None, foreign_key="booking.id", max_length=32)
    # When its registrants were reminded of it.
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Registration(SQLModel, table=True):
    """A member's or a guest's place at an event: a seat, or a place on its waitlist."""

    __table_args__ = (
        # A member (or a guest's e-mail) holds at most one live registration per event.
        sa.Index(
            "ux_registration_member",
            "event_id",
            "member_id",
            unique=True,
            sqlite_where=sa.text("member_id IS NOT NULL AND status != 'cancelled'"),
            postgresql_where=sa.text("member_id IS NOT NULL AND status != 'cancelled'"),
        ),
        sa.Index(
            "ux_registration_guest",
            "event_id",
            "email",
            unique=True,
            sqlite_where=sa.text("member_id IS NULL AND status != 'cancelled'"),
            postgresql_where=sa.text("member_id IS NULL AND status != 'cancelled'"),
        ),
        sa.Index("ix_registration_event_status", "event_id", "status", "position"),
        sa.Index("ix_registration_member", "member_id"),
    )

    id: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(foreign_key="event.id", max_length=32)
    # None for a guest registered by name and e-mail.
    member_id: str | None = Field(default=None, foreign_key="member.id", max_length=64)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    status: RegistrationStatus = Field(sa_column=enum_column(RegistrationStatus, 16))
    # The order of arrival on the waitlist (smaller first); None once seated.
    position: int | None = None
    code: str = Field(sa_column=sa.Column(sa.String(16), nullable=False, unique=True))
    # Marked by the instructor: passed a training event (grants its training without full attendance).
    passed: bool = False
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())


class Attendance(SQLModel, table=True):
    """A registrant present at one session of an event."""

    registration_id: str = Field(foreign_key="registration.id", primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="eventsession.id", primary_key=True, max_length=32)
    at: datetime = Field(sa_column=utc_column())
    recorded_by: str | None = Field(default=None, max_length=64)


class IdempotencyKey(SQLModel, table=True):
    member_id: str = Field(foreign_key="member.id", primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(sa_column=utc_column())


class LoginFailure(SQLModel, table=True):
    """A sign-in attempt: every failure, and (`succeeded`) the successes an address made, which
    count toward that address's limit too."""

    __table_args__ = (
        sa.Index("ix_login_failure_email_at", "email", "at"),
        sa.Index("ix_login_failure_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    address: str = Field(default="", max_length=64)
    at: datetime = Field(sa_column=utc_column())
    succeeded: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class Notification(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_notification_member_created", "member_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(foreign_key="member.id", max_length=64)
    kind: str = Field(max_length=32)
    # The sentence in English (logs, older rows); `data` keeps the Message itself, rendered per reader.
    message: str = Field(max_length=1000)
    data: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    booking_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class DeliveryStatus(enum.StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"
    # The member chose to read this kind in the app only.
    skipped = "skipped"
    # The mail server refused the address for good (5xx): not tried again.
    bounced = "bounced"


class Delivery(SQLModel, table=True):
    """A message waiting to leave (or that left) by e-mail: the outbox.

    Written in the transaction of the change that caused it; a worker sends it after the commit,
    retrying with back-off, under the stable Message-ID `<id@fablab-hub>`.
    """

    __table_args__ = (sa.Index("ix_delivery_due", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(default="email", max_length=16)
    kind: str = Field(max_length=32)
    # A member (their address and language are read when it is sent), or a guest's address.
    member_id: str | None = Field(default=None, foreign_key="member.id", max_length=64)
    to_address: str | None = Field(default=None, max_length=320)
    language: str = Field(default="vi", max_length=8)
    message: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    # The page the e-mail links back to (a path on FABLAB_PUBLIC_URL).
    link: str = Field(default="", max_length=400)
    # The booking it is about: its e-mail carries the booking as a calendar invitation (.ics).
    booking_id: str | None = Field(default=None, max_length=32)
    status: DeliveryStatus = Field(sa_column=enum_column(DeliveryStatus, 16))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=utc_column())
    last_error: str = Field(default="", max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    # channel "webhook": the endpoint and the JSON it is sent (message stays the sentence).
    webhook_id: str | None = Field(default=None, max_length=32)
    payload: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class Webhook(SQLModel, table=True):
    """Another system told of events (a chat bridge, Home Assistant): a signed JSON POST per event."""

    id: str = Field(primary_key=True, max_length=32)
    url: str = Field(max_length=500)
    # The kinds of event it wants ("*" for all).
    kinds: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    secret: str = Field(max_length=200)
    active: bool = True
    # Since when every delivery to it has failed; a day of that disables it.
    failing_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str = Field(default="", max_length=500)
    created_at: datetime = Field(sa_column=utc_column())


class ResourceBlock(SQLModel, table=True):
    """A resource out of service for a span (a fault, overdue maintenance, a manager's decision).

    While a block is active (not cleared, and not ended), no booking may touch it.
    """

    __table_args__ = (sa.Index("ix_resourceblock_resource", "resource_id", "cleared_at"),)

    id: int | None = Field(default=None, primary_key=True)
    resource_id: str = Field(foreign_key="resource.id", max_length=64)
    reason: str = Field(max_length=16)
    message: str = Field(max_length=500)
    start_at: datetime = Field(sa_column=utc_column())
    # None: until cleared.
    end_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    cleared_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
