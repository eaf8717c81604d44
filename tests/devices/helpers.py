"""Steps the machines' domain tests share: a machine online, a booking, a card tap, a typed event."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlmodel import Session

from booking.bookings import service as booking
from booking.models import Booking, Member
from booking.schemas import BookingCreate
from devices import events
from devices.access import service as access
from devices.alerts import service as alerts
from devices.models import Machine, MachineState
from devices.registry import service as registry
from tests.conftest import NOW
from tests.factories import actor, at
from tests.links import RecordingLink

_seq = itertools.count(1)


def state(machine: Machine) -> MachineState:
    # A function call, so mypy does not keep the narrowing of an earlier assert after a change.
    return machine.state


def online(session: Session, machine_id: str, link: RecordingLink) -> Machine:
    """The registered machine, brought online by its device's own availability message."""
    machine = registry.get_machine_or_raise(session, machine_id)
    alerts.machine_availability(session, link, machine, True, NOW)
    return machine


def book(session: Session, member: Member, resource_id: str, start: str, end: str) -> Booking:
    """The member's booking of the resource from `start` to `end` (local times), made an hour ago."""
    return booking.book(
        session,
        actor(session, member),
        BookingCreate(resource_id=resource_id, start=at(start), end=at(end)),
        NOW - timedelta(hours=1),
    )


def tap(
    session: Session, link: RecordingLink, machine: Machine, card: str, now: datetime = NOW
) -> dict[str, object]:
    """Present the card at the machine; the one command the center answers with, as its fields."""
    link.commands.clear()
    access.access_requested(session, link, machine, "req-1", card, now)
    assert len(link.commands) == 1
    command = link.commands[0]
    return {"cmd": command.cmd, **command.fields}


def envelope(ts: datetime = NOW) -> events.Envelope:
    """A fresh envelope: a new event id and the next sequence number of one gateway boot."""
    seq = next(_seq)
    return events.Envelope(event_id=f"ev-{seq}", boot_id="boot-1", seq=seq, ts=ts)
