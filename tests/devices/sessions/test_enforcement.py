"""Enforcement of running sessions on a real database: warn, then lock, once each."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from booking.messages import Message
from booking.models import Notification, QuotaPeriod, Site
from devices.models import Activity, Alert, AlertKind
from devices.sessions import enforcement
from devices.sessions import service as sessions
from tests.conftest import NOW
from tests.devices.helpers import book, online, tap
from tests.factories import at, make_machine, make_member, make_plan, quota
from tests.links import RecordingLink
from web.i18n import say


class TestEnforcement:
    def test_warn_before_the_end_then_lock(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site, grace_s=300)
        member = make_member(session, card_uid="04F2")
        book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 10:00")
        machine = online(session, laser.id, link)
        session_id = str(tap(session, link, machine, "04F2")["session_id"])
        sessions.session_started(session, link, machine, session_id, None, NOW, NOW)
        link.commands.clear()
        assert enforcement.enforce_sessions(session, link, at("2027-03-01 09:50")) == 0
        enforcement.enforce_sessions(session, link, at("2027-03-01 09:56"))
        assert [(c.cmd, c.fields["seconds_left"]) for c in link.commands] == [("warn", 240)]
        # The member is told too (bell and e-mail), once, in their language.
        (told,) = session.exec(
            select(Notification).where(
                Notification.member_id == member.id, Notification.kind == "ending_soon"
            )
        ).all()
        assert told.data is not None
        assert say(Message.from_json(told.data), "vi").startswith("Lượt đặt máy ")
        assert "lúc 10:00, còn 4 phút" in say(Message.from_json(told.data), "vi")
        assert "ends at 10:00, in 4 min" in say(Message.from_json(told.data), "en")
        enforcement.enforce_sessions(session, link, at("2027-03-01 10:00"))
        assert [(c.cmd, c.fields.get("reason"), c.fields.get("grace_s")) for c in link.commands[1:]] == [
            ("lock", "booking_ended", 300)
        ]
        enforcement.enforce_sessions(session, link, at("2027-03-01 10:01"))
        assert len(link.commands) == 2  # locked once
        assert len(session.exec(select(Notification).where(Notification.kind == "ending_soon")).all()) == 1

    def test_lock_at_runtime_quota(self, session: Session, site: Site, link: RecordingLink) -> None:
        laser = make_machine(session, site)
        plan = make_plan(session, quota("laser", QuotaPeriod.week, max_hours=10, max_runtime_hours=1))
        member = make_member(session, card_uid="04F3", plan=plan)
        book(session, member, laser.id, "2027-03-01 08:30", "2027-03-01 11:00")
        machine = online(session, laser.id, link)
        session_id = str(tap(session, link, machine, "04F3")["session_id"])
        sessions.telemetry(session, link, machine, NOW, power_w=100.0, activity=Activity.busy)
        sessions.session_started(session, link, machine, session_id, None, NOW, NOW)
        link.commands.clear()
        enforcement.enforce_sessions(session, link, NOW + timedelta(minutes=55))
        assert [c.cmd for c in link.commands] == ["warn"]
        enforcement.enforce_sessions(session, link, NOW + timedelta(minutes=61))
        assert [(c.cmd, c.fields.get("reason")) for c in link.commands[1:]] == [("lock", "quota_exhausted")]
        assert session.exec(
            select(Alert).where(Alert.kind == AlertKind.quota, Alert.machine_id == laser.id)
        ).one()
