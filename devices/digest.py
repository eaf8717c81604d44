"""The managers' morning digest: at FABLAB_DIGEST_HOUR (07:00) of each site's day, its managers are
told what the day holds: today's bookings, bookings awaiting approval, machines down, maintenance
due. Sent once a day per site whatever restarts (the site remembers the day it was sent), by the
scheduler's leader.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from booking.catalogue import repository as catalogue_repo
from booking.members import repository as members_repo
from booking.messages import Items, Message, Name, message
from booking.models import Booking, BookingStatus, Resource, Site
from booking.notifications import notify
from booking.spans import zone
from devices.maintenance import repository as maintenance_repo
from devices.maintenance import service as maintenance
from devices.models import Machine, MachineState
from devices.registry import service as registry

DOWN = (MachineState.fault, MachineState.offline, MachineState.blocked)
TODAY = (BookingStatus.pending, BookingStatus.confirmed, BookingStatus.checked_in, BookingStatus.completed)


def send_digests(engine: Engine, now: datetime, hour: int = 7) -> int:
    """Send the digest of every site whose morning has come and whose digest is not sent today;
    returns how many sites' digests were sent."""
    sent = 0
    with Session(engine, expire_on_commit=False) as session:
        for site in catalogue_repo.list_sites(session):
            local = now.astimezone(zone(site.timezone))
            if local.hour < hour or site.digest_on == local.date():
                continue
            site.digest_on = local.date()
            session.add(site)
            managers = members_repo.managers_of(session, site.id)
            if managers:
                said = digest(session, site, now)
                for manager_id in managers:
                    notify(session, manager_id, "digest", said, now=now, link="/manage")
                sent += 1
            session.commit()
    return sent


def digest(session: Session, site: Site, now: datetime) -> Message:
    """What a site's day holds, as one message in parts."""
    tz = zone(site.timezone)
    local = now.astimezone(tz)
    day_start = datetime.combine(local.date(), datetime.min.time(), tzinfo=tz)
    day_end = day_start + timedelta(days=1)
    booked = session.exec(
        select(func.count()).where(
            Booking.site_id == site.id,
            col(Booking.start_at) < day_end,
            col(Booking.end_at) > day_start,
            col(Booking.status).in_(TODAY),
            col(Booking.event_id).is_(None),
        )
    ).one()
    waiting = session.exec(
        select(func.count()).where(
            Booking.site_id == site.id, Booking.status == BookingStatus.pending, col(Booking.end_at) > now
        )
    ).one()
    down = session.exec(
        select(Resource.name)
        .join(Machine, col(Machine.id) == col(Resource.id))
        .where(Machine.site_id == site.id, col(Machine.state).in_(DOWN))
        .order_by(col(Resource.name))
    ).all()
    due = sorted(
        f"{name} – {plan.name}"
        for plan, machine in maintenance_repo.plans_with_machines(session, site_ids=[site.id])
        for name in [registry.machine_name(session, machine)]
        if maintenance.progress(plan, machine, now).status in ("due", "overdue")
    )
    parts = [message("bookings today: {count}", count=int(booked))]
    if waiting:
        parts.append(message("awaiting your approval: {count}", count=int(waiting)))
    if down:
        parts.append(message("machines down: {machines}", machines=", ".join(down)))
    if due:
        parts.append(message("maintenance due: {plans}", plans=", ".join(due)))
    if not down and not due:
        parts.append(message("every machine is in order"))
    return message(
        "Today at {site}: {parts}", site=Name(site.name, site.name_en or None), parts=Items(tuple(parts))
    )
