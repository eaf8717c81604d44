"""Problem reports on a real database (both back ends): the alert they open, the member's view of
them, who may see the photo, and the limit on open reports."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from booking.errors import InvalidRequest, NotFound
from booking.models import ResourceKind, Role, Site
from devices.alerts import service as alerts
from devices.models import Alert, AlertKind, ProblemReport
from devices.problems import service as problems
from devices.problems.rules import MAX_OPEN_PER_MEMBER, ReportState
from tests.conftest import NOW
from tests.factories import actor, make_machine, make_member, make_resource

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class TestReport:
    def test_a_report_on_a_machine_opens_an_alert_for_its_site(self, session: Session, site: Site) -> None:
        laser = make_machine(session, site, name="Laser 1")
        member = make_member(session, name="Nguyễn Thị Lan")
        problem = problems.report(
            session,
            laser.id,
            "the lens is cracked",
            NOW,
            member_id=member.id,
            reporter=member.name,
            photo=PNG,
        )
        alert = session.get(Alert, problem.alert_id)
        assert alert is not None
        assert (alert.kind, alert.site_id, alert.machine_id) == (AlertKind.reported, site.id, laser.id)
        assert alert.message == "Nguyễn Thị Lan reports a problem with Laser 1: the lens is cracked"
        assert problem.photo_type == "image/png"

    def test_a_room_has_no_machine_but_still_alerts(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room A", kind=ResourceKind.room, quota_group=None)
        problem = problems.report(
            session, room.id, "projector is dead", NOW, member_id=None, reporter="Kiosk"
        )
        alert = session.get(Alert, problem.alert_id)
        assert alert is not None
        assert (alert.machine_id, alert.site_id) == (None, site.id)

    def test_two_reports_open_two_alerts(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        for text in ("chair is broken", "window will not close"):
            problems.report(session, room.id, text, NOW, member_id=None, reporter="Kiosk")
        assert len(session.exec(select(Alert).where(Alert.kind == AlertKind.reported)).all()) == 2

    def test_a_bad_photo_writes_nothing(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        with pytest.raises(InvalidRequest, match="the photo must be a JPEG, PNG or WebP image"):
            problems.report(
                session, room.id, "chair is broken", NOW, member_id=None, reporter="Kiosk", photo=b"<svg>"
            )
        assert session.exec(select(ProblemReport)).first() is None
        assert session.exec(select(Alert)).first() is None

    def test_an_unknown_resource_is_not_found(self, session: Session, site: Site) -> None:
        with pytest.raises(NotFound):
            problems.report(session, "no-such-room", "chair is broken", NOW, member_id=None, reporter="Kiosk")
        assert session.exec(select(Alert)).first() is None

    def test_a_member_has_at_most_so_many_open(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        member = make_member(session)
        for n in range(MAX_OPEN_PER_MEMBER):
            problems.report(
                session, room.id, f"problem number {n}", NOW, member_id=member.id, reporter=member.name
            )
        with pytest.raises(InvalidRequest, match="not resolved yet"):
            problems.report(session, room.id, "one too many", NOW, member_id=member.id, reporter=member.name)
        assert len(session.exec(select(ProblemReport)).all()) == MAX_OPEN_PER_MEMBER


class TestMyReports:
    def test_the_member_follows_the_state(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room A", kind=ResourceKind.room, quota_group=None)
        member = make_member(session)
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        problem = problems.report(
            session, room.id, "chair is broken", NOW, member_id=member.id, reporter=member.name
        )
        assert [v.state for v in problems.my_reports(session, member.id)] == [ReportState.new]
        alerts.acknowledge_alert(session, manager, problem.alert_id, "on my way", NOW)
        view = problems.my_reports(session, member.id)[0]
        assert (view.state, view.resource_name) == (ReportState.acknowledged, "Room A")
        assert "on my way" in view.note


class TestPhoto:
    def test_the_member_and_the_sites_managers_see_it(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        member = make_member(session)
        problem = problems.report(
            session, room.id, "chair is broken", NOW, member_id=member.id, reporter=member.name, photo=PNG
        )
        manager = actor(session, make_member(session, role=Role.manager, manages=(site,)))
        assert problems.photo_of(session, actor(session, member), problem.id) == (PNG, "image/png")
        assert problems.photo_of_alert(session, manager, problem.alert_id) == (PNG, "image/png")

    def test_nobody_else(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        member = make_member(session)
        problem = problems.report(
            session, room.id, "chair is broken", NOW, member_id=member.id, reporter=member.name, photo=PNG
        )
        with pytest.raises(NotFound):
            problems.photo_of(session, actor(session, make_member(session)), problem.id)
