"""What the managers' machine pages read: the live board, use per day, maintenance and its log, alerts.

A read model: views shaped for a page, built from the subdomains' repositories and reads; it runs no
query of its own and changes nothing. Site scoping is the caller's: it passes the sites the actor
manages, and `managed_machine` answers NotFound for a machine of another site, as if it did not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from booking import spans
from booking.bookings import repository as bookings_repo
from booking.catalogue import repository as catalogue_repo
from booking.errors import NotFound
from booking.members import repository as members_repo
from booking.members.actors import Actor
from booking.messages import Message
from booking.models import BOOKED_STATUSES
from devices.alerts import repository as alerts_repo
from devices.maintenance import repository as maintenance_repo
from devices.maintenance import rules as maintenance_rules
from devices.maintenance import service as maintenance
from devices.models import Machine, MaintenanceLog
from devices.registry import repository as registry_repo
from devices.registry import service as registry
from devices.schemas import AlertRead, MachineRead, MaintenancePlanRead
from devices.sessions import repository as sessions_repo


def managed_machine(session: Session, actor: Actor, machine_id: str) -> Machine:
    """The machine if the actor manages its site; NotFound otherwise (another site's is as if absent)."""
    machine = registry_repo.get_machine(session, machine_id)
    if machine is None or not actor.manages(machine.site_id):
        raise NotFound("there is no machine '{machine_id}' among yours", machine_id=machine_id)
    return machine


def member_names(session: Session, member_ids: Iterable[str | None]) -> dict[str, str]:
    """Names of the members with these ids (unknown ids are left out)."""
    names = {}
    for member_id in {m for m in member_ids if m}:
        member = members_repo.get_member(session, member_id)
        if member is not None:
            names[member_id] = member.name
    return names


def machine_choices(session: Session, site_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(id, name) of the sites' registered machines, by name: for a form's machine list."""
    rows = registry_repo.machine_names_of_sites(session, site_ids)
    return sorted(((machine_id, name) for machine_id, name in rows), key=lambda r: r[1].casefold())


# --- the live board ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One machine on the live board: its status, time left, open alerts, and its maintenance."""

    status: MachineRead
    site_id: str
    seconds_left: int | None
    open_alerts: int
    maintenance: str


def board(session: Session, site_ids: Sequence[str], now: datetime) -> list[BoardRow]:
    """Every machine of the sites with its live status, by site and name."""
    return _rows(session, registry_repo.machines_of_sites(session, site_ids), now)


def board_row(session: Session, machine: Machine, now: datetime) -> BoardRow:
    """The board's row of one machine."""
    return _rows(session, [machine], now)[0]


def _rows(session: Session, machines: Sequence[Machine], now: datetime) -> list[BoardRow]:
    ids = [m.id for m in machines]
    if not ids:
        return []
    alerts = alerts_repo.count_open_by_machine(session, ids)
    statuses: dict[str, list[str]] = {}
    by_id = {m.id: m for m in machines}
    for plan in maintenance_repo.plans_of_machines(session, ids):
        statuses.setdefault(plan.machine_id, []).append(
            maintenance.progress(plan, by_id[plan.machine_id], now).status
        )
    rows = []
    for machine in machines:
        left = None if machine.deadline is None else int((machine.deadline - now).total_seconds())
        rows.append(
            BoardRow(
                status=registry.machine_read(session, machine, now),
                site_id=machine.site_id,
                seconds_left=left,
                open_alerts=alerts.get(machine.id, 0),
                maintenance=maintenance_rules.worst_status(statuses.get(machine.id, [])),
            )
        )
    return sorted(rows, key=lambda r: (r.site_id, r.status.name.casefold(), r.status.machine))


# --- use per day ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One local day of a machine: hours booked on it and hours it really worked (busy)."""

    day: date
    booked_h: float
    used_h: float


def daily_usage(
    session: Session, machine_id: str, tz: ZoneInfo, last_day: date, days: int, now: datetime
) -> list[DayUsage]:
    """Booked and busy hours per local day, for the `days` days ending with `last_day`.

    A usage session counts on the day it started (the center is closed at midnight, so a session
    rarely spans two days); an open one counts its busy time so far. Booked hours are those of bookings
    that held their time, cut at each day's bounds.
    """
    first = last_day - timedelta(days=days - 1)
    starts = [spans.local_instant(first + timedelta(days=i), 0, tz) for i in range(days + 1)]
    used = [0.0] * days
    booked = [0.0] * days
    for usage in sessions_repo.sessions_started_between(session, machine_id, starts[0], starts[-1]):
        index = (usage.started_at.astimezone(tz).date() - first).days
        if usage.ended_at is not None:
            busy = usage.busy_s or 0.0
        else:
            running = (now - usage.busy_since).total_seconds() if usage.busy_since else 0.0
            busy = usage.busy_so_far_s + max(0.0, running)
        if 0 <= index < days:
            used[index] += busy / 3600
    bookings = bookings_repo.list_bookings(
        session, resource_id=machine_id, start=starts[0], end=starts[-1], statuses=list(BOOKED_STATUSES)
    )
    for held in bookings:
        for index in range(days):
            overlap = min(held.end_at, starts[index + 1]) - max(held.start_at, starts[index])
            if overlap > timedelta(0):
                booked[index] += overlap.total_seconds() / 3600
    return [
        DayUsage(day=first + timedelta(days=i), booked_h=round(booked[i], 2), used_h=round(used[i], 2))
        for i in range(days)
    ]


# --- maintenance ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanRow:
    """A maintenance plan, its machine, and what has accrued on each of its counters since last done."""

    plan: MaintenancePlanRead
    machine_id: str
    machine_name: str
    site_id: str
    runtime_h: float
    jobs: int
    days: float


def plan_rows(
    session: Session,
    now: datetime,
    *,
    site_ids: Sequence[str] | None = None,
    machine_id: str | None = None,
) -> list[PlanRow]:
    """Maintenance plans of the sites' (or one machine's) machines, the most urgent first."""
    rows = []
    names: dict[str, str] = {}
    for plan, machine in maintenance_repo.plans_with_machines(
        session, site_ids=site_ids, machine_id=machine_id
    ):
        if machine.id not in names:
            resource = catalogue_repo.get_resource(session, machine.id)
            names[machine.id] = resource.name if resource else machine.id
        rows.append(
            PlanRow(
                plan=maintenance.plan_read(plan, machine, now),
                machine_id=machine.id,
                machine_name=names[machine.id],
                site_id=machine.site_id,
                runtime_h=round((machine.runtime_s - plan.runtime_s_at_done) / 3600, 1),
                jobs=machine.jobs - plan.jobs_at_done,
                days=round((now - plan.last_done_at).total_seconds() / 86400, 1),
            )
        )
    return sorted(rows, key=lambda r: (-r.plan.ratio, r.machine_name.casefold(), r.plan.id))


@dataclass(frozen=True, slots=True)
class LogRow:
    """One maintenance done: when, on which machine, which plan, by whom, and the note."""

    entry: MaintenanceLog
    plan_name: str
    machine_name: str
    site_id: str
    done_by: str


def maintenance_log(
    session: Session,
    *,
    site_ids: Sequence[str] | None = None,
    machine_id: str | None = None,
    limit: int = 50,
) -> list[LogRow]:
    """Maintenance done on the sites' (or one machine's) machines, newest first."""
    found = maintenance_repo.list_log(session, site_ids=site_ids, machine_id=machine_id, limit=limit)
    who = member_names(session, (entry.done_by for entry, _, _ in found))
    machines: dict[str, str] = {}
    rows = []
    for entry, plan_name, site_id in found:
        if entry.machine_id not in machines:
            resource = catalogue_repo.get_resource(session, entry.machine_id)
            machines[entry.machine_id] = resource.name if resource else entry.machine_id
        rows.append(
            LogRow(
                entry=entry,
                plan_name=plan_name,
                machine_name=machines[entry.machine_id],
                site_id=site_id,
                done_by=who.get(entry.done_by, entry.done_by),
            )
        )
    return rows


# --- alerts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert with the names a person reads: its machine's, and who acknowledged and resolved it."""

    alert: AlertRead
    machine_name: str | None
    acknowledged_by: str | None
    resolved_by: str | None

    @property
    def said(self) -> Message:
        """What the alert says, for the reader's language (an older alert: its English sentence)."""
        return Message.from_json(self.alert.data) if self.alert.data else Message(self.alert.message)


def alert_rows(session: Session, alerts: Sequence[AlertRead]) -> list[AlertRow]:
    """The alerts with names; `system` and `machine` (who closes alerts by themselves) stay as they are."""
    who = member_names(session, [a.acknowledged_by for a in alerts] + [a.resolved_by for a in alerts])
    machines: dict[str, str] = {}
    rows = []
    for alert in alerts:
        if alert.machine and alert.machine not in machines:
            resource = catalogue_repo.get_resource(session, alert.machine)
            machines[alert.machine] = resource.name if resource else alert.machine
        rows.append(
            AlertRow(
                alert=alert,
                machine_name=machines.get(alert.machine) if alert.machine else None,
                acknowledged_by=who.get(alert.acknowledged_by or "", alert.acknowledged_by),
                resolved_by=who.get(alert.resolved_by or "", alert.resolved_by),
            )
        )
    return rows
