"""The year's activity as the province asks for it, per site and for the whole network: events by
kind with sessions, registrations and attendance; trainings granted; bookings with booked and used
hours by kind of space; machine runtime and jobs; members active and new.

Read only. Each figure is counted from the rows that record it (bookings, the quota ledger's runtime,
usage sessions, device events, registrations, attendance, grants) over the site's local calendar year.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, func, select

from booking.bookings import repository as bookings_repo
from booking.catalogue import repository as catalogue_repo
from booking.errors import InvalidRequest, NotPermitted
from booking.ledger import repository as ledger_repo
from booking.members.actors import Actor
from booking.models import (
    BOOKED_STATUSES,
    JUDGED_STATUSES,
    Attendance,
    Booking,
    BookingStatus,
    Event,
    EventKind,
    EventSession,
    EventStatus,
    Member,
    MemberTraining,
    Registration,
    RegistrationStatus,
    ResourceKind,
    Role,
    Site,
    Training,
)
from booking.spans import Span, local_instant, zone
from devices.models import DeviceEvent, Machine, UsageSession

FIRST_YEAR, LAST_YEAR = 2000, 2199


@dataclass(frozen=True, slots=True)
class EventTally:
    kind: EventKind
    events: int = 0
    sessions: int = 0
    registered: int = 0
    attended: int = 0
    # Registrations of events already over, and those of them who came to no session.
    judged: int = 0
    absent: int = 0

    @property
    def no_show_rate(self) -> float | None:
        return self.absent / self.judged if self.judged else None

    def plus(self, other: EventTally) -> EventTally:
        return EventTally(
            self.kind,
            self.events + other.events,
            self.sessions + other.sessions,
            self.registered + other.registered,
            self.attended + other.attended,
            self.judged + other.judged,
            self.absent + other.absent,
        )


@dataclass(frozen=True, slots=True)
class SpaceTally:
    kind: ResourceKind
    bookings: int = 0
    booked_hours: float = 0.0
    used_hours: float = 0.0
    no_shows: int = 0
    judged: int = 0

    @property
    def no_show_rate(self) -> float | None:
        return self.no_shows / self.judged if self.judged else None

    def plus(self, other: SpaceTally) -> SpaceTally:
        return SpaceTally(
            self.kind,
            self.bookings + other.bookings,
            round(self.booked_hours + other.booked_hours, 2),
            round(self.used_hours + other.used_hours, 2),
            self.no_shows + other.no_shows,
            self.judged + other.judged,
        )


@dataclass(frozen=True, slots=True)
class MachineTally:
    machine_id: str
    name: str
    name_en: str
    site_id: str
    sessions: int
    runtime_hours: float
    jobs: int
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class TrainingTally:
    training_id: str
    name: str
    name_en: str
    granted: int


@dataclass(frozen=True, slots=True)
class SiteActivity:
    site_id: str
    name: str
    name_en: str
    events: list[EventTally]
    spaces: list[SpaceTally]
    machines: list[MachineTally]
    active_members: int
    member_ids: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def runtime_hours(self) -> float:
        return round(sum(m.runtime_hours for m in self.machines), 2)

    @property
    def jobs(self) -> int:
        return sum(m.jobs for m in self.machines)


@dataclass(frozen=True, slots=True)
class ActivityReport:
    year: int
    sites: list[SiteActivity]
    network: SiteActivity
    trainings: list[TrainingTally]
    new_members: int


def check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidRequest(
            "{year} is outside the years FabLab Hub works with ({first}–{last})",
            year=str(year),
            first=str(FIRST_YEAR),
            last=str(LAST_YEAR),
        )


def year_span(year: int, tz_name: str) -> Span:
    """The local calendar year as a UTC span."""
    tz = zone(tz_name)
    return Span(local_instant(date(year, 1, 1), 0, tz), local_instant(date(year + 1, 1, 1), 0, tz))


def reported_sites(session: Session, actor: Actor, site_id: str | None) -> list[Site]:
    """The sites the actor may report on (their own; every site for an admin), or the one asked for."""
    if not actor.manages_any:
        raise NotPermitted("only the center's managers see the activity report")
    sites = [s for s in catalogue_repo.list_sites(session) if actor.manages(s.id)]
    if site_id:
        sites = [s for s in sites if s.id == site_id]
        if not sites:
            raise NotPermitted("you do not manage the site '{site_id}'", site_id=site_id)
    return sites


def activity(session: Session, sites: Sequence[Site], year: int, now: datetime) -> ActivityReport:
    """The year's activity of the sites and of them together."""
    check_year(year)
    per_site = [_site_activity(session, site, year, now) for site in sites]
    network_span = year_span(year, sites[0].timezone) if sites else year_span(year, "Asia/Ho_Chi_Minh")
    return ActivityReport(
        year=year,
        sites=per_site,
        network=_together(per_site),
        trainings=_trainings_granted(session, network_span),
        new_members=int(
            session.exec(
                select(func.count()).where(
                    Member.role == Role.member,
                    col(Member.created_at) >= network_span.start,
                    col(Member.created_at) < network_span.end,
                )
            ).one()
        ),
    )


def _site_activity(session: Session, site: Site, year: int, now: datetime) -> SiteActivity:
    span = year_span(year, site.timezone)
    events, event_members = _events(session, site.id, span, now)
    spaces, booking_members = _spaces(session, site.id, span)
    machines, machine_members = _machines(session, site.id, span)
    members = frozenset(event_members | booking_members | machine_members)
    return SiteActivity(
        site_id=site.id,
        name=site.name,
        name_en=site.name_en,
        events=events,
        spaces=spaces,
        machines=machines,
        active_members=len(members),
        member_ids=members,
    )


def _events(session: Session, site_id: str, span: Span, now: datetime) -> tuple[list[EventTally], set[str]]:
    found = session.exec(
        select(Event).where(
            Event.site_id == site_id,
            Event.status == EventStatus.scheduled,
            col(Event.starts_at) >= span.start,
            col(Event.starts_at) < span.end,
        )
    ).all()
    ids = [e.id for e in found]
    if not ids:
        return [], set()
    sessions = Counter(
        session.exec(select(EventSession.event_id).where(col(EventSession.event_id).in_(ids))).all()
    )
    seated = session.exec(
        select(Registration.id, Registration.event_id, Registration.member_id).where(
            col(Registration.event_id).in_(ids), Registration.status == RegistrationStatus.registered
        )
    ).all()
    present = set(
        session.exec(
            select(Attendance.registration_id)
            .join(Registration, col(Registration.id) == col(Attendance.registration_id))
            .where(col(Registration.event_id).in_(ids))
        ).all()
    )
    by_event: dict[str, list[tuple[str, str | None]]] = {}
    for registration_id, event_id, member_id in seated:
        by_event.setdefault(event_id, []).append((registration_id, member_id))
    tallies: dict[EventKind, EventTally] = {}
    for event in found:
        people = by_event.get(event.id, [])
        came = sum(1 for registration_id, _ in people if registration_id in present)
        over = event.ends_at <= now
        tally = EventTally(
            event.kind,
            events=1,
            sessions=sessions.get(event.id, 0),
            registered=len(people),
            attended=came,
            judged=len(people) if over else 0,
            absent=len(people) - came if over else 0,
        )
        tallies[event.kind] = tallies[event.kind].plus(tally) if event.kind in tallies else tally
    members = {member_id for _, _, member_id in seated if member_id is not None}
    return [tallies[k] for k in EventKind if k in tallies], members


def _spaces(session: Session, site_id: str, span: Span) -> tuple[list[SpaceTally], set[str]]:
    tallies: dict[ResourceKind, SpaceTally] = {}
    for start, end, seats, status, kind in bookings_repo.starting_in_by_kind(
        session, site_id, span, BOOKED_STATUSES
    ):
        tally = SpaceTally(
            kind,
            bookings=1,
            booked_hours=seats * (end - start).total_seconds() / 3600,
            no_shows=int(status is BookingStatus.no_show),
            judged=int(status in JUDGED_STATUSES),
        )
        tallies[kind] = tallies[kind].plus(tally) if kind in tallies else tally
    for kind, seconds in ledger_repo.runtime_by_kind(session, site_id, span).items():
        used = SpaceTally(kind, used_hours=seconds / 3600)
        tallies[kind] = tallies[kind].plus(used) if kind in tallies else used
    members = set(
        session.exec(
            select(Booking.member_id)
            .where(
                Booking.site_id == site_id,
                col(Booking.start_at) >= span.start,
                col(Booking.start_at) < span.end,
                col(Booking.status).in_(BOOKED_STATUSES),
                col(Booking.event_id).is_(None),
            )
            .distinct()
        ).all()
    )
    rounded = [
        SpaceTally(t.kind, t.bookings, round(t.booked_hours, 2), round(t.used_hours, 2), t.no_shows, t.judged)
        for t in (tallies[k] for k in ResourceKind if k in tallies)
    ]
    return rounded, members


def _machines(session: Session, site_id: str, span: Span) -> tuple[list[MachineTally], set[str]]:
    machines = session.exec(select(Machine).where(Machine.site_id == site_id)).all()
    ids = [m.id for m in machines]
    if not ids:
        return [], set()
    used = {
        machine_id: (int(count), float(busy or 0), float(energy or 0))
        for machine_id, count, busy, energy in session.exec(
            select(
                UsageSession.machine_id,
                func.count(),
                func.sum(UsageSession.busy_s),
                func.sum(UsageSession.energy_wh),
            )
            .where(
                col(UsageSession.machine_id).in_(ids),
                col(UsageSession.started_at) >= span.start,
                col(UsageSession.started_at) < span.end,
            )
            .group_by(col(UsageSession.machine_id))
        ).all()
    }
    jobs = dict(
        session.exec(
            select(DeviceEvent.machine_id, func.count())
            .where(
                col(DeviceEvent.machine_id).in_(ids),
                DeviceEvent.type == "job.finished",
                col(DeviceEvent.ts) >= span.start,
                col(DeviceEvent.ts) < span.end,
            )
            .group_by(col(DeviceEvent.machine_id))
        ).all()
    )
    names = {r.id: r for r in catalogue_repo.list_resources(session, site_id=site_id)}
    tallies = []
    for machine in machines:
        count, busy, energy = used.get(machine.id, (0, 0.0, 0.0))
        resource = names.get(machine.id)
        tallies.append(
            MachineTally(
                machine_id=machine.id,
                name=resource.name if resource else machine.id,
                name_en=resource.name_en if resource else "",
                site_id=site_id,
                sessions=count,
                runtime_hours=round(busy / 3600, 2),
                jobs=int(jobs.get(machine.id, 0)),
                energy_kwh=round(energy / 1000, 2),
            )
        )
    members = set(
        session.exec(
            select(UsageSession.member_id)
            .where(
                col(UsageSession.machine_id).in_(ids),
                col(UsageSession.started_at) >= span.start,
                col(UsageSession.started_at) < span.end,
                col(UsageSession.member_id).is_not(None),
            )
            .distinct()
        ).all()
    )
    return sorted(tallies, key=lambda t: t.name), {m for m in members if m is not None}


def _together(sites: list[SiteActivity]) -> SiteActivity:
    events: dict[EventKind, EventTally] = {}
    spaces: dict[ResourceKind, SpaceTally] = {}
    for site in sites:
        for e in site.events:
            events[e.kind] = events[e.kind].plus(e) if e.kind in events else e
        for s in site.spaces:
            spaces[s.kind] = spaces[s.kind].plus(s) if s.kind in spaces else s
    members = frozenset().union(*(s.member_ids for s in sites)) if sites else frozenset()
    return SiteActivity(
        site_id="",
        name="",
        name_en="",
        events=[events[k] for k in EventKind if k in events],
        spaces=[spaces[k] for k in ResourceKind if k in spaces],
        machines=[m for s in sites for m in s.machines],
        active_members=len(members),
        member_ids=members,
    )


def _trainings_granted(session: Session, span: Span) -> list[TrainingTally]:
    counts = dict(
        session.exec(
            select(MemberTraining.training_id, func.count())
            .where(col(MemberTraining.granted_at) >= span.start, col(MemberTraining.granted_at) < span.end)
            .group_by(col(MemberTraining.training_id))
        ).all()
    )
    trainings = session.exec(select(Training).order_by(col(Training.name))).all()
    return [TrainingTally(t.id, t.name, t.name_en, int(counts[t.id])) for t in trainings if counts.get(t.id)]
