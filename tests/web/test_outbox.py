"""The e-mail outbox against a real SMTP server (aiosmtpd on 127.0.0.1), on SQLite and PostgreSQL:
a notification's e-mail leaves after the commit in the reader's language, once; a server that is down
is retried with back-off until it is up; a worker killed mid-send (SIGKILL) is followed by one that
sends it again under the same Message-ID."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from booking.messages import Slot, message
from booking.models import Delivery, DeliveryStatus, Member, Role
from booking.notifications import notify, queue_email
from tests.conftest import NOW
from tests.factories import at, make_member
from tests.mail import Inbox, smtp_server
from tests.servers import free_port
from web import backoff, outbox
from web.mail import Outgoing, compose, wire
from web.settings import Settings

SETTINGS = Settings(
    environment="test",
    secret_key="x" * 40,
    database_url="sqlite://",
    public_url="https://fablab.example.vn",
    mail_from="FabLab Hub <no-reply@fablab.example.vn>",
)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def _notify(engine: Engine, language: str = "vi") -> str:
    with Session(engine, expire_on_commit=False) as session:
        member = make_member(session, name="Nguyễn Thị Lan", email="lan@example.vn", role=Role.member)
        member.language = language
        session.add(member)
        said = message(
            "You are registered for {event} ({slot}); your code is {code}",
            event="Đêm gọi vốn",
            slot=Slot(at("2027-03-12 18:30"), at("2027-03-12 20:30"), "Asia/Ho_Chi_Minh"),
            code="ABCD2345",
        )
        notify(session, member.id, "event_registered", said, now=NOW, link="/events/e1")
        session.commit()
        return member.id


def _rows(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery)).all())


def test_an_email_leaves_after_the_commit_in_the_readers_language_once(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _notify(fresh_engine)
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW) == {"sent": 1, "retry": 0, "failed": 0}
    (mail,) = inbox.messages
    (row,) = _rows(fresh_engine)
    assert mail["Message-ID"] == f"<{row.id}@fablab-hub>"
    assert mail["To"] == "Nguyễn Thị Lan <lan@example.vn>"
    assert mail["Subject"] == "FabLab Hub: Đăng ký của bạn"
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    text = plain.get_content()
    assert "Xin chào Nguyễn Thị Lan," in text
    assert "Bạn đã đăng ký Đêm gọi vốn (18:30–20:30" in text
    assert "https://fablab.example.vn/events/e1" in text
    assert 'href="https://fablab.example.vn/events/e1"' in html.get_content()
    assert (row.status, row.attempts, row.sent_at) == (DeliveryStatus.sent, 1, NOW)
    # Nothing is due any more: a second run sends nothing.
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + timedelta(hours=1))["sent"] == 0
    assert len(inbox.messages) == 1


def test_every_part_travels_as_quoted_printable_utf8_in_short_ascii_lines(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _notify(fresh_engine)
    outbox.deliver_due(fresh_engine, outbox.SmtpSender(f"smtp://127.0.0.1:{port}"), SETTINGS, NOW)
    (mail,) = inbox.messages
    (raw,) = inbox.raw  # as it came over the wire

    parts = [part for part in mail.walk() if not part.is_multipart()]
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert {(part["Content-Transfer-Encoding"], part.get_content_charset()) for part in parts} == {
        ("quoted-printable", "utf-8")
    }
    # A line is at most 78 characters, but for a link no space lets the header fold: the unsubscribe
    # link stays whole on its header's line.
    long = [line for line in raw.split(b"\r\n") if len(line) > 78]
    assert all(line.startswith(b"List-Unsubscribe: <https://") and line.count(b" ") == 1 for line in long), (
        long
    )
    assert raw.isascii()


def test_a_server_that_is_down_is_retried_until_it_is_up(fresh_engine: Engine) -> None:
    from aiosmtpd.controller import Controller

    _notify(fresh_engine, language="en")
    port = free_port()
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}", timeout_s=2)
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW) == {"sent": 0, "retry": 1, "failed": 0}
    (row,) = _rows(fresh_engine)
    assert row.status is DeliveryStatus.pending
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    assert "Connection refused" in row.last_error or "refused" in row.last_error.lower()
    # Still down at the next try: the wait doubles.
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + timedelta(seconds=31))["retry"] == 1
    (row,) = _rows(fresh_engine)
    assert row.next_attempt_at == NOW + timedelta(seconds=31 + 60)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + timedelta(seconds=60))["sent"] == 0
        assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + timedelta(seconds=95))["sent"] == 1
        assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + timedelta(hours=2))["sent"] == 0
    finally:
        controller.stop()
    (mail,) = inbox.messages
    assert mail["Subject"] == "FabLab Hub: Your registration"
    (row,) = _rows(fresh_engine)
    assert (row.status, row.attempts) == (DeliveryStatus.sent, 3)


def test_a_lease_that_ran_out_sends_again_under_the_same_message_id(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _notify(fresh_engine)
    # A worker claimed the row and died before recording anything (kill -9 mid-send).
    (claimed,) = outbox.claim(fresh_engine, NOW)
    assert outbox.claim(fresh_engine, NOW + timedelta(minutes=1)) == []
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + backoff.LEASE)["sent"] == 1
    assert [m["Message-ID"] for m in inbox.messages] == [f"<{claimed.id}@fablab-hub>"]


def test_a_guest_gets_the_email_at_their_address_in_their_language(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    with Session(fresh_engine) as session:
        said = message(
            "You are registered for {event} ({slot}); your code is {code}",
            event="Pitch night",
            slot=Slot(at("2027-03-12 18:30"), at("2027-03-12 20:30"), "Asia/Ho_Chi_Minh"),
            code="ZX23",
        )
        queue_email(session, "event_registered", said, NOW, to_address="guest@example.org", language="en")
        session.commit()
    outbox.deliver_due(fresh_engine, outbox.SmtpSender(f"smtp://127.0.0.1:{port}"), SETTINGS, NOW)
    (mail,) = inbox.messages
    assert mail["To"] == "guest@example.org"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Hello," in body.get_content()
    assert "You are registered for Pitch night" in body.get_content()


def test_without_a_mail_server_the_email_goes_to_the_log(
    fresh_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _notify(fresh_engine)
    caplog.set_level("INFO", logger="web.outbox")
    assert isinstance(outbox.sender_for(SETTINGS), outbox.LogSender)
    assert outbox.deliver_due(fresh_engine, outbox.sender_for(SETTINGS), SETTINGS, NOW)["sent"] == 1
    assert "e-mail to Nguyễn Thị Lan <lan@example.vn>" in caplog.text
    assert "ABCD2345" in caplog.text


def test_a_bad_smtp_url_is_refused_in_words() -> None:
    with pytest.raises(ValueError, match="FABLAB_SMTP_URL must look like"):
        outbox.SmtpSender("http://mail.example.vn")
    sender = outbox.SmtpSender("smtps://user%40x:p%3Ass@mail.example.vn?starttls=false")
    assert (sender.tls, sender.port, sender.user, sender.password) == (True, 465, "user@x", "p:ss")


def test_admin_page(client: Any, app: Any, session: Session) -> None:
    from booking.models import Role as Roles
    from tests.web.pages import HTML, sign_in

    admin = make_member(session, role=Roles.admin)
    said = message(
        "You are registered for {event} ({slot}); your code is {code}",
        event="X",
        slot=Slot(at("2027-03-12 18:30"), at("2027-03-12 20:30"), "Asia/Ho_Chi_Minh"),
        code="C",
    )
    given_up = session.get(
        Delivery, queue_email(session, "event_registered", said, NOW, to_address="gone@example.vn")
    )
    assert given_up is not None
    given_up.status, given_up.attempts, given_up.last_error = DeliveryStatus.failed, 30, "550 no such user"
    queue_email(session, "reminder", said, NOW, to_address="later@example.vn")
    session.flush()
    sign_in(client, app, admin)
    page = client.get("/admin", headers=HTML)
    assert "1 e-mail đang chờ gửi" in page.text
    assert "gone@example.vn" in page.text
    assert "550 no such user" in page.text
    assert "Đăng ký của bạn" in page.text


def test_a_kind_the_member_turned_off_is_not_emailed(fresh_engine: Engine, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    member_id = _notify(fresh_engine)
    with Session(fresh_engine) as session:
        from booking.models import Member

        member = session.get(Member, member_id)
        assert member is not None
        member.email_off = ["event_registered"]
        session.add(member)
        session.commit()
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW)["sent"] == 0
    assert inbox.messages == []
    (row,) = _rows(fresh_engine)
    assert row.status is DeliveryStatus.skipped


def test_a_booking_arrives_as_an_invitation_and_leaves_as_a_cancellation(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    from icalendar import Calendar

    from booking.bookings import service as bookings
    from booking.members.service import load_actor
    from booking.models import ResourceKind
    from booking.schemas import BookingCreate
    from tests.factories import make_resource, make_site

    inbox, port = smtp
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        room = make_resource(session, site, name="Phòng họp 2", kind=ResourceKind.room, quota_group=None)
        member = make_member(session, email="minh@example.vn")
        manager = make_member(session, role=Role.manager, manages=(site,))
        data = BookingCreate(resource_id=room.id, start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00"))
        booking = bookings.book(session, load_actor(session, member), data, NOW)
        session.commit()
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW)
    with Session(fresh_engine, expire_on_commit=False) as session:
        bookings.cancel(session, load_actor(session, manager), booking.id, NOW, reason="Phòng sửa điện")
        session.commit()
    outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW)
    confirmed, cancelled = inbox.messages
    assert confirmed["Subject"] == "FabLab Hub: Lượt đặt của bạn đã được xác nhận"
    invites = []
    for mail, method in ((confirmed, "REQUEST"), (cancelled, "CANCEL")):
        (attachment,) = [
            part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar"
        ]
        assert attachment.get_param("method") == method
        assert attachment.get_filename() == "fablab-hub.ics"
        calendar = Calendar.from_ical(attachment.get_content())
        assert calendar["method"] == method
        (entry,) = calendar.walk("VEVENT")
        invites.append(entry)
    assert str(invites[0]["uid"]) == str(invites[1]["uid"]) == f"{booking.id}@fablab-hub"
    assert str(invites[1]["status"]) == "CANCELLED"
    assert invites[0].decoded("dtstart") == at("2027-03-02 10:00")


def test_an_address_the_server_refuses_for_good_is_not_tried_again(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.refused.add("lan@example.vn")
    _notify(fresh_engine)
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW) == {"sent": 0, "retry": 0, "failed": 1}
    (row,) = _rows(fresh_engine)
    assert row.status is DeliveryStatus.bounced
    assert "No such mailbox" in row.last_error
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW + timedelta(days=2)) == {
        "sent": 0,
        "retry": 0,
        "failed": 0,
    }
    assert inbox.messages == []
    with Session(fresh_engine) as session:
        ((listed, address),) = outbox.failed_deliveries(session)
        assert (listed.id, address) == (row.id, "lan@example.vn")


def test_a_name_with_line_breaks_cannot_add_headers(fresh_engine: Engine, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    member_id = _notify(fresh_engine)
    with Session(fresh_engine) as session:
        member = session.get(Member, member_id)
        assert member is not None
        member.name = "Lan\r\nBcc: victim@example.org\r\nSubject: pwned"
        session.add(member)
        session.commit()
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW)["sent"] == 1
    (mail,) = inbox.messages
    assert mail["Bcc"] is None
    assert mail["Subject"] == "FabLab Hub: Đăng ký của bạn"
    assert "\n" not in str(mail["To"])
    assert "lan@example.vn" in str(mail["To"])


WORKER = """
import sys, time
from datetime import UTC, datetime, timedelta
from web import backoff, outbox
from web.db import make_engine
from web.settings import Settings

url, port, lease = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
# The tests' clock: their NOW, running on from the start.
start, began = datetime.fromisoformat(sys.argv[4]), time.monotonic()
engine = make_engine(url)
settings = Settings(environment="test", secret_key="k" * 40, database_url=url)
sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}", timeout_s=120)
while True:
    now = start + timedelta(seconds=time.monotonic() - began)
    outbox.deliver_due(engine, sender, settings, now, lease=timedelta(seconds=lease))
    time.sleep(0.1)
"""


class StallingInbox(Inbox):
    """Takes a message, then never answers: the sender is mid-send when it is killed."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(120)
        return "250 OK"


def _worker(engine: Engine, port: int, lease_s: float) -> subprocess.Popen[bytes]:
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.Popen([sys.executable, "-c", WORKER, url, str(port), str(lease_s), NOW.isoformat()])


def _wait(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)


def test_a_worker_killed_mid_send_is_followed_by_one_that_sends_under_the_same_message_id(
    fresh_engine: Engine,
) -> None:
    from aiosmtpd.controller import Controller

    # The e-mail was committed with its change; the worker sending it is killed (SIGKILL) while the
    # mail server holds the message unanswered.
    _notify(fresh_engine)
    (row,) = _rows(fresh_engine)
    stalling, port = StallingInbox(), free_port()
    controller = Controller(stalling, hostname="127.0.0.1", port=port)
    controller.start()
    first = _worker(fresh_engine, port, lease_s=2)
    try:
        _wait(lambda: len(stalling.messages) == 1)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        controller.stop()
    (stored,) = _rows(fresh_engine)
    assert (stored.status, stored.attempts, stored.sent_at) == (DeliveryStatus.pending, 1, None)
    # A new process (the restart) sends it once its lease ran out, under the same Message-ID.
    with smtp_server() as (inbox, port):
        second = _worker(fresh_engine, port, lease_s=2)
        try:
            _wait(lambda: _rows(fresh_engine)[0].status is DeliveryStatus.sent)
            time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait(10)
        (again,) = inbox.messages
    assert again["Message-ID"] == stalling.messages[0]["Message-ID"] == f"<{row.id}@fablab-hub>"
    (sent,) = _rows(fresh_engine)
    assert sent.attempts == 2


def _queue_many(engine: Engine, count: int) -> None:
    with Session(engine) as session:
        said = message("Your booking is confirmed")
        for i in range(count):
            queue_email(session, "confirmed", said, NOW, to_address=f"member{i}@example.vn")
        session.commit()


def test_a_burst_is_mailed_in_one_run_over_one_connection_per_batch(
    fresh_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _queue_many(fresh_engine, 2 * outbox.BATCH + 5)
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{port}")
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW) == {
        "sent": 2 * outbox.BATCH + 5,
        "retry": 0,
        "failed": 0,
    }
    assert sorted(str(mail["To"]) for mail in inbox.messages) == sorted(
        f"member{i}@example.vn" for i in range(2 * outbox.BATCH + 5)
    )
    assert {row.status for row in _rows(fresh_engine)} == {DeliveryStatus.sent}


def test_a_server_that_is_down_is_not_tried_for_the_whole_queue_in_one_run(fresh_engine: Engine) -> None:
    _queue_many(fresh_engine, 2 * outbox.BATCH + 5)
    sender = outbox.SmtpSender(f"smtp://127.0.0.1:{free_port()}", timeout_s=2)
    # The first batch is put off; the rest waits for the next run instead of failing too.
    assert outbox.deliver_due(fresh_engine, sender, SETTINGS, NOW) == {
        "sent": 0,
        "retry": outbox.BATCH,
        "failed": 0,
    }
    attempts = sorted(row.attempts for row in _rows(fresh_engine))
    assert attempts == [0] * (outbox.BATCH + 5) + [1] * outbox.BATCH


def _composed(kind: str, name: str, invitation: bytes | None) -> Any:
    from booking.messages import Message

    outgoing = Outgoing(
        id="d1",
        kind=kind,
        member_id="m-1",
        to_address="lan@example.vn",
        name=name,
        language="vi",
        message=Message("Reminder"),
        link="/bookings",
        attempts=1,
        invitation=invitation,
    )
    return compose(outgoing, SETTINGS, NOW)


_INVITATION = (
    "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Phòng họp 1\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()


@pytest.mark.parametrize(
    ("kind", "name", "invitation"),
    [
        ("confirmed", "Nguyễn Thị Lan", _INVITATION),
        ("reminder", "Trần " * 30 + "Bảo", None),
        ("password_reset", "", None),
    ],
)
def test_the_wire_bytes_read_back_as_the_composed_message(
    kind: str, name: str, invitation: bytes | None
) -> None:
    import email
    import email.policy
    from email.header import decode_header, make_header

    mail = _composed(kind, name, invitation)

    data = wire(mail)

    assert data is not None
    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF line ends only
    ours = email.message_from_bytes(data, policy=email.policy.default)
    theirs = email.message_from_bytes(
        mail.as_bytes(policy=mail.policy.clone(linesep="\r\n")), policy=email.policy.default
    )
    assert [(k, str(v).strip()) for k, v in ours.items()] == [(k, str(v).strip()) for k, v in theirs.items()]
    assert max(len(line) for line in data.split(b"\r\n") if b"https://" not in line) <= 78
    ours_parts = [p for p in ours.walk() if not p.is_multipart()]
    theirs_parts = [p for p in theirs.walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in ours_parts] == [p.get_content_type() for p in theirs_parts]
    assert [p.get_content() for p in ours_parts] == [p.get_content() for p in theirs_parts]
    assert len(ours_parts) == (3 if invitation else 2)
    # Read as RFC 2047 reads it (the space between two encoded words is not the name's).
    raw_to = email.message_from_bytes(data)["To"]
    expected = f"{name} <lan@example.vn>" if name else "lan@example.vn"
    assert str(make_header(decode_header(raw_to))) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Xin chào Nguyễn Thị Lan,\nlịch đặt Phòng họp 1 đã được xác nhận.\n",
        "a line that ends in spaces   \nand one in a tab\t\n.a line that starts with a dot\n",
        "=3D is not an escape here; neither is =\n" + "đ" * 120 + "\n" + "x" * 200,
        "BEGIN:VCALENDAR\r\nSUMMARY:Đặt chỗ — máy cắt laser\r\nEND:VCALENDAR\r\n",
    ],
)
def test_a_text_part_reads_back_exactly_in_short_ascii_lines(text: str) -> None:
    import email
    import email.policy

    from web.mail import _text

    data = wire(_text(text, "plain"))

    assert data is not None
    body = data.split(b"\r\n\r\n", 1)[1]
    assert body.isascii()
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    part = email.message_from_bytes(data, policy=email.policy.default)
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    # Read back with the wire's CRLF line ends and the CRLF that ends the message.
    assert part.get_content().replace("\r\n", "\n").rstrip("\n") == text.replace("\r\n", "\n").rstrip("\n")


def test_a_header_that_is_not_ascii_is_left_to_the_email_package() -> None:
    mail = _composed("reminder", "Lan", None)
    del mail["From"]
    mail["From"] = "Trung tâm <no-reply@fablab.example.vn>"

    assert wire(mail) is None


def _children() -> set[int]:
    """The processes this test process started that still run."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.fixture
def composer(smtp: tuple[Inbox, int]) -> Iterator[outbox.Composer]:
    """A Composer sending to the test's SMTP server; closed (its child ended) afterwards."""
    composer = outbox.Composer(SETTINGS.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{smtp[1]}"}))
    yield composer
    composer.close()


LOWER = min(os.nice(0) + outbox.COMPOSER_NICE, 19)  # the nice value of a composer's child


def test_over_smtp_the_emails_are_composed_and_sent_by_a_child_of_lower_priority(
    fresh_engine: Engine, smtp: tuple[Inbox, int], composer: outbox.Composer
) -> None:
    inbox, _port = smtp
    _notify(fresh_engine)
    _queue_many(fresh_engine, outbox.BATCH + 1)
    assert outbox.deliver_due(fresh_engine, composer, SETTINGS, NOW) == {
        "sent": outbox.BATCH + 2,
        "retry": 0,
        "failed": 0,
    }
    assert composer.niceness() == LOWER
    assert len(inbox.messages) == outbox.BATCH + 2
    (mail,) = inbox.to("lan@example.vn")
    assert mail["Subject"] == "FabLab Hub: Đăng ký của bạn"  # composed in the member's language there
    assert {row.status for row in _rows(fresh_engine)} == {DeliveryStatus.sent}


def test_a_composer_child_that_dies_is_replaced_and_its_batch_sent_from_here(
    fresh_engine: Engine, smtp: tuple[Inbox, int], composer: outbox.Composer
) -> None:
    inbox, _port = smtp
    before = _children()
    composer.niceness()  # the child is started
    (child,) = _children() - before
    os.kill(child, signal.SIGKILL)
    _notify(fresh_engine)
    assert outbox.deliver_due(fresh_engine, composer, SETTINGS, NOW)["sent"] == 1
    assert len(inbox.messages) == 1
    # The next batch has a new child, of lower priority again.
    assert composer.niceness() == LOWER
    assert child not in _children()
