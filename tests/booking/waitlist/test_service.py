"""The waitlist on a real database: queue positions and promotion when a slot frees."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from booking.bookings import service as bookings
from booking.errors import InvalidRequest
from booking.members import service as members
from booking.models import (
    Booking,
    Notification,
    ResourceKind,
    Role,
    Site,
    WaitlistStatus,
)
from booking.schemas import WaitlistCreate
from booking.waitlist import service as waitlist
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.factories import (
    actor,
    at,
    grant,
    make_member,
    make_resource,
    make_training,
)
from tests.words import en_slot


class TestWaitlist:
    def test_first_eligible_waiter_gets_the_slot(self, session: Session, site: Site) -> None:
        training = make_training(session)
        laser = make_resource(session, site, name="Laser 1", training=training)
        holder = make_member(session)
        grant(session, holder, training)
        booking = bookings.book(
            session, actor(session, holder), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW
        )
        first, second, third = (make_member(session) for _ in range(3))
        for member in (first, second, third):
            grant(session, member, training)
        request = WaitlistCreate(
            resource_id=laser.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00")
        )
        entries = [
            waitlist.join(session, actor(session, m), request, NOW + timedelta(seconds=i))
            for i, m in enumerate((first, second, third))
        ]
        assert [waitlist.waitlist_read(session, e).position for e in entries] == [1, 2, 3]
        # The first waiter lost the training in the meantime: the second is next.
        members.revoke_training(
            session, actor(session, make_member(session, role=Role.admin)), first.id, training.id
        )
        bookings.cancel(session, actor(session, holder), booking.id, NOW)
        assert [e.status for e in entries] == [
            WaitlistStatus.waiting,
            WaitlistStatus.booked,
            WaitlistStatus.waiting,
        ]
        promoted = session.get(Booking, entries[1].booking_id)
        assert promoted is not None
        assert promoted.member_id == second.id
        notes = session.exec(select(Notification.message).where(Notification.member_id == second.id)).all()
        assert notes == [f"A slot freed up: you are booked on Laser 1 {en_slot('2027-03-02 10:00–11:00')}"]

    def test_free_slot_is_not_waitlisted(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        with pytest.raises(
            InvalidRequest, match=f"Room is free {en_slot('2027-03-02 10:00–11:00')}: book it instead"
        ):
            waitlist.join(
                session,
                actor(session, make_member(session)),
                WaitlistCreate(resource_id=room.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00")),
                NOW,
            )
