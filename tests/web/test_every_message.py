"""Every message of a member's and a manager's day, each caused by the real use case, sent through a
real SMTP server (aiosmtpd) by the outbox worker (SQLite and PostgreSQL): each arrives once, under
its own Message-ID, with a Vietnamese subject (English for a member who reads English) and the
sentence in the reader's language."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking import accounts
from booking.bookings import service as bookings
from booking.members import service as members_service
from booking.members.service import load_actor
from booking.models import Member, ResourceKind, Role
from booking.schemas import WaitlistCreate
from booking.waitlist import service as waitlist
from devices.alerts import service as alerts
from devices.models import AlertKind
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.factories import at, make_machine, make_member, make_resource, make_site, make_training
from tests.mail import smtp_server
from web import notices, outbox
from web.settings import Settings

SETTINGS = Settings(
    environment="test", secret_key="e" * 40, database_url="sqlite://", public_url="https://fablab.example.vn"
)


def _plain(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_every_message_of_the_day_arrives_once(fresh_engine: Engine) -> None:
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session, name="Trung tâm Đổi mới")
        room = make_resource(session, site, name="Phòng họp 1", kind=ResourceKind.room, quota_group=None)
        stem = make_resource(
            session,
            site,
            name="Phòng STEM",
            kind=ResourceKind.stem_space,
            requires_approval=True,
            quota_group=None,
        )
        laser = make_machine(session, site, name="Máy cắt laser 1", quota_group=None)
        lan = make_member(session, email="lan@example.vn", name="Nguyễn Thị Lan")
        tom = make_member(session, email="tom@example.org", name="Tom Baker")
        tom.language = "en"
        session.add(tom)
        boss = make_member(session, role=Role.manager, manages=(site,), email="quanly@example.vn")
        session.commit()
        lan_a, tom_a, boss_a = (load_actor(session, m) for m in (lan, tom, boss))

        # Confirmed, with its reminder the hour before; then cancelled by a manager, with the reason.
        meeting = bookings.book(session, lan_a, ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00"), NOW)
        # Tom waits for the same slot and is promoted when it frees.
        waitlist.join(
            session,
            tom_a,
            WaitlistCreate(resource_id=room.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00")),
            NOW,
        )
        bookings.send_reminders(session, at("2027-03-02 09:05"), timedelta(minutes=60))
        bookings.cancel(session, boss_a, meeting.id, at("2027-03-02 09:10"), reason="Phòng sửa điện")
        # Pending, the manager asked; one approved, one declined.
        first = bookings.book(session, lan_a, ask(stem.id, "2027-03-03 09:00", "2027-03-03 10:00"), NOW)
        second = bookings.book(session, lan_a, ask(stem.id, "2027-03-04 09:00", "2027-03-04 10:00"), NOW)
        bookings.approve(session, boss_a, first.id, NOW)
        bookings.reject(session, boss_a, second.id, NOW, "Lớp học chiếm phòng")
        # A booking not checked in becomes a no-show.
        bookings.book(session, lan_a, ask(room.id, "2027-03-05 14:00", "2027-03-05 15:00"), NOW)
        bookings.release_no_shows(session, at("2027-03-05 14:20"), timedelta(minutes=15))
        # The laser goes out of service over a booking of Tom's.
        bookings.book(session, tom_a, ask(laser.id, "2027-03-06 09:00", "2027-03-06 10:00"), NOW)
        bookings.block_resource(session, laser.id, "fault", "ống laser hỏng", NOW)
        # A training about to expire; alerts for the manager.
        training = make_training(session, valid_days=30)
        members_service.record_training(session, lan.id, training.id, 30, NOW, granted_by=None)
        accounts.warn_expiring_trainings(session, NOW + timedelta(days=17))
        for kind in (
            AlertKind.fault,
            AlertKind.offline,
            AlertKind.due,
            AlertKind.overdue,
            AlertKind.unbooked_use,
        ):
            alerts.open_alert(session, kind, site.id, laser.id, f"{kind.value} on the laser", NOW)
        session.commit()
        people = {m.id: m for m in (lan, tom, boss)}

    with smtp_server() as (inbox, port):
        sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
        later = NOW + timedelta(days=20)
        while outbox.deliver_due(fresh_engine, sender, SETTINGS, later)["sent"]:
            pass
        # A second worker pass later sends nothing again.
        assert outbox.deliver_due(fresh_engine, sender, SETTINGS, later + timedelta(days=1))["sent"] == 0
        mails = list(inbox.messages)

    assert len({m["Message-ID"] for m in mails}) == len(mails)

    def subjects(member: Member) -> list[str]:
        return sorted(str(m["Subject"]) for m in inbox.to(member.email))

    def titled(kind: str, language: str = "vi") -> str:
        return "FabLab Hub: " + notices.title(kind, language)

    lan_kinds = ["confirmed", "reminder", "cancelled", "pending", "pending", "approved", "rejected"]
    # Two no-shows: the approved STEM booking was not checked in either.
    lan_kinds += ["confirmed", "no_show", "no_show", "training_expiring"]
    assert subjects(people[lan.id]) == sorted(titled(k) for k in lan_kinds)
    tom_kinds = ["waitlist", "no_show", "confirmed", "out_of_service"]
    assert subjects(people[tom.id]) == sorted(titled(k, "en") for k in tom_kinds)
    boss_kinds = ["approval_needed", "approval_needed"]
    boss_kinds += [f"alert_{k}" for k in ("fault", "offline", "due", "overdue", "unbooked_use")]
    assert subjects(people[boss.id]) == sorted(titled(k) for k in boss_kinds)
    # No subject fell back to the generic title: every kind has its own.
    assert all(str(m["Subject"]) != titled("unknown-kind") for m in mails)

    by_subject = {str(m["Subject"]): m for m in inbox.to(lan.email)}
    cancelled = _plain(by_subject[titled("cancelled")])
    assert "Phòng sửa điện" in cancelled
    assert "10:00" in cancelled
    rejected = _plain(by_subject[titled("rejected")])
    assert "Lớp học chiếm phòng" in rejected
    (promoted,) = [m for m in inbox.to(tom.email) if m["Subject"] == titled("waitlist", "en")]
    assert "Phòng họp 1" in _plain(promoted)
