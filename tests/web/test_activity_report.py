"""The year's activity report checked against a hand-built year (SQLite and PostgreSQL): two sites,
events with registrations and attendance, bookings of three kinds, a machine's sessions and jobs,
trainings granted and new members; the API's JSON and CSV, and who may read it."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.events import attendance
from booking.events import registrations as event_registrations
from booking.events import service as events
from booking.members.service import load_actor
from booking.models import (
    BookingStatus,
    LedgerEntry,
    LedgerKind,
    Member,
    ResourceKind,
    Role,
    Site,
)
from booking.schemas import AttendanceCreate, BookingCreate, EventCreate, RegistrationCreate
from devices import activity
from devices.models import DeviceEvent, UsageSession
from tests.conftest import NOW
from tests.factories import at, grant, make_machine, make_member, make_resource, make_site, make_training
from tests.web.pages import HTML, sign_in

Auth = Callable[[Member], dict[str, str]]
YEAR_END = at("2027-12-31 12:00")


@dataclass
class Year:
    center: Site
    lab: Site
    manager: Member
    lab_manager: Member
    admin: Member
    member: Member
    laser_id: str


def _event(
    session: Session,
    manager: Member,
    site: Site,
    room_id: str,
    kind: str,
    sittings: list[tuple[str, str]],
    **extra: object,
) -> str:
    data = EventCreate.model_validate(
        {
            "site": site.id,
            "kind": kind,
            "title": f"{kind} {sittings[0][0]}",
            "capacity": extra.pop("capacity", 3),
            "sessions": [{"resource_id": room_id, "start": at(s), "end": at(e)} for s, e in sittings],
            **extra,
        }
    )
    return events.create_event(session, load_actor(session, manager), data, NOW).id


def _register(session: Session, member: Member, event_id: str) -> str:
    return event_registrations.register(
        session, load_actor(session, member), event_id, RegistrationCreate(), NOW
    ).id


@pytest.fixture
def year(session: Session) -> Year:
    center = make_site(session, name="Trung tâm")
    lab = make_site(session, name="Lab đối tác")
    manager = make_member(session, role=Role.manager, manages=(center,))
    lab_manager = make_member(session, role=Role.manager, manages=(lab,))
    admin = make_member(session, role=Role.admin)
    hall = make_resource(
        session, center, name="Hội trường", kind=ResourceKind.training_room, capacity=40, quota_group=None
    )
    room = make_resource(session, center, name="Phòng họp", kind=ResourceKind.room, quota_group=None)
    desks = make_resource(
        session, center, name="Bàn chung", kind=ResourceKind.desk_pool, capacity=10, quota_group=None
    )
    lab_room = make_resource(session, lab, name="Phòng lab", kind=ResourceKind.room, quota_group=None)
    training = make_training(session, valid_days=365)
    laser = make_machine(session, center, name="Laser 1", quota_group="laser")
    people = [make_member(session) for _ in range(5)]
    for newcomer in people[:2]:
        newcomer.created_at = at("2027-02-01 10:00")
        session.add(newcomer)
    boss = load_actor(session, manager)

    # A workshop of two sessions: three seated (a fourth waits), two came, the third did not.
    workshop = _event(
        session,
        manager,
        center,
        hall.id,
        "workshop",
        [("2027-03-02 14:00", "2027-03-02 16:00"), ("2027-03-09 14:00", "2027-03-09 16:00")],
    )
    seated = [_register(session, p, workshop) for p in people[:3]]
    _register(session, people[3], workshop)
    for registration_id in seated[:2]:
        attendance.record_attendance(
            session, boss, workshop, AttendanceCreate(registration_id=registration_id), at("2027-03-02 14:05")
        )
    # A training: one registrant, present, granted the training.
    course = _event(
        session,
        manager,
        center,
        hall.id,
        "training",
        [("2027-03-03 09:00", "2027-03-03 11:00")],
        training_id=training.id,
    )
    trainee = _register(session, people[4], course)
    attendance.record_attendance(
        session, boss, course, AttendanceCreate(registration_id=trainee), at("2027-03-03 09:10")
    )
    # A cancelled event counts for nothing.
    dropped = _event(session, manager, center, hall.id, "event", [("2027-03-04 09:00", "2027-03-04 10:00")])
    events.cancel_event(session, boss, dropped, NOW)
    # At the partner lab: a class, one registrant who never came.
    lab_class = _event(
        session, lab_manager, lab, lab_room.id, "class", [("2027-03-05 09:00", "2027-03-05 10:00")]
    )
    _register(session, people[0], lab_class)

    # Bookings at the center: a room for 2 h (used), a room for 1 h (a no-show), desks 3 seats for 2 h.
    def book(member: Member, resource_id: str, start: str, end: str, seats: int = 1) -> str:
        data = BookingCreate(resource_id=resource_id, start=at(start), end=at(end), seats=seats)
        return bookings.book(session, load_actor(session, member), data, NOW).id

    used = bookings.get_booking_or_raise(
        session, boss, book(people[1], room.id, "2027-03-10 09:00", "2027-03-10 11:00")
    )
    used.status = BookingStatus.completed
    missed = bookings.get_booking_or_raise(
        session, boss, book(people[2], room.id, "2027-03-11 09:00", "2027-03-11 10:00")
    )
    missed.status = BookingStatus.no_show
    book(people[2], desks.id, "2027-03-12 09:00", "2027-03-12 11:00", seats=3)
    cancelled = bookings.get_booking_or_raise(
        session, boss, book(people[3], room.id, "2027-03-13 09:00", "2027-03-13 10:00")
    )
    cancelled.status = BookingStatus.cancelled
    grant(session, people[1], training)  # granted in 2026: not this year's
    machine_booking = book(people[1], laser.id, "2027-03-15 09:00", "2027-03-15 11:00")
    session.add_all([used, missed, cancelled])
    session.add(
        LedgerEntry(
            member_id=people[1].id,
            quota_group="laser",
            kind=LedgerKind.runtime,
            at=at("2027-03-15 10:00"),
            seconds=1800,
            booking_id=machine_booking,
            created_at=at("2027-03-15 10:00"),
        )
    )
    # The laser: two sessions this year (30 and 60 busy minutes), one last year; three jobs this year.
    for index, (start, busy, energy) in enumerate(
        [
            ("2027-03-15 09:05", 1800, 500.0),
            ("2027-06-01 10:00", 3600, 1000.0),
            ("2026-12-01 10:00", 7200, 9.0),
        ]
    ):
        session.add(
            UsageSession(
                id=f"us-{index}-{laser.id}",
                machine_id=laser.id,
                external_id=f"x{index}",
                member_id=people[1].id,
                started_at=at(start),
                ended_at=at(start) + timedelta(seconds=busy),
                duration_s=busy,
                busy_s=busy,
                energy_wh=energy,
            )
        )
    for index, when in enumerate(
        ["2027-03-15 09:30", "2027-06-01 10:20", "2027-06-01 10:50", "2026-12-01 11:00"]
    ):
        session.add(
            DeviceEvent(
                event_id=f"job-{index}-{laser.id}",
                machine_id=laser.id,
                gateway_id="gw",
                boot_id="b",
                seq=index,
                type="job.finished",
                ts=at(when),
                received_at=at(when),
                data={"job": "cut"},
            )
        )
    session.flush()
    return Year(center, lab, manager, lab_manager, admin, people[0], laser.id)


def test_the_years_figures(session: Session, year: Year) -> None:
    report = activity.activity(session, [year.center, year.lab], 2027, YEAR_END)
    center, lab = report.sites
    workshop, training = center.events
    assert (workshop.kind.value, workshop.events, workshop.sessions, workshop.registered) == (
        "workshop",
        1,
        2,
        3,
    )
    assert (workshop.attended, workshop.judged, workshop.absent) == (2, 3, 1)
    assert workshop.no_show_rate == pytest.approx(1 / 3)
    assert (training.kind.value, training.events, training.registered, training.attended) == (
        "training",
        1,
        1,
        1,
    )
    (lab_class,) = lab.events
    assert (lab_class.kind.value, lab_class.registered, lab_class.attended, lab_class.no_show_rate) == (
        "class",
        1,
        0,
        1.0,
    )
    spaces = {s.kind.value: s for s in center.spaces}
    # The event sessions' room bookings count as bookings of the training room (3 sessions, 6 h).
    assert (spaces["training_room"].bookings, spaces["training_room"].booked_hours) == (3, 6.0)
    assert (spaces["room"].bookings, spaces["room"].booked_hours, spaces["room"].no_shows) == (2, 3.0, 1)
    assert (spaces["desk_pool"].bookings, spaces["desk_pool"].booked_hours) == (1, 6.0)
    assert (spaces["machine"].bookings, spaces["machine"].used_hours) == (1, 0.5)
    (laser,) = center.machines
    assert (laser.sessions, laser.runtime_hours, laser.jobs, laser.energy_kwh) == (2, 1.5, 3, 1.5)
    assert (center.runtime_hours, center.jobs) == (1.5, 3)
    # Members seen at the center this year: four seated, booked or trained (the one who only waited
    # and cancelled a booking was not); at the lab, one who is also seen at the center.
    assert (center.active_members, lab.active_members, report.network.active_members) == (4, 1, 4)
    assert [(t.granted) for t in report.trainings] == [1]
    assert report.new_members == 2
    network = {e.kind.value: e.registered for e in report.network.events}
    assert network == {"workshop": 3, "class": 1, "training": 1}


def test_the_api_json_csv_and_who_may_read_it(client: TestClient, auth: Auth, year: Year) -> None:
    mine = client.get("/api/v1/reports/activity", params={"year": 2027}, headers=auth(year.manager))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert [s["site"] for s in body["sites"]] == [year.center.id]
    assert body["network"]["jobs"] == 3
    everything = client.get(
        "/api/v1/reports/activity", params={"year": 2027}, headers=auth(year.admin)
    ).json()
    assert {s["site"] for s in everything["sites"]} >= {year.center.id, year.lab.id}
    as_csv = client.get(
        "/api/v1/reports/activity",
        params={"year": 2027, "site": year.center.id},
        headers={**auth(year.manager), "Accept": "text/csv"},
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["year", "site", "section", "item", "measure", "value"]
    assert ["2027", year.center.id, "machines", year.laser_id, "jobs", "3"] in rows
    assert client.get("/api/v1/reports/activity", headers=auth(year.member)).status_code == 403
    other = client.get("/api/v1/reports/activity", params={"site": year.lab.id}, headers=auth(year.manager))
    assert other.status_code == 403
    odd = client.get("/api/v1/reports/activity", params={"year": 9999}, headers=auth(year.manager))
    assert odd.status_code == 422
    assert "9999" in odd.json()["detail"]


def test_the_page_reads_like_a_report_in_vietnamese(client: TestClient, app: FastAPI, year: Year) -> None:
    sign_in(client, app, year.manager)
    page = client.get("/manage/activity", params={"year": "2027"}, headers=HTML)
    assert page.status_code == 200, page.text
    for words in (
        "Báo cáo hoạt động năm 2027",
        "Hội thảo",
        "Huấn luyện an toàn máy",
        "Phòng họp",
        "<svg",
        "data-print",
    ):
        assert words in page.text
    assert "Laser 1" in page.text
    exported = client.get("/manage/activity.csv", params={"year": "2027"})
    assert exported.status_code == 200
    lines = exported.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "Năm,Cơ sở,Phần,Mục,Chỉ số,Giá trị"
    assert any(line.startswith("2027,Toàn mạng lưới,Thành viên,mới,thành viên,") for line in lines)
    odd = client.get("/manage/activity", params={"year": "năm"}, headers=HTML)
    assert odd.status_code == 422
    assert "không phải là một năm" in odd.text
    sign_in(client, app, year.member)
    assert client.get("/manage/activity", headers=HTML).status_code == 403
