"""The managers' morning digest (SQLite and PostgreSQL), e-mailed through a real SMTP server: at
07:00 site time, once a day whatever restarts, today's bookings, approvals waiting, machines down
and maintenance due, in each manager's language."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from booking.messages import Message
from booking.models import BookingStatus, Notification, ResourceKind, Role
from devices import digest
from devices.models import Machine, MachineState, MaintenancePlan
from tests.conftest import NOW
from tests.devices.helpers import book
from tests.factories import at, make_machine, make_member, make_resource, make_site
from tests.mail import smtp_server
from web import outbox
from web.i18n import say
from web.settings import Settings


def _center(engine: Engine) -> tuple[str, str]:
    """A site with two bookings today, one awaiting approval, a machine at fault, a maintenance plan
    past its interval and two managers (one reads English)."""
    with Session(engine, expire_on_commit=False) as session:
        site = make_site(session, name="Trung tâm Đổi mới")
        site.name_en = "Innovation Center"
        laser = make_machine(session, site, name="Máy cắt laser 1")
        make_machine(session, site, name="Máy in 3D 2")
        room = make_resource(session, site, name="Phòng họp 1", kind=ResourceKind.room, quota_group=None)
        member = make_member(session)
        vi = make_member(session, role=Role.manager, manages=(site,), email="quanly@example.vn")
        en = make_member(session, role=Role.manager, manages=(site,), email="manager@example.vn")
        en.language = "en"
        session.add(en)
        book(session, member, room.id, "2027-03-01 10:00", "2027-03-01 11:00")
        waiting = book(session, member, room.id, "2027-03-01 14:00", "2027-03-01 15:00")
        waiting.status = BookingStatus.pending
        session.add(waiting)
        machine = session.get(Machine, laser.id)
        assert machine is not None
        machine.state = MachineState.fault
        session.add(machine)
        session.add(
            MaintenancePlan(
                machine_id=laser.id, name="Lau ống kính", every_days=7, last_done_at=NOW - timedelta(days=8)
            )
        )
        for machine_row in session.exec(
            select(Machine).where(Machine.site_id == site.id, Machine.id != laser.id)
        ):
            machine_row.state = MachineState.free
            session.add(machine_row)
        session.commit()
        return vi.id, en.id


def test_the_digest_leaves_at_seven_once_a_day(fresh_engine: Engine) -> None:
    vi_id, en_id = _center(fresh_engine)
    six = at("2027-03-01 06:59")
    assert digest.send_digests(fresh_engine, six) == 0
    seven = at("2027-03-01 07:00")
    assert digest.send_digests(fresh_engine, seven) == 1
    # A second run (another tick, a restart) the same day sends nothing.
    assert digest.send_digests(fresh_engine, seven + timedelta(minutes=1)) == 0
    assert digest.send_digests(fresh_engine, at("2027-03-01 21:00")) == 0
    with Session(fresh_engine) as session:
        rows = session.exec(
            select(Notification).where(Notification.kind == "digest").order_by(col(Notification.id))
        ).all()
        assert sorted(r.member_id for r in rows) == sorted([vi_id, en_id])
        assert rows[0].data is not None
        said = Message.from_json(rows[0].data)
    vi = say(said, "vi")
    assert vi.startswith("Hôm nay tại Trung tâm Đổi mới: lượt đặt hôm nay: 2")
    assert "chờ bạn duyệt: 1" in vi
    assert "máy đang ngừng: Máy cắt laser 1" in vi
    assert "Máy in 3D 2" not in vi
    assert "cần bảo trì: Máy cắt laser 1 – Lau ống kính" in vi
    assert say(said, "en").startswith(
        "Today at Innovation Center: bookings today: 2; awaiting your approval: 1"
    )
    # The next morning, a new one.
    assert digest.send_digests(fresh_engine, at("2027-03-02 07:05")) == 1


def test_the_digest_arrives_by_email_in_each_managers_language(fresh_engine: Engine) -> None:
    _center(fresh_engine)
    digest.send_digests(fresh_engine, at("2027-03-01 07:00"))
    settings = Settings(
        environment="test",
        secret_key="d" * 40,
        database_url="sqlite://",
        public_url="https://fablab.example.vn",
    )
    with smtp_server() as (inbox, port):
        outbox.deliver_due(fresh_engine, outbox.SmtpSender(f"smtp://127.0.0.1:{port}"), settings, NOW)
        (vi,) = inbox.to("quanly@example.vn")
        (en,) = inbox.to("manager@example.vn")
    assert vi["Subject"] == "FabLab Hub: Hôm nay ở trung tâm"
    assert en["Subject"] == "FabLab Hub: Today at the center"
    body = vi.get_body(preferencelist=("plain",))
    assert body is not None
    assert "máy đang ngừng: Máy cắt laser 1" in body.get_content()
    assert "https://fablab.example.vn/manage" in body.get_content()
