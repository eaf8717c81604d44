"""Accounts people manage themselves: a password reset by e-mail, with a link that works once.

Above the members and the notifications: it reads members and queues e-mails. Never commits.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from booking.errors import InvalidRequest
from booking.members import repository as repo
from booking.members.rules import check_address_attempts, normal_email
from booking.members.service import set_password
from booking.messages import Day, Name, message
from booking.models import LoginFailure, Member, MemberTraining, Role, Training
from booking.notifications import notify, queue_email


class LinkInvalid(InvalidRequest):
    """A password-reset link that was used already, expired, or was never ours."""

    def __init__(self) -> None:
        super().__init__(
            "this link to reset a password was used already or is no longer valid; ask for a new one"
        )


def password_fingerprint(member: Member) -> str:
    """A short digest of the member's password hash and token version: a reset link carries it, so
    the link stops working once used (the password changes) or once the member signs out everywhere."""
    digest = hashlib.sha256(f"{member.password_hash}|{member.token_version}".encode()).hexdigest()
    return digest[:20]


def request_password_reset(
    session: Session,
    email: str,
    now: datetime,
    make_link: Callable[[Member], str],
    *,
    address: str = "",
    window: timedelta = timedelta(minutes=5),
    max_per_address: int = 30,
) -> None:
    """Queue an e-mail with a one-time link to an active member with this address; the same answer
    whether or not there is one. Counts toward the address's sign-in limit (429 past it)."""
    address = address[:64]
    count, first = repo.address_attempts(session, address, now - window)
    check_address_attempts(count, first, now, max_attempts=max_per_address, window=window)
    email = normal_email(email)
    repo.add_login_failure(session, LoginFailure(email=email, address=address, at=now, succeeded=True))
    member = repo.get_member_by_email(session, email)
    if member is None or not member.active or member.role is Role.kiosk:
        session.flush()
        return
    queue_email(
        session,
        "password_reset",
        message(
            "Someone asked to reset the password of your FabLab Hub account ({email}). Open the link "
            "below within an hour to choose a new one; it works once. If it was not you, ignore this "
            "e-mail: your password stays as it is.",
            email=member.email,
        ),
        now,
        member_id=member.id,
        link=make_link(member),
    )
    session.flush()


def finish_password_reset(
    session: Session, member_id: str, fingerprint: str, password: str, *, password_hash: str | None = None
) -> Member:
    """Set the new password of a reset link's member, if the link is still theirs to use; every other
    session and token ends."""
    member = check_reset_link(session, member_id, fingerprint)
    set_password(session, member, password, password_hash=password_hash)
    return member


def check_reset_link(session: Session, member_id: str, fingerprint: str) -> Member:
    """The member a reset link is for, if it still works (LinkInvalid otherwise)."""
    member = repo.get_member(session, member_id)
    if (
        member is None
        or not member.active
        or not hmac.compare_digest(fingerprint, password_fingerprint(member))
    ):
        raise LinkInvalid()
    return member


# --- trainings about to expire ---------------------------------------------------------------------

EXPIRY_NOTICE = timedelta(days=14)


def warn_expiring_trainings(session: Session, now: datetime, ahead: timedelta = EXPIRY_NOTICE) -> int:
    """Tell each member once that a training of theirs expires within `ahead` (renew it by attending
    the training again). Returns how many were told."""
    told = 0
    for grant in session.exec(
        select(MemberTraining).where(
            col(MemberTraining.expires_at).is_not(None),
            col(MemberTraining.expires_at) > now,
            col(MemberTraining.expires_at) <= now + ahead,
            col(MemberTraining.warned_at).is_(None),
        )
    ).all():
        training = session.get(Training, grant.training_id)
        if training is None or grant.expires_at is None:
            continue
        grant.warned_at = now
        session.add(grant)
        notify(
            session,
            grant.member_id,
            "training_expiring",
            message(
                "Your training '{training}' expires on {day}; "
                "attend it again to keep using the machines that need it",
                training=Name(training.name, training.name_en or None),
                day=Day(grant.expires_at.date()),
            ),
            now=now,
            link="/me",
        )
        told += 1
    session.flush()
    return told
