"""The booking domain's scheduled jobs: thin and idempotent; each opens a session, calls its services,
commits. The scheduler (web/scheduler.py) runs them in one process at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking import accounts
from booking.bookings import service as bookings
from booking.events import registrations as event_registrations
from booking.members import service as members
from booking.waitlist import service as waitlist


def release_no_shows(engine: Engine, now: datetime, grace: timedelta) -> int:
    """No check-in and no machine use after the grace period: a no-show. Ended bookings complete, and
    waitlist entries whose slot has begun expire. Returns how many bookings became no-shows."""
    with Session(engine, expire_on_commit=False) as session:
        released = bookings.release_no_shows(session, now, grace)
        bookings.complete_ended(session, now)
        waitlist.expire_stale(session, now)
        session.commit()
    return len(released)


def forget_old_sign_ins(engine: Engine, now: datetime) -> int:
    """The sign-in records no rate limit looks at any more; returns how many were dropped."""
    with Session(engine) as session:
        dropped = members.forget_old_sign_ins(session, now)
        session.commit()
    return dropped


def send_reminders(engine: Engine, now: datetime, window: timedelta) -> int:
    """Remind members of their bookings, and registrants of their event sessions, starting soon."""
    with Session(engine, expire_on_commit=False) as session:
        reminded = bookings.send_reminders(session, now, window) + event_registrations.send_reminders(
            session, now, window
        )
        session.commit()
    return reminded


def warn_expiring_trainings(engine: Engine, now: datetime) -> int:
    """Tell members whose training expires within two weeks, once."""
    with Session(engine) as session:
        told = accounts.warn_expiring_trainings(session, now)
        session.commit()
    return told
