"""Webhooks against a real HTTP receiver on 127.0.0.1 (SQLite and PostgreSQL): an admin registers
one; each event it wants arrives once, signed over its body (HMAC-SHA256 with the secret), with its
timestamp, despite a first answer of 500; a slow receiver never delays another; a receiver failing
for a day is switched off and the admins are told; addresses that are not http(s), that carry a
password or point into private networks are refused in words; a post goes to the address its check
approved, however the name answers afterwards (DNS rebinding), over TLS checked against the name."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from booking import webhooks as booking_hooks
from booking.errors import InvalidRequest
from booking.members.service import load_actor
from booking.messages import message
from booking.models import Delivery, DeliveryStatus, Notification, ResourceKind, Role, Webhook
from booking.notifications import notify, webhooks_changed
from tests.clock import FakeClock
from tests.conftest import NOW
from tests.factories import make_member, make_resource, make_site
from tests.pki import make_pki
from tests.servers import free_port
from tests.web.pages import HTML, csrf_of, sign_in
from web import webhooks
from web.app import create_app
from web.settings import Settings

SECRET = "a-shared-secret-of-the-receiver"


class Receiver:
    """An HTTP endpoint that records what it got and answers with the statuses it is told to."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.got_one = threading.Event()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.got_one.set()
                receiver.hold.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.hold.set()
        server.shutdown()
        server.server_close()


def _settings(**extra: Any) -> Settings:
    return Settings(
        environment="test",
        secret_key="z" * 40,
        database_url="sqlite://",
        scheduler_enabled=False,
        public_url="https://fablab.example.vn",
        **extra,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture(autouse=True)
def _forget_hooks() -> Iterator[None]:
    webhooks_changed()
    yield
    webhooks_changed()


def _admin(engine: Engine, app: Any) -> dict[str, str]:
    with Session(engine, expire_on_commit=False) as session:
        admin = make_member(session, role=Role.admin, email="admin@example.vn")
        session.commit()
    return {"Authorization": f"Bearer {app.state.tokens.issue(admin.id, 1)}"}


def _signed_correctly(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-fablab-signature"], expected)


def test_an_event_arrives_once_signed_despite_a_first_500(fresh_engine: Engine, receiver: Receiver) -> None:
    settings = _settings(webhook_allow_private=True)
    clock = FakeClock(NOW)
    app = create_app(settings, engine=fresh_engine, clock=clock)
    admin = _admin(fresh_engine, app)
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        room = make_resource(session, site, name="Phòng họp 2", kind=ResourceKind.room, quota_group=None)
        member = make_member(session, email="minh@example.vn")
        session.commit()
    with TestClient(app, raise_server_exceptions=False) as client:
        made = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "kinds": ["confirmed"], "secret": SECRET},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        assert made.json()["secret"] == SECRET
        assert "secret" not in client.get("/api/v1/webhooks", headers=admin).json()[0]
        headers = {"Authorization": f"Bearer {app.state.tokens.issue(member.id, 1)}"}
        slot = {
            "resource_id": room.id,
            "start": (NOW + timedelta(days=1)).isoformat(),
            "end": (NOW + timedelta(days=1, hours=1)).isoformat(),
        }
        booked = client.post("/api/v1/bookings", json=slot, headers=headers)
        assert booked.status_code == 201, booked.text
    receiver.statuses = [500]
    assert webhooks.deliver_due(fresh_engine, settings, clock()) == {"sent": 0, "retry": 1, "failed": 0}
    # Not due again until its back-off has passed.
    assert webhooks.deliver_due(fresh_engine, settings, clock()) == {"sent": 0, "retry": 0, "failed": 0}
    clock.set(NOW + timedelta(minutes=1))
    assert webhooks.deliver_due(fresh_engine, settings, clock()) == {"sent": 1, "retry": 0, "failed": 0}
    clock.set(NOW + timedelta(hours=2))
    assert webhooks.deliver_due(fresh_engine, settings, clock())["sent"] == 0
    (first_headers, _), (headers_ok, body) = receiver.received
    assert first_headers["x-fablab-delivery"] == headers_ok["x-fablab-delivery"]
    for seen_headers, seen_body in receiver.received:
        assert _signed_correctly(seen_headers, seen_body)
        assert seen_headers["x-fablab-event"] == "confirmed"
        assert json.loads(seen_body)["timestamp"] == int(seen_headers["x-fablab-timestamp"])
    event = json.loads(body)
    assert event["kind"] == "confirmed"
    assert event["booking"]["id"] == booked.json()["id"]
    assert event["booking"]["resource_id"] == room.id
    assert event["text"]["vi"].startswith("Lượt đặt Phòng họp 2")
    assert "is confirmed" in event["text"]["en"]
    assert event["link"] == f"https://fablab.example.vn/bookings/{booked.json()['id']}"
    # A body changed on the way no longer matches its signature.
    assert not _signed_correctly(headers_ok, body.replace(b"confirmed", b"cancelled"))


def test_one_alert_to_many_managers_is_one_event(fresh_engine: Engine, receiver: Receiver) -> None:
    settings = _settings(webhook_allow_private=True)
    with Session(fresh_engine, expire_on_commit=False) as session:
        site = make_site(session)
        managers = [make_member(session, role=Role.manager, manages=(site,)) for _ in range(3)]
        admin = make_member(session, role=Role.admin)
        booking_hooks.create_webhook(
            session, load_actor(session, admin), receiver.url, ["*"], NOW, known=["alert_fault"]
        )
        session.commit()
        said = message("{machine} reported fault {code}", machine="Máy cắt laser 1", code="E12")
        for manager in managers:
            notify(session, manager.id, "alert_fault", said, now=NOW)
        session.commit()
    assert webhooks.deliver_due(fresh_engine, settings, NOW)["sent"] == 1
    ((headers, _body),) = receiver.received
    assert headers["x-fablab-event"] == "alert_fault"


def test_a_slow_receiver_never_delays_another(fresh_engine: Engine) -> None:
    settings = _settings(webhook_allow_private=True)
    with receiving() as slow, receiving() as quick:
        slow.hold.clear()
        with Session(fresh_engine, expire_on_commit=False) as session:
            admin = load_actor(session, make_member(session, role=Role.admin))
            member = make_member(session)
            booking_hooks.create_webhook(session, admin, slow.url, ["reminder"], NOW, known=["reminder"])
            booking_hooks.create_webhook(session, admin, quick.url, ["reminder"], NOW, known=["reminder"])
            session.commit()
            notify(session, member.id, "reminder", message("Your booking starts soon"), now=NOW)
            session.commit()
        worker = threading.Thread(target=webhooks.deliver_due, args=(fresh_engine, settings, NOW))
        worker.start()
        # The quick receiver gets its event while the slow one still holds its request open.
        assert quick.got_one.wait(20)
        assert slow.got_one.wait(20)
        assert not slow.hold.is_set()
        assert len(quick.received) == 1
        slow.hold.set()
        worker.join(30)
        assert not worker.is_alive()


def test_a_receiver_failing_for_a_day_is_switched_off_and_the_admins_told(
    fresh_engine: Engine, receiver: Receiver
) -> None:
    settings = _settings(webhook_allow_private=True)
    receiver.statuses = [503] * 100
    with Session(fresh_engine, expire_on_commit=False) as session:
        admin = make_member(session, role=Role.admin)
        member = make_member(session)
        hook = booking_hooks.create_webhook(
            session, load_actor(session, admin), receiver.url, ["reminder"], NOW, known=["reminder"]
        )
        session.commit()
        notify(session, member.id, "reminder", message("Your booking starts soon"), now=NOW)
        session.commit()
    when = NOW
    outcomes = []
    while when <= NOW + timedelta(days=1, hours=2):
        outcomes.append(webhooks.deliver_due(fresh_engine, settings, when))
        when += timedelta(hours=1)
    assert sum(o["retry"] for o in outcomes) >= 10
    assert sum(o["failed"] for o in outcomes) == 1
    with Session(fresh_engine) as session:
        stored = session.get(Webhook, hook.id)
        assert stored is not None
        assert stored.active is False
        assert stored.last_error == "HTTP 503"
        (delivery,) = session.exec(select(Delivery).where(Delivery.channel == "webhook")).all()
        assert delivery.status is DeliveryStatus.failed
        (told,) = session.exec(
            select(Notification).where(Notification.kind == "webhook_disabled").order_by(col(Notification.id))
        ).all()
        assert told.member_id == admin.id
        assert receiver.url in told.message
    # No new event is queued for a webhook that is off.
    with Session(fresh_engine) as session:
        webhooks_changed()
        notify(session, member.id, "reminder", message("Your booking starts soon"), now=when)
        session.commit()
        assert len(session.exec(select(Delivery).where(Delivery.channel == "webhook")).all()) == 1


def test_bad_addresses_and_kinds_are_refused_in_words(fresh_engine: Engine) -> None:
    app = create_app(_settings(), engine=fresh_engine, clock=FakeClock(NOW))
    admin = _admin(fresh_engine, app)
    with Session(fresh_engine, expire_on_commit=False) as session:
        member = make_member(session)
        session.commit()
    with TestClient(app, raise_server_exceptions=False) as client:
        cases = {
            "ftp://example.org/x": "must be an http:// or https:// URL",
            "https://user:pw@example.org/x": "no user name or password",
            "http://127.0.0.1:9/x": "local or private address",
            "http://10.1.2.3/x": "local or private address",
            "http://[::1]/x": "local or private address",
            "http://169.254.169.254/latest": "local or private address",
        }
        for url, words in cases.items():
            answer = client.post("/api/v1/webhooks", json={"url": url, "kinds": ["confirmed"]}, headers=admin)
            assert answer.status_code == 422, url
            assert words in answer.json()["detail"], (url, answer.json())
        unknown = client.post(
            "/api/v1/webhooks", json={"url": "https://93.184.216.34/x", "kinds": ["lunch"]}, headers=admin
        )
        assert unknown.status_code == 422
        assert "no event of the kind lunch" in unknown.json()["detail"]
        member_headers = {"Authorization": f"Bearer {app.state.tokens.issue(member.id, 1)}"}
        refused = client.post(
            "/api/v1/webhooks",
            json={"url": "https://93.184.216.34/x", "kinds": ["confirmed"]},
            headers=member_headers,
        )
        assert refused.status_code == 403
        assert client.get("/api/v1/webhooks", headers=member_headers).status_code == 403
        made = client.post(
            "/api/v1/webhooks", json={"url": "https://93.184.216.34/x", "kinds": ["*"]}, headers=admin
        )
        assert made.status_code == 201
        assert len(made.json()["secret"]) >= 16
        hook_id = made.json()["id"]
        assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=admin).status_code == 204
        assert client.get("/api/v1/webhooks", headers=admin).json() == []


def test_a_destination_is_checked_again_when_sent(fresh_engine: Engine, receiver: Receiver) -> None:
    # Registered while private addresses were allowed; sent by a worker where they no longer are.
    with Session(fresh_engine, expire_on_commit=False) as session:
        admin = make_member(session, role=Role.admin)
        member = make_member(session)
        booking_hooks.create_webhook(
            session, load_actor(session, admin), receiver.url, ["reminder"], NOW, known=["reminder"]
        )
        session.commit()
        notify(session, member.id, "reminder", message("Your booking starts soon"), now=NOW)
        session.commit()
    assert webhooks.deliver_due(fresh_engine, _settings(), NOW) == {"sent": 0, "retry": 1, "failed": 0}
    assert receiver.received == []


def test_the_admin_page_in_vietnamese(fresh_engine: Engine) -> None:
    app = create_app(_settings(), engine=fresh_engine, clock=FakeClock(NOW))
    with Session(fresh_engine, expire_on_commit=False) as session:
        admin = make_member(session, role=Role.admin, email="admin@example.vn")
        session.commit()
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, app, admin)
        page = client.get("/admin/webhooks", headers=HTML)
        assert "Chưa có webhook nào." in page.text
        typed = {
            "csrf_token": csrf_of(page.text),
            "url": "http://192.168.1.20/hook",
            "kinds": ["alert_fault"],
        }
        refused = client.post("/admin/webhooks", data=typed, headers=HTML)
        assert refused.status_code == 422
        assert 'id="w-url-error"' in refused.text
        assert "là địa chỉ cục bộ hoặc nội bộ" in refused.text
        assert 'value="http://192.168.1.20/hook"' in refused.text
        assert 'value="alert_fault" checked' in refused.text
        made = client.post(
            "/admin/webhooks", data={**typed, "url": "https://93.184.216.34/hook"}, headers=HTML
        )
        assert made.status_code == 200
        assert "chỉ hiện một lần này" in made.text
        assert "https://93.184.216.34/hook" in made.text
        assert "Một máy báo lỗi" in made.text


def test_every_post_shares_one_tls_context_that_checks_certificates() -> None:
    import ssl
    import urllib.request

    from web import webhooks as posting

    first, again = posting.opener(), posting.opener()
    handlers: list[object] = getattr(first, "handlers")  # noqa: B009 - not in urllib's type stubs
    (https,) = [h for h in handlers if isinstance(h, urllib.request.HTTPSHandler)]
    context = getattr(https, "_context")  # noqa: B009 - the handler keeps its context only there

    assert again is first
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    # Redirects are still refused (a redirect could lead past the destination check).
    assert any(type(h).__name__ == "_NoRedirects" for h in handlers)


class _Resolver:
    """A name server for one name that answers as it is told, each time it is asked (as a DNS
    server with a zero TTL can); every other name is resolved as usual."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str]) -> None:
        import socket

        self.name, self.answers, self.asked = name, answers, 0
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != self.name:
                return real(host, port, *args, **kwargs)
            answer = self.answers[min(self.asked, len(self.answers) - 1)]
            self.asked += 1
            return real(answer, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _outgoing(url: str) -> webhooks.Outgoing:
    return webhooks.Outgoing(
        id="d1",
        webhook_id="w1",
        url=url,
        secret=SECRET,
        kind="reminder",
        message=message("Your booking starts soon"),
        payload={},
        link="",
        attempts=1,
    )


def test_a_name_that_changes_its_answer_after_the_check_is_not_followed(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    # DNS rebinding: a public address while the destination is checked, then 127.0.0.1 (the center's
    # own machine) when the post connects. The post goes to the address that was checked.
    name = "hooks.partner.example"
    resolver = _Resolver(monkeypatch, name, ["93.184.216.34", "127.0.0.1"])
    outcome = webhooks.post(_outgoing(f"http://{name}:{receiver.port}/hook"), _settings(), NOW, timeout_s=1.0)
    assert outcome != ""  # 93.184.216.34 is out of this machine's reach
    assert resolver.asked == 1
    assert receiver.received == []


def test_the_post_keeps_the_name_for_the_server(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    # On the center's own network (allowed by the admin setting): resolved once, connected to that
    # address, and the Host header still names the server.
    name = "erp.center.internal"
    resolver = _Resolver(monkeypatch, name, ["127.0.0.1", "192.0.2.1"])
    outgoing = _outgoing(f"http://{name}:{receiver.port}/hook")
    assert webhooks.post(outgoing, _settings(webhook_allow_private=True), NOW, timeout_s=5.0) == ""
    assert resolver.asked == 1
    ((headers, body),) = receiver.received
    assert headers["host"] == f"{name}:{receiver.port}"
    assert _signed_correctly(headers, body)
    # Asked again, the name now answers a documentation-only address: refused without the setting.
    with pytest.raises(InvalidRequest, match="local or private"):
        webhooks.check_destination(f"http://{name}/hook", allow_private=False)


def test_https_goes_to_the_checked_address_and_checks_the_certificate_of_the_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ssl
    import urllib.error
    import urllib.request

    pki = make_pki(tmp_path)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(pki.cert_file, pki.key_file)
    with receiving() as receiver:
        # The receiver's plain socket is wrapped in TLS with a certificate for "localhost".
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), receiver.handler())
        server.socket = served.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            # Asked again, "localhost" would now lead nowhere: only the checked address is used.
            _Resolver(monkeypatch, "localhost", ["127.0.0.1", "192.0.2.1"])
            url = f"https://localhost:{server.server_port}/hook"
            address = webhooks.check_destination(url, allow_private=True)
            trusting = ssl.create_default_context(cafile=str(pki.ca_file))
            posting = urllib.request.build_opener(webhooks._PinnedHTTPS(trusting))
            with posting.open(webhooks._Pinned(url, address, data=b"{}", method="POST"), timeout=5) as answer:
                assert answer.status == 204
            assert receiver.received[0][0]["host"] == f"localhost:{server.server_port}"
            # A certificate the post does not trust is refused, pinned or not.
            untrusting = ssl.create_default_context(cafile=str(pki.wrong_ca_file))
            refusing = urllib.request.build_opener(webhooks._PinnedHTTPS(untrusting))
            with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
                refusing.open(webhooks._Pinned(url, address, data=b"{}", method="POST"), timeout=5)
        finally:
            server.shutdown()
            server.server_close()
