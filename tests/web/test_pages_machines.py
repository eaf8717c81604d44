"""The machines' pages over the test client, on SQLite and PostgreSQL: the live board, alerts,
maintenance, a machine's page, the kiosk's board and the portal's live badges; every page × role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.bookings import service as booking
from booking.models import Member, ResourceBlock, Role
from booking.schemas import BookingCreate
from devices.alerts import service as alerts
from devices.maintenance import service as maintenance
from devices.models import Activity, Alert, Machine, MachineState, MaintenanceLog, MaintenancePlan
from devices.registry import service as registry
from devices.schemas import MachineCreate, MaintenancePlanCreate
from devices.sessions import service as sessions
from tests.conftest import NOW
from tests.factories import actor, at, make_machine, make_member, make_site
from tests.links import RecordingLink
from tests.web.pages import HTML, HTMX, Center, form, make_center, sign_in

ROLES = ("anonymous", "member", "manager", "other_manager", "admin", "kiosk")


@dataclass
class Lab:
    """The page tests' center with two registered machines: the laser here, a cutter at the other site."""

    center: Center
    laser: Machine
    cutter: Machine
    link: RecordingLink


@pytest.fixture
def lab(session: Session) -> Lab:
    center = make_center(session)
    # The center's laser is a bookable resource; registering it with a gateway makes it a live machine.
    registry.attach_machine(
        session,
        MachineCreate(id=center.laser.id, site_id=center.site.id, name="Laser 1", gateway_id="gw-pages-1"),
        NOW - timedelta(days=60),
    )
    cutter = make_machine(session, center.other_site, name="Máy cắt CNC")
    link = RecordingLink()
    laser = registry.get_machine_or_raise(session, center.laser.id)
    alerts.machine_availability(session, link, laser, True, NOW)
    return Lab(center, laser, registry.get_machine_or_raise(session, cutter.id), link)


def _busy(session: Session, lab: Lab) -> None:
    """The member's booking 09:00–10:00 on the laser is under way and the laser is cutting."""
    booking.book(
        session,
        actor(session, lab.center.member),
        BookingCreate(resource_id=lab.laser.id, start=at("2027-03-01 09:00"), end=at("2027-03-01 10:00")),
        NOW - timedelta(hours=1),
    )
    sessions.session_started(session, lab.link, lab.laser, "s-now", None, NOW, NOW)
    sessions.telemetry(session, lab.link, lab.laser, NOW, power_w=1234.0, activity=Activity.busy)


def _who(lab: Lab, role: str) -> Member | None:
    return None if role == "anonymous" else getattr(lab.center, role)


def _signed_in(client: TestClient, app: FastAPI, member: Member, language: str | None = None) -> None:
    sign_in(client, app, member, language=language)


PAGES = [
    "/manage/machines",
    "/manage/board",
    "/manage/alerts",
    "/manage/maintenance",
    "/manage/machines/{laser}",
    "/manage/machines/{laser}/status",
]


class TestAccess:
    @pytest.mark.parametrize("role", ROLES)
    @pytest.mark.parametrize("template", PAGES)
    def test_page_by_role(self, client: TestClient, app: FastAPI, lab: Lab, template: str, role: str) -> None:
        member = _who(lab, role)
        if member is not None:
            _signed_in(client, app, member)
        path = template.format(laser=lab.laser.id)
        response = client.get(path, headers=HTML, follow_redirects=False)
        if role == "anonymous":
            assert response.status_code == 303
            assert response.headers["location"] == "/signin?next=" + quote(path, safe="/")
        elif role in ("manager", "admin"):
            assert response.status_code == 200, response.text
        elif role == "other_manager":
            # A manager of another site: the pages open, this site's machine does not exist for them.
            expected = 404 if "{laser}" in template else 200
            assert response.status_code == expected, response.text
        else:
            assert response.status_code == 403, response.text

    def test_the_board_fragment_sends_a_signed_out_screen_to_sign_in(self, client: TestClient) -> None:
        response = client.get("/manage/board", headers=HTMX)
        assert response.status_code == 401
        assert response.headers["HX-Redirect"] == "/signin?next=/manage/board"

    def test_another_sites_manager_sees_only_their_machines(
        self, client: TestClient, app: FastAPI, lab: Lab
    ) -> None:
        _signed_in(client, app, lab.center.other_manager)
        html = client.get("/manage/board", headers=HTMX).text
        assert f'id="machine-{lab.cutter.id}"' in html
        assert f'id="machine-{lab.laser.id}"' not in html
        response = client.get(f"/manage/machines/{lab.laser.id}", headers=HTML)
        assert f"Không có máy “{lab.laser.id}” trong số máy bạn quản lý" in unescape(response.text)

    def test_a_site_that_is_not_mine_is_not_found(self, client: TestClient, app: FastAPI, lab: Lab) -> None:
        _signed_in(client, app, lab.center.manager)
        response = client.get(f"/manage/machines?site={lab.center.other_site.id}", headers=HTML)
        assert response.status_code == 404
        assert f"Không có cơ sở “{lab.center.other_site.id}” trong số cơ sở bạn quản lý" in unescape(
            response.text
        )


class TestBoard:
    def test_shows_state_activity_member_time_left_and_power(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _busy(session, lab)
        _signed_in(client, app, lab.center.manager)
        html = client.get("/manage/board", headers=HTMX).text
        row = _row(html, lab.laser.id)
        assert 'data-state="in_use"' in row
        assert 'data-activity="busy"' in row
        assert "Đang sử dụng" in row
        assert "đang chạy" in row
        assert "Nguyễn Thị Lan" in row
        assert "1 giờ" in row  # an hour left of the booking
        assert "đến 10:00" in row
        assert "1.234 W" in row

    def test_the_page_polls_the_fragment(self, client: TestClient, app: FastAPI, lab: Lab) -> None:
        _signed_in(client, app, lab.center.manager)
        html = client.get("/manage/machines", headers=HTML).text
        assert 'hx-get="/manage/board"' in html
        assert 'hx-trigger="every 5s"' in html
        assert 'data-state="free"' in _row(html, lab.laser.id)
        # The polling is htmx's own: no inline script the Content-Security-Policy would block.
        assert "<script>" not in html
        assert (
            "'unsafe-inline'"
            not in client.get("/manage/machines", headers=HTML).headers["Content-Security-Policy"]
        )

    def test_the_dashboard_holds_the_board_and_the_open_alerts(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alerts.fault_raised(session, lab.link, lab.laser, "E12", "Laser tube overheated", NOW)
        _signed_in(client, app, lab.center.manager)
        html = client.get("/manage", headers=HTML).text
        assert 'data-state="fault"' in _row(html, lab.laser.id)
        assert "E12: Laser tube overheated" in html
        assert 'id="alerts"' in html
        assert "Máy báo lỗi" in html  # the fault alert's heading

    def test_in_english(self, client: TestClient, app: FastAPI, session: Session, lab: Lab) -> None:
        _busy(session, lab)
        _signed_in(client, app, lab.center.manager, language="en")
        lab.center.manager.language = "en"
        session.add(lab.center.manager)
        session.flush()
        html = client.get("/manage/machines", headers=HTML).text
        row = _row(html, lab.laser.id)
        assert '<html lang="en">' in html
        assert "In use" in row
        assert "working" in row
        assert "1 h" in row
        assert "1,234 W" in row

    def test_a_site_with_no_machines(self, client: TestClient, app: FastAPI, session: Session) -> None:
        site = make_site(session)
        manager = make_member(session, role=Role.manager, manages=(site,))
        _signed_in(client, app, manager)
        assert "Chưa có máy nào" in client.get("/manage/board", headers=HTMX).text


class TestAlerts:
    def _fault(self, session: Session, lab: Lab) -> Alert:
        alerts.fault_raised(session, lab.link, lab.laser, "E12", "Laser tube overheated", NOW)
        return session.exec(select(Alert).where(Alert.machine_id == lab.laser.id)).one()

    def test_acknowledge_with_a_note_in_place(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alert = self._fault(session, lab)
        _signed_in(client, app, lab.center.manager)
        response = client.post(
            f"/manage/alerts/{alert.id}/acknowledge", data=form(note="Đang kiểm tra"), headers=HTMX
        )
        assert response.status_code == 200
        assert 'id="alerts"' in unescape(response.text)
        assert "Đã xác nhận cảnh báo." in unescape(response.text)
        assert "Đang kiểm tra" in unescape(response.text)
        session.refresh(alert)
        assert alert.acknowledged_by == lab.center.manager.id
        assert alert.resolved_at is None

    def test_resolving_a_fault_returns_the_machine_to_service(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alert = self._fault(session, lab)
        assert _state(lab.laser) is MachineState.fault
        _signed_in(client, app, lab.center.manager)
        response = client.post(
            f"/manage/alerts/{alert.id}/resolve",
            data=form(note="Thay ống làm mát"),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/manage/alerts"
        session.refresh(alert)
        session.refresh(lab.laser)
        assert alert.resolved_by == lab.center.manager.id
        assert "Thay ống làm mát" in alert.note
        assert lab.laser.fault_code is None
        assert _state(lab.laser) is MachineState.free
        page = client.get("/manage/alerts?show=all", headers=HTML).text
        assert "Đã xử lý cảnh báo." in page  # the flash
        # The alert's sentence in the reader's language (the device's own words stay as they came).
        assert "báo lỗi E12: Laser tube overheated" in page
        assert "fault E12" not in page
        assert "đã xử lý" in page
        assert "Trần Thị Mai" in page

    def test_open_alerts_only_by_default(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alert = self._fault(session, lab)
        alerts.resolve_alert(session, lab.link, actor(session, lab.center.manager), alert.id, "", NOW)
        _signed_in(client, app, lab.center.manager)
        assert f'id="alert-{alert.id}"' not in client.get("/manage/alerts", headers=HTML).text
        assert f'id="alert-{alert.id}"' in client.get("/manage/alerts?show=all", headers=HTML).text

    def test_another_sites_manager_cannot_touch_it(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alert = self._fault(session, lab)
        _signed_in(client, app, lab.center.other_manager)
        assert f'id="alert-{alert.id}"' not in client.get("/manage/alerts", headers=HTML).text
        response = client.post(f"/manage/alerts/{alert.id}/resolve", data=form(note="x"), headers=HTML)
        assert response.status_code == 404
        assert f"Không có cảnh báo “{alert.id}”" in unescape(response.text)
        session.refresh(alert)
        assert alert.resolved_at is None
        assert alert.acknowledged_at is None

    def test_a_member_cannot_acknowledge(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alert = self._fault(session, lab)
        _signed_in(client, app, lab.center.member)
        response = client.post(f"/manage/alerts/{alert.id}/acknowledge", data=form(), headers=HTML)
        assert response.status_code == 403
        assert "Chỉ quản lý của trung tâm mới mở được trang này" in unescape(response.text)
        session.refresh(alert)
        assert alert.acknowledged_at is None

    def test_an_unknown_decision_is_not_found(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        alert = self._fault(session, lab)
        _signed_in(client, app, lab.center.manager)
        response = client.post(f"/manage/alerts/{alert.id}/delete", data=form(), headers=HTML)
        assert response.status_code == 404
        session.refresh(alert)
        assert alert.resolved_at is None


class TestMaintenance:
    def test_adds_a_plan_with_a_vietnamese_decimal(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _signed_in(client, app, lab.center.manager)
        response = client.post(
            "/manage/maintenance/plans",
            data=form(machine=lab.laser.id, name="Lau thấu kính", every_runtime_h="1,5", every_days="30"),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        plan = session.exec(select(MaintenancePlan).where(MaintenancePlan.machine_id == lab.laser.id)).one()
        assert (plan.name, plan.every_runtime_h, plan.every_jobs, plan.every_days) == (
            "Lau thấu kính",
            1.5,
            None,
            30,
        )
        page = client.get("/manage/maintenance", headers=HTML).text
        assert "Lau thấu kính" in page
        assert "0 / 1,5 giờ chạy máy" in page
        assert "0 / 30 ngày" in page

    @pytest.mark.parametrize(
        ("fields", "detail"),
        [
            ({}, "kế hoạch bảo trì cần có chu kỳ"),
            ({"every_jobs": "nhiều"}, "“nhiều” không phải là số lượt gia công hợp lệ"),
            ({"every_days": "-3"}, "Số ngày phải lớn hơn 0"),
            ({"every_jobs": "2.5"}, "Số lượt gia công và số ngày phải là số nguyên"),
            ({"every_runtime_h": "nan"}, "“nan” không phải là số giờ chạy máy hợp lệ"),
            ({"every_days": "7", "name": "   "}, "Kế hoạch cần có tên: việc cần làm là gì"),
        ],
    )
    def test_a_bad_plan_is_refused_in_words(
        self,
        client: TestClient,
        app: FastAPI,
        session: Session,
        lab: Lab,
        fields: dict[str, str],
        detail: str,
    ) -> None:
        _signed_in(client, app, lab.center.manager)
        response = client.post(
            "/manage/maintenance/plans",
            data=form(**{"machine": lab.laser.id, "name": "Tra dầu", **fields}),
            headers=HTML,
        )
        assert response.status_code == 422
        assert detail in unescape(response.text)
        assert (
            session.exec(select(MaintenancePlan).where(MaintenancePlan.machine_id == lab.laser.id)).first()
            is None
        )

    def test_another_sites_manager_cannot_plan_here(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _signed_in(client, app, lab.center.other_manager)
        response = client.post(
            "/manage/maintenance/plans",
            data=form(machine=lab.laser.id, name="x", every_days="1"),
            headers=HTML,
        )
        assert response.status_code == 404
        assert (
            session.exec(select(MaintenancePlan).where(MaintenancePlan.machine_id == lab.laser.id)).first()
            is None
        )

    def test_done_resets_the_plan_lifts_the_block_and_is_logged(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        plan = maintenance.add_plan(
            session, None, lab.laser.id, MaintenancePlanCreate(name="Lau gương", every_runtime_h=2), NOW
        )
        lab.laser.runtime_s += 3 * 3600  # three hours of cutting since
        session.add(lab.laser)
        maintenance.check_maintenance(session, lab.link, NOW)
        assert _state(lab.laser) is MachineState.blocked
        _signed_in(client, app, lab.center.manager)
        page = client.get("/manage/maintenance", headers=HTML).text
        assert f'id="plan-{plan.id}" data-plan-status="overdue"' in page
        assert "3 / 2 giờ chạy máy" in page

        response = client.post(
            f"/manage/maintenance/{plan.id}/done",
            data=form(note="Đã lau bằng cồn", back=f"/manage/machines/{lab.laser.id}"),
            headers=HTML,
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/manage/machines/{lab.laser.id}"
        session.refresh(plan)
        session.refresh(lab.laser)
        assert plan.runtime_s_at_done == lab.laser.runtime_s
        assert _state(lab.laser) is MachineState.free
        blocks = session.exec(select(ResourceBlock).where(ResourceBlock.resource_id == lab.laser.id)).all()
        assert blocks
        assert all(b.cleared_at is not None for b in blocks)
        alert = session.exec(select(Alert).where(Alert.plan_id == plan.id)).one()
        assert alert.resolved_at is not None
        entry = session.exec(select(MaintenanceLog).where(MaintenanceLog.plan_id == plan.id)).one()
        assert entry.done_by == lab.center.manager.id
        machine_page = client.get(f"/manage/machines/{lab.laser.id}", headers=HTML).text
        assert f'id="plan-{plan.id}" data-plan-status="ok"' in machine_page
        assert "Đã lau bằng cồn" in machine_page
        assert "Trần Thị Mai" in machine_page

    def test_another_sites_manager_cannot_mark_it_done(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        plan = maintenance.add_plan(
            session, None, lab.laser.id, MaintenancePlanCreate(name="Lau gương", every_days=1), NOW
        )
        _signed_in(client, app, lab.center.other_manager)
        response = client.post(f"/manage/maintenance/{plan.id}/done", data=form(), headers=HTML)
        assert response.status_code == 404
        assert "Không tìm thấy kế hoạch bảo trì này" in unescape(response.text)
        assert session.exec(select(MaintenanceLog).where(MaintenanceLog.plan_id == plan.id)).first() is None


class TestMachinePage:
    def test_sessions_newest_first(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        for external, started in (("s-old", "2027-02-26 10:00"), ("s-new", "2027-02-27 14:00")):
            sessions.session_started(session, lab.link, lab.laser, external, None, at(started), at(started))
            sessions.session_stopped(
                session,
                lab.link,
                lab.laser,
                external,
                at(started) + timedelta(minutes=40),
                stop_type="normal",
                duration_s=2400,
                busy_s=1800,
                energy_wh=120,
            )
        _signed_in(client, app, lab.center.manager)
        html = client.get(f"/manage/machines/{lab.laser.id}", headers=HTML).text
        new, old = html.index("Th 7, 27/02/2027 14:00"), html.index("Th 6, 26/02/2027 10:00")
        assert new < old
        assert "40 phút" in html
        assert "30 phút" in html
        assert "kết thúc bình thường" in html

    def test_the_chart_shows_booked_and_used_hours_per_day(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _busy(session, lab)  # booked 09:00–10:00 today, and running since 09:00
        start = at("2027-02-27 14:00")
        sessions.session_started(session, lab.link, lab.laser, "s-sat", None, start, start)
        sessions.session_stopped(
            session,
            lab.link,
            lab.laser,
            "s-sat",
            start + timedelta(hours=2),
            stop_type="idle",
            duration_s=7200,
            busy_s=5400,
            energy_wh=300,
        )
        _signed_in(client, app, lab.center.manager)
        html = client.get(f"/manage/machines/{lab.laser.id}", headers=HTML).text
        svg = html[html.index("<svg") : html.index("</svg>")]
        assert len(re.findall(r'class="bar-used"', svg)) == 14
        assert "01/03" in svg
        assert "16/02" in svg
        # Saturday 27 February: 1.5 h really used, nothing booked.
        assert '<td>Thứ Bảy 27/02</td><td class="num">0</td><td class="num">1,5</td>' in html
        # Today: an hour booked.
        assert '<td>Thứ Hai 01/03</td><td class="num">1</td>' in html
        thirty = client.get(f"/manage/machines/{lab.laser.id}?days=30", headers=HTML).text
        assert len(re.findall(r'class="bar-used"', thirty)) == 30

    def test_only_14_or_30_days(self, client: TestClient, app: FastAPI, lab: Lab) -> None:
        _signed_in(client, app, lab.center.manager)
        response = client.get(f"/manage/machines/{lab.laser.id}?days=7", headers=HTML)
        assert response.status_code == 422
        assert "Biểu đồ hiển thị 14 hoặc 30 ngày" in unescape(response.text)

    def test_the_status_fragment_is_live(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _signed_in(client, app, lab.center.manager)
        page = client.get(f"/manage/machines/{lab.laser.id}", headers=HTML).text
        assert f'hx-get="/manage/machines/{lab.laser.id}/status"' in page
        _busy(session, lab)
        html = client.get(f"/manage/machines/{lab.laser.id}/status", headers=HTMX).text
        assert 'data-state="in_use"' in html
        assert "Nguyễn Thị Lan" in html


class TestKioskAndPortal:
    def test_the_kiosk_board_shows_state_but_no_names(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _busy(session, lab)
        _signed_in(client, app, lab.center.kiosk)
        html = client.get(f"/kiosk/{lab.center.site.id}/machines", headers=HTMX).text
        row = html[html.index(f'id="kiosk-machine-{lab.laser.id}"') :]
        assert 'data-state="in_use"' in row[:200]
        assert "Đang sử dụng" in row
        assert "10:00" in row
        assert "Nguyễn Thị Lan" not in html  # a public screen
        assert lab.cutter.id not in html  # another site's machine
        page = client.get(f"/kiosk/{lab.center.site.id}", headers=HTML).text
        assert f'id="kiosk-machine-{lab.laser.id}"' in page
        assert 'hx-trigger="every 5s"' in page

    def test_another_sites_kiosk_finds_no_board(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        shown = (lab.laser.rev, lab.laser.state, lab.laser.since)
        _signed_in(client, app, lab.center.other_kiosk)
        response = client.get(f"/kiosk/{lab.center.site.id}/machines", headers=HTMX)
        assert response.status_code == 404
        assert f"Không có kiosk nào ở /kiosk/{lab.center.site.id}" in unescape(response.text)
        assert f'id="kiosk-machine-{lab.laser.id}"' not in response.text
        session.refresh(lab.laser)
        assert (lab.laser.rev, lab.laser.state, lab.laser.since) == shown
        assert session.exec(select(Alert).where(Alert.machine_id == lab.laser.id)).first() is None

    def test_the_portal_cards_carry_the_live_state(
        self, client: TestClient, app: FastAPI, session: Session, lab: Lab
    ) -> None:
        _busy(session, lab)
        _signed_in(client, app, lab.center.other_member)
        html = client.get("/", headers=HTML).text
        card = html[html.index(f'id="resource-{lab.laser.id}"') :]
        card = card[: card.index("</article>")]
        assert '<span class="mstate mstate-in_use">Đang sử dụng</span>' in card
        assert "Nguyễn Thị Lan" not in card


def _state(machine: Machine) -> MachineState:
    # A function call, so mypy does not keep the narrowing of an earlier assert after a refresh.
    return machine.state


def _row(html: str, machine_id: str) -> str:
    """The board's row of a machine."""
    start = html.index(f'id="machine-{machine_id}"')
    return html[start : html.index("</tr>", start)]
