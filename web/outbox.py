"""The outbox worker: sends the e-mails queued beside each change, after its commit.

A batch is claimed in a short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two workers never
take the same row; SQLite: its write slot), each row leased for `LEASE` by counting the attempt; then
every message is sent with no transaction open, and the outcome recorded. A message the server
refused or could not take is tried again with back-off (30 s, 1, 2, 4 … minutes, at most an hour)
until `MAX_ATTEMPTS`; a process killed mid-send leaves the lease to run out and the row is sent again,
under the same `Message-ID` (`<id@fablab-hub>`), so a mail client shows it once.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message as Mail
from email.utils import getaddresses
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from booking.bookings import ical
from booking.messages import Message
from booking.models import Booking, Delivery, DeliveryStatus, Member, Resource, Site
from booking.notifications import backlog
from web import notices
from web.backoff import LEASE, MAX_ATTEMPTS, retry_after, settle, take_due
from web.i18n import normalise
from web.mail import Outgoing, compose, wire
from web.metrics import DELIVERIES
from web.settings import Settings

log = logging.getLogger(__name__)

BATCH = 20
# How long one run of the worker keeps taking batches while more are due.
DRAIN_S = 5.0
SMTP_TIMEOUT_S = 15.0


class Sender(Protocol):
    def connect(self) -> AbstractContextManager[Callable[[Mail], None]]:
        """A way to send the messages of one batch (one connection to the mail server at most)."""
        ...


class LogSender:
    """No mail server configured (the demo): each e-mail is written to the log instead."""

    @contextmanager
    def connect(self) -> Iterator[Callable[[Mail], None]]:
        yield self.send

    def send(self, message: Mail) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        plain = [p for p in message.walk() if p.get_content_type() == "text/plain"]
        payload = plain[0].get_payload(decode=True) if plain else b""
        text = payload.decode() if isinstance(payload, bytes) else ""
        log.info("e-mail to %s: %s\n%s", _readable(message["To"]), _readable(message["Subject"]), text)


def _readable(header: str) -> str:
    return str(make_header(decode_header(header)))


class SmtpSender:
    """An SMTP server from `smtp://user:pass@host:port` (`smtps://` for TLS, `?starttls=true`).

    One connection carries a whole batch; after a failure that may have broken it, the next message
    opens a new one."""

    def __init__(self, url: str, timeout_s: float = SMTP_TIMEOUT_S) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("FABLAB_SMTP_URL must look like smtp://user:pass@host:port or smtps://…")
        self.tls = parts.scheme == "smtps"
        self.starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout_s = timeout_s
        self._tls_context: ssl.SSLContext | None = None

    def _open(self) -> smtplib.SMTP:
        client: smtplib.SMTP
        if self.tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=self._context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.starttls:
                client.starttls(context=self._context())
            if self.user:
                client.login(self.user, self.password or "")
        except BaseException:
            client.close()
            raise
        return client

    def _context(self) -> ssl.SSLContext:
        """The TLS settings, made once: reading the system's certificates took 40 ms of CPU, and a
        context was made for every batch (even for a server without TLS)."""
        if self._tls_context is None:
            self._tls_context = ssl.create_default_context()
        return self._tls_context

    @contextmanager
    def connect(self) -> Iterator[Callable[[Mail], None]]:
        client: smtplib.SMTP | None = None

        def send(message: Mail) -> None:
            nonlocal client
            if client is None:
                client = self._open()
            try:
                sent(client, message)
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError, smtplib.SMTPSenderRefused):
                raise  # the server answered: the connection still serves the next message
            except BaseException:
                client.close()
                client = None
                raise

        try:
            yield send
        finally:
            if client is not None:
                try:
                    client.quit()
                except (OSError, smtplib.SMTPException):
                    client.close()


def sent(client: smtplib.SMTP, message: Mail) -> None:
    """Hand the message to the mail server, as bytes written straight from its parts (`wire`); an
    address that is not plain ASCII goes through smtplib's own way (SMTPUTF8 where offered)."""
    sender = _addresses(str(message["From"]))[0]
    recipients = list(_addresses(str(message["To"])))
    data = wire(message)
    if data is None or not sender.isascii() or not all(a.isascii() for a in recipients):
        client.send_message(message)
        return
    client.sendmail(sender, recipients, data)


@functools.lru_cache(maxsize=4096)
def _addresses(header: str) -> tuple[str, ...]:
    """The bare addresses of a From or To header (remembered: the same few come again and again)."""
    return tuple(address for _name, address in getaddresses([header]))


def sender_for(settings: Settings) -> Sender:
    return SmtpSender(settings.smtp_url) if settings.smtp_url else LogSender()


def claim(engine: Engine, now: datetime, batch: int = BATCH, lease: timedelta = LEASE) -> list[Outgoing]:
    """Take the due deliveries (leased for `lease`) in one short transaction."""
    with Session(engine, expire_on_commit=False) as session:
        rows = take_due(session, engine, "email", now, batch, lease, _COLUMNS)
        members = {
            m.id: m
            for m in session.connection().execute(
                sa.select(*_MEMBER_COLUMNS).where(
                    _member.c.id.in_([r.member_id for r in rows if r.member_id])
                )
            )
        }
        # The bookings the e-mails carry as invitations, in one query; only what an invitation shows.
        booking_ids = [r.booking_id for r in rows if r.booking_id and r.kind in INVITING | CANCELLING]
        bookings = (
            {
                booking.id: (booking, resource, site)
                for booking, resource, site in session.exec(
                    select(Booking, Resource, Site)
                    .join(Resource, col(Resource.id) == col(Booking.resource_id))
                    .join(Site, col(Site.id) == col(Booking.site_id))
                    .where(col(Booking.id).in_(booking_ids))
                    .options(*_INVITATION_COLUMNS)
                ).all()
            }
            if booking_ids
            else {}
        )
        claimed: list[Outgoing] = []
        skipped, unaddressed = [], []
        for row in rows:
            member = members.get(row.member_id) if row.member_id else None
            if (
                member is not None
                and row.kind not in notices.ESSENTIAL
                and row.kind in (member.email_off or [])
            ):
                skipped.append(row.id)
                continue
            address = member.email if member else row.to_address
            if not address:
                unaddressed.append(row.id)
                continue
            claimed.append(
                Outgoing(
                    id=row.id,
                    kind=row.kind,
                    member_id=member.id if member else None,
                    to_address=address,
                    name=member.name if member else "",
                    language=normalise(member.language if member else row.language),
                    message=Message.from_json(row.message),
                    link=row.link,
                    attempts=row.attempts,
                    booking_id=row.booking_id,
                )
            )
        settle(session, skipped, DeliveryStatus.skipped)
        settle(session, unaddressed, DeliveryStatus.failed, "no address")
        session.commit()
    # The invitations are rendered once the claim is committed: no CPU work holds the write slot.
    return [replace(o, invitation=_invitation(o, bookings, now)) for o in claimed]


_delivery: sa.Table = Delivery.__table__  # type: ignore[attr-defined]
_member: sa.Table = Member.__table__  # type: ignore[attr-defined]
_COLUMNS = tuple(
    _delivery.c[name]
    for name in ("kind", "member_id", "to_address", "language", "message", "link", "booking_id")
)
_MEMBER_COLUMNS = tuple(_member.c[name] for name in ("id", "email", "name", "language", "email_off"))
_INVITATION_COLUMNS = (
    load_only(
        *(
            getattr(Booking, name)
            for name in ("id", "code", "note", "status", "start_at", "end_at", "created_at", "updated_at")
        ),
        raiseload=True,
    ),
    load_only(Resource.id, Resource.name, Resource.name_en, raiseload=True),  # type: ignore[arg-type]
    load_only(Site.id, Site.name, Site.name_en, Site.address, raiseload=True),  # type: ignore[arg-type]
)


# Kinds whose e-mail carries its booking as an invitation, and those that take it off calendars.
INVITING = frozenset({"confirmed", "approved", "moved"})
CANCELLING = frozenset({"cancelled", "rejected", "no_show"})


def _invitation(
    outgoing: Outgoing, bookings: dict[str, tuple[Booking, Resource, Site]], now: datetime
) -> bytes | None:
    if outgoing.booking_id is None or outgoing.kind not in INVITING | CANCELLING:
        return None
    found = bookings.get(outgoing.booking_id)
    if found is None:
        return None
    booking, resource, site = found
    return ical.invitation(
        booking, resource, site, now, outgoing.language, cancel=outgoing.kind in CANCELLING
    )


def deliver_due(
    engine: Engine,
    sender: Sender | Composer,
    settings: Settings,
    now: datetime,
    *,
    lease: timedelta = LEASE,
    budget_s: float = DRAIN_S,
) -> dict[str, int]:
    """Send what is due, batch after batch for up to `budget_s` seconds; returns how many were sent,
    put off and given up. One connection to the mail server and one short transaction record each
    batch. A process killed mid-batch leaves its rows leased for `lease`; then they are sent again,
    same Message-ID."""
    outcome = {"sent": 0, "retry": 0, "failed": 0}
    deadline = time.monotonic() + budget_s
    while True:
        claimed = claim(engine, now, lease=lease)
        put_off = outcome["retry"]
        if claimed:
            if isinstance(sender, Composer):
                results = sender.send_all(claimed, now)
            else:
                results = compose_and_send(sender, settings, now, claimed)
            _count(results, outcome)
            _record(engine, results, now)
        # A short batch was the last one due; a long queue is drained a batch at a time, so a burst
        # of bookings is mailed in seconds, not at one batch per run. A mail server that put
        # something off is given until the next run.
        if len(claimed) < BATCH or outcome["retry"] > put_off or time.monotonic() >= deadline:
            return outcome


def compose_and_send(
    sender: Sender, settings: Settings, now: datetime, claimed: list[Outgoing]
) -> list[_Result]:
    """Compose and send each claimed e-mail (one connection to the mail server for them all): what
    became of each. Holds no transaction."""
    results: list[_Result] = []
    with sender.connect() as send:
        for outgoing in claimed:
            try:
                send(compose(outgoing, settings, now))
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                # ValueError: an address no mail could be composed for; it will not get better.
                bounced = refused_for_good(exc) or isinstance(exc, ValueError)
                gave_up = bounced or outgoing.attempts >= MAX_ATTEMPTS
                results.append(_Result(outgoing, repr(exc), gave_up=gave_up, bounced=bounced))
            else:
                results.append(_Result(outgoing, None))
    return results


def _count(results: list[_Result], outcome: dict[str, int]) -> None:
    for result in results:
        word = "sent" if result.error is None else "failed" if result.gave_up else "retry"
        if result.error is not None:
            log.warning(
                "e-mail %s to %s not sent (%s): %s",
                result.outgoing.id,
                result.outgoing.to_address,
                word,
                result.error,
            )
        outcome[word] += 1
        DELIVERIES.labels(channel="email", result=word).inc()


# The outbox's costly part, composing and sending, runs in a process of its own at this lower CPU
# priority (`Composer`): in a burst of bookings the web workers and the bridge get the cores first.
COMPOSER_NICE = 10


class Composer:
    """Composes and sends each batch's e-mails over SMTP (`settings.smtp_url`) in a child process that
    runs at a lower CPU priority (nice +COMPOSER_NICE), so that composing the e-mails of a burst of
    bookings never takes a core from the requests that make them: those e-mails leave as soon as the
    cores are free. Claiming and recording stay with the caller, at its own priority: a process that
    may wait long for a core never holds a transaction or SQLite's write slot. (Only the costly part
    moves: in one process, a low-priority thread holding the interpreter would hold up a card tap.)

    The child is started at the first batch. If it cannot be started or dies during a batch, that
    batch is sent from this process, as without a Composer (what the child had sent goes again under
    the same Message-ID), and the next batch starts a new child."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None
        self._guard = threading.Lock()

    def send_all(self, claimed: list[Outgoing], now: datetime) -> list[_Result]:
        """`compose_and_send` for the batch, in the child."""
        try:
            results: list[_Result] = self._child().submit(_in_child, claimed, now).result()
            return results
        except (BrokenProcessPool, OSError) as exc:
            log.warning("the e-mail composer process failed (%r): this batch is sent from here", exc)
            self.close()
            return compose_and_send(sender_for(self.settings), self.settings, now, claimed)

    def niceness(self) -> int:
        """The child's nice value (starting it if need be)."""
        return int(self._child().submit(os.nice, 0).result())

    def close(self) -> None:
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _child(self) -> ProcessPoolExecutor:
        with self._guard:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_started,
                    initargs=(self.settings,),
                )
            return self._pool


_CHILD: dict[str, Any] = {}


def _child_started(settings: Settings) -> None:
    os.nice(COMPOSER_NICE)
    _CHILD["settings"], _CHILD["sender"] = settings, sender_for(settings)


def _in_child(claimed: list[Outgoing], now: datetime) -> list[_Result]:
    return compose_and_send(_CHILD["sender"], _CHILD["settings"], now, claimed)


def refused_for_good(exc: Exception) -> bool:
    """Whether the mail server refused the recipient or the message permanently (a 5xx reply): a
    mailbox that does not exist is not tried again and again. 4xx replies and lost connections pass."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


@dataclass(frozen=True, slots=True)
class _Result:
    outgoing: Outgoing
    error: str | None  # None: sent
    gave_up: bool = False
    bounced: bool = False


def _record(engine: Engine, results: list[_Result], now: datetime) -> None:
    """Write the batch's outcomes in one transaction: one UPDATE for all that were sent."""
    sent = [r.outgoing.id for r in results if r.error is None]
    others = {r.outgoing.id: r for r in results if r.error is not None}
    with Session(engine) as session:
        settle(session, sent, DeliveryStatus.sent, sent_at=now)
        failed = (
            session.exec(select(Delivery).where(col(Delivery.id).in_(list(others)))).all() if others else []
        )
        for row in failed:
            result = others[row.id]
            row.last_error = (result.error or "")[:500]
            if result.gave_up:
                row.status = DeliveryStatus.bounced if result.bounced else DeliveryStatus.failed
            else:
                row.next_attempt_at = now + retry_after(result.outgoing.attempts)
            session.add(row)
        session.commit()


def failed_deliveries(session: Session, limit: int = 50) -> list[tuple[Delivery, str]]:
    """The messages given up on, newest first, each with its addressee's e-mail (for admins)."""
    rows = session.exec(
        select(Delivery, Member.email)
        .join(Member, col(Member.id) == col(Delivery.member_id), isouter=True)
        .where(col(Delivery.status).in_([DeliveryStatus.failed, DeliveryStatus.bounced]))
        .order_by(col(Delivery.created_at).desc())
        .limit(limit)
    ).all()
    return [(delivery, delivery.to_address or email or "") for delivery, email in rows]


def waiting(session: Session) -> tuple[int, datetime | None]:
    """How many e-mails wait to be sent, and since when the oldest has waited."""
    return backlog(session.connection()).get("email", (0, None))
