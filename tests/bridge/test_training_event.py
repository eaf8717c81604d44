"""A machine-safety training held as an event: attending it is what lets a member's card unlock the
laser, at once, over the real broker."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from booking.catalogue.service import catalogue_changed
from booking.events import attendance
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.members.service import load_actor
from booking.models import Member, Resource, ResourceKind, Role, Site
from booking.schemas import AttendanceCreate, EventCreate, RegistrationCreate
from tests.bridge.conftest import Lab
from tests.conftest import NOW
from tests.factories import at, make_member, make_resource, make_training


def test_attending_the_training_lets_the_card_unlock_the_laser(lab: Lab) -> None:
    yesterday = NOW - timedelta(days=1)
    with Session(lab.engine, expire_on_commit=False) as session:
        training = make_training(session, valid_days=365)
        # The laser now requires the training; the member's booking under way was made before.
        session.execute(
            sa.text("UPDATE resource SET training_id = :t WHERE id = :m"),
            {"t": training.id, "m": lab.machine},
        )
        laser = session.get(Resource, lab.machine)
        assert laser is not None
        site = session.get(Site, laser.site_id)
        assert site is not None
        room = make_resource(
            session, site, name="Phòng học", kind=ResourceKind.training_room, quota_group=None
        )
        manager = make_member(session, role=Role.manager, manages=(site,))
        teacher = load_actor(session, manager)
        event = events.create_event(
            session,
            teacher,
            EventCreate.model_validate(
                {
                    "site": site.id,
                    "kind": "training",
                    "title": "An toàn máy cắt laser",
                    "capacity": 8,
                    "training_id": training.id,
                    "sessions": [
                        {
                            "resource_id": room.id,
                            "start": at("2027-03-01 08:30"),
                            "end": at("2027-03-01 09:30"),
                        }
                    ],
                }
            ),
            yesterday,
        )
        member = session.get(Member, lab.member_id)
        assert member is not None
        registration = event_registrations.register(
            session, load_actor(session, member), event.id, RegistrationCreate(), yesterday
        )
        session.commit()
    catalogue_changed()

    lab.event("access.requested", {"request_id": "before-training", "card_uid": lab.card})
    deny = lab.wait_command(lambda c: c.get("request_id") == "before-training")
    assert (deny["cmd"], deny["reason"]) == ("deny", "no_training")

    with Session(lab.engine, expire_on_commit=False) as session:
        attendance.record_attendance(
            session, load_actor(session, manager), event.id, AttendanceCreate(code=registration.code), NOW
        )
        session.commit()

    lab.event("access.requested", {"request_id": "after-training", "card_uid": lab.card})
    unlock = lab.wait_command(lambda c: c.get("request_id") == "after-training")
    assert unlock["cmd"] == "unlock"
    assert unlock["member"] == lab.member_name
