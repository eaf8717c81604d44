"""An e-mail as the center writes it: composed in the reader's language, and its bytes on the wire.

Built with the email package's plain MIME classes, its headers already in their final form (encoded
words, quoted-printable parts), and written out by `wire`, not by the package's generator: its
header registry and generator re-read every header and part, which cost more CPU than the booking
the e-mail confirms.
"""

from __future__ import annotations

import binascii
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import Message as Mail
from email.mime.multipart import MIMEMultipart
from email.utils import format_datetime, formataddr
from typing import cast

from booking.messages import Message
from web import notices
from web.i18n import Gettext, say
from web.pages.common import env
from web.settings import Settings
from web.tokens import UnsubscribeCodec


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed delivery with what composing it needs."""

    id: str
    kind: str
    member_id: str | None
    to_address: str
    name: str
    language: str
    message: Message
    link: str
    attempts: int
    booking_id: str | None = None
    # The booking as a calendar invitation (.ics), when the e-mail is about one.
    invitation: bytes | None = None


def compose(outgoing: Outgoing, settings: Settings, now: datetime) -> Mail:
    """The e-mail in the recipient's language: plain text and HTML, with a stable Message-ID.

    Built with the email package's plain MIME classes: its header registry parses every header it is
    given, which cost more CPU than the booking the e-mail confirms."""
    gettext = Gettext(outgoing.language)
    subject = f"FabLab Hub: {notices.title(outgoing.kind, outgoing.language)}"
    sentence = say(outgoing.message, outgoing.language)
    base = settings.public_url.rstrip("/")
    link = base + outgoing.link if outgoing.link else ""
    unsubscribe = ""
    if outgoing.member_id is not None and outgoing.kind not in notices.ESSENTIAL:
        token = _unsubscribe_codec(settings.secret_key).issue(outgoing.member_id, outgoing.kind)
        unsubscribe = f"{base}/unsubscribe?token={token}"
    context = {
        "unsubscribe": unsubscribe,
        "name": outgoing.name,
        "sentence": sentence,
        "link": link,
        "center": "FabLab Hub",
        "subject": subject,
        "lang": outgoing.language,
    }
    body = MIMEMultipart("alternative")
    body.attach(_text(env.get_template("email/message.txt").render(_=gettext.gettext, **context), "plain"))
    body.attach(_text(env.get_template("email/message.html").render(_=gettext.markup, **context), "html"))
    message: Mail = body
    if outgoing.invitation is not None:
        method = "CANCEL" if b"METHOD:CANCEL" in outgoing.invitation else "REQUEST"
        invitation = _text(outgoing.invitation.decode(), "calendar", f"; method={method}")
        invitation["Content-Disposition"] = 'attachment; filename="fablab-hub.ics"'
        message = MIMEMultipart("mixed")
        message.attach(body)
        message.attach(invitation)
    message["Subject"] = _encoded(subject, "Subject")
    message["From"] = settings.mail_from
    name, address = one_line(outgoing.name), one_line(outgoing.to_address)
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"no e-mail can be sent to {address!r}")
    message["To"] = _addressee(name, address)
    message["Message-ID"] = f"<{outgoing.id}@fablab-hub>"
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
    return message


@functools.lru_cache(maxsize=4096)
def _addressee(name: str, address: str) -> str:
    """The To header: a name with accents as encoded words (RFC 2047), a plain one quoted where it
    must be. Remembered: a member's name and address come back with each e-mail."""
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))
    return f"{_encoded(name, 'To')} <{address}>"


@functools.lru_cache(maxsize=4096)
def _encoded(text: str, header: str) -> str:
    """Text for a header in UTF-8 encoded words of at most 75 characters each (RFC 2047), the first
    sized to follow the header's name on its line, one space between them where the header may
    fold; ASCII text as it is. Remembered: the subjects are a few dozen sentences (one per kind and
    language), each costing a third of a millisecond to encode."""
    if text.isascii():
        return text
    return " ".join(Header(text, "utf-8", header_name=header).encode().split())


# An address a mail header can carry as it is: one local part, one domain, no spaces or brackets.
_ADDRESS = re.compile(r"[^\s<>(),;:\"@]+@[^\s<>(),;:\"@]+")


def _text(text: str, subtype: str, parameters: str = "") -> Mail:
    """A text part in UTF-8, quoted-printable (readable in the raw message, safe over any mail
    server), its headers written as they are: MIMEText sets and reads back each header parameter
    through the email package's parser, which cost a third of the e-mail."""
    part = Mail()
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"{parameters}'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    # binascii's encoder (C) writes what the email package's quoprimime does, but for a line's
    # leading dot (=2E: the safer form), at a quarter of its CPU; its lines end as the text's did.
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    part.set_payload(encoded.replace("\r\n", "\n"))
    return part


@functools.cache
def _unsubscribe_codec(secret_key: str) -> UnsubscribeCodec:
    return UnsubscribeCodec(secret_key)


def one_line(text: str) -> str:
    """Text for a header: line breaks and other control characters become spaces, so a name cannot
    add a header of its own (CR/LF injection)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


# How SMTP ends a line.
CRLF = "\r\n"


def wire(message: Mail) -> bytes | None:
    """The message as SMTP carries it: CRLF lines, headers as `compose` set them (already ASCII:
    encoded words, quoted-printable parts), each multipart's parts between its boundary lines.

    The email package's generator re-reads and re-folds every header and part through its policy:
    it took more CPU than composing the message. None if a header is not ASCII (a `mail_from` with
    accents, say): then the generator writes it."""
    lines: list[str] = []
    _write(message, lines)
    text = CRLF.join(lines) + CRLF
    return text.encode("ascii") if text.isascii() else None


def _folded(name: str, value: str) -> list[str]:
    """A header in lines of at most 78 characters where its spaces allow (RFC 5322 §2.1.1); a word
    too long for that (a link) stays whole. The first word stays on the header's own line: a value
    that began on the next one would be read with a leading space."""
    if len(name) + 2 + len(value) <= 78:
        return [f"{name}: {value}"]
    words = value.split(" ")
    lines, current = [], f"{name}: {words[0]}"
    for word in words[1:]:
        if len(current) + 1 + len(word) > 78:
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    return lines


def _write(part: Mail, lines: list[str]) -> None:
    boundary = None
    if part.is_multipart():
        boundary = part.get_boundary()
        if boundary is None:
            boundary = "=_fablab_" + secrets.token_hex(12)
            part.set_boundary(boundary)
    for name, value in part.items():
        stored: object = value  # compat32 keeps a Header object as it was set: it folds itself
        if isinstance(stored, Header):
            lines.append(f"{name}: {stored.encode(linesep=CRLF)}")
        else:
            lines.extend(_folded(name, str(stored)))
    lines.append("")
    if boundary is None:
        payload = part.get_payload()
        lines.append(str(payload).replace(CRLF, "\n").replace("\n", CRLF))
        return
    for child in part.get_payload():
        lines.append("--" + boundary)
        _write(cast("Mail", child), lines)
    lines.append("--" + boundary + "--")
