"""The demo center's events: a training, a class, a pitching night and a workshop at the partner lab,
with registrations, and a startup day already held (so the activity report has a year to show)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking import spans
from booking.catalogue import repository as catalogue_repo
from booking.errors import DomainError
from booking.events import attendance
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.members import repository as members_repo
from booking.members import service as members
from booking.models import EventKind
from booking.schemas import AttendanceCreate, EventCreate, EventSessionCreate, RegistrationCreate


@dataclass(frozen=True, slots=True)
class DemoEvent:
    manager: str
    site: str
    resource: str
    kind: str
    title: str
    title_en: str
    weekday: int  # 0 Monday … 6 Sunday
    start: str
    end: str
    capacity: int
    sessions: int = 1
    weeks_ahead: int = 0
    training_id: str | None = None
    registrants: tuple[str, ...] = ()
    description: str = ""


DEMO_EVENTS = [
    DemoEvent(
        "manager@fablab.local",
        "biic",
        "training-room",
        "training",
        "An toàn máy cắt laser (2 buổi)",
        "Laser cutter safety (2 evenings)",
        1,
        "18:00",
        "20:00",
        8,
        sessions=2,
        training_id="laser-safety",
        registrants=("minh@fablab.local",),
        description=(
            "Hai buổi tối: lý thuyết an toàn và thực hành trên máy. "
            "Hoàn thành đủ hai buổi để được cấp chứng nhận."
        ),
    ),
    DemoEvent(
        "manager@fablab.local",
        "biic",
        "stem-lab",
        "class",
        "Lớp STEM: robot cho học sinh THCS",
        "STEM class: robots for secondary pupils",
        5,
        "08:30",
        "10:30",
        20,
        sessions=4,
        registrants=("lan@fablab.local",),
        description="Học sinh lắp ráp và lập trình robot đơn giản; phụ huynh đăng ký giúp con.",
    ),
    DemoEvent(
        "manager@fablab.local",
        "biic",
        "training-room",
        "event",
        "Đêm gọi vốn khởi nghiệp",
        "Startup pitching night",
        4,
        "18:30",
        "20:30",
        60,
        weeks_ahead=1,
        registrants=("team@fablab.local", "lan@fablab.local", "minh@fablab.local"),
        description="Năm đội khởi nghiệp trình bày trước các nhà đầu tư và quỹ của tỉnh.",
    ),
    DemoEvent(
        "lab@fablab.local",
        "uni-mech",
        "uni-meeting",
        "workshop",
        "Hội thảo gia công CNC cho doanh nghiệp",
        "CNC machining workshop for companies",
        2,
        "14:00",
        "16:00",
        15,
        weeks_ahead=1,
        registrants=("team@fablab.local",),
    ),
]


def _first_day(now: datetime, tz: ZoneInfo, weekday: int, weeks_ahead: int) -> date:
    """The first such weekday after today (plus whole weeks), in the site's zone."""
    today = now.astimezone(tz).date()
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead + 7 * weeks_ahead)


def seed_events(session: Session, now: datetime) -> int:
    """A few events across the center and the partner lab, with registrations; an event that cannot
    be placed (a public holiday on one of its days) is left out. Returns how many were announced."""
    announced = 0
    for demo in DEMO_EVENTS:
        manager = members_repo.get_member_by_email(session, demo.manager)
        site = catalogue_repo.get_site(session, demo.site)
        if manager is None or site is None:
            continue
        tz = ZoneInfo(site.timezone)
        first = _first_day(now, tz, demo.weekday, demo.weeks_ahead)
        start, end = (spans.local_instant(first, _minutes(t), tz) for t in (demo.start, demo.end))
        days_apart = 1 if demo.kind == "training" else 7
        sittings = [
            EventSessionCreate(
                resource_id=demo.resource,
                start=start + timedelta(days=days_apart * i),
                end=end + timedelta(days=days_apart * i),
            )
            for i in range(demo.sessions)
        ]
        data = EventCreate(
            site=demo.site,
            kind=EventKind(demo.kind),
            title=demo.title,
            title_en=demo.title_en,
            description=demo.description,
            capacity=demo.capacity,
            training_id=demo.training_id,
            sessions=sittings,
        )
        try:
            event = events.create_event(session, members.load_actor(session, manager), data, now)
        except DomainError:
            continue
        for email in demo.registrants:
            member = members_repo.get_member_by_email(session, email)
            if member is not None:
                event_registrations.register(
                    session, members.load_actor(session, member), event.id, RegistrationCreate(), now
                )
        announced += 1
    announced += _held_event(session, now)
    session.flush()
    return announced


def _held_event(session: Session, now: datetime) -> int:
    """A startup day held some weeks ago, with who came: so the activity report has a year to show."""
    manager = members_repo.get_member_by_email(session, "manager@fablab.local")
    site = catalogue_repo.get_site(session, "biic")
    if manager is None or site is None:
        return 0
    tz = ZoneInfo(site.timezone)
    day = _first_day(now - timedelta(weeks=6), tz, 2, 0)  # a Wednesday some five weeks ago
    start, end = spans.local_instant(day, 14 * 60, tz), spans.local_instant(day, 17 * 60, tz)
    announced_at = start - timedelta(days=14)
    data = EventCreate(
        site=site.id,
        kind=EventKind.event,
        title="Ngày hội khởi nghiệp sinh viên",
        title_en="Student startup day",
        capacity=40,
        sessions=[EventSessionCreate(resource_id="training-room", start=start, end=end)],
    )
    try:
        event = events.create_event(session, members.load_actor(session, manager), data, announced_at)
    except DomainError:
        return 0
    boss = members.load_actor(session, manager)
    for index, email in enumerate(("lan@fablab.local", "minh@fablab.local", "team@fablab.local")):
        member = members_repo.get_member_by_email(session, email)
        if member is None:
            continue
        registration = event_registrations.register(
            session, members.load_actor(session, member), event.id, RegistrationCreate(), announced_at
        )
        if index < 2:  # two came, one did not
            attendance.record_attendance(
                session, boss, event.id, AttendanceCreate(registration_id=registration.id), start
            )
    return 1


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)
