"""Accounts people manage themselves: sign-up with a confirmed address (and a manager's approval
where a site asks for it), a change of address confirmed at the new one, a password reset by e-mail
with a link that works once.

Above the members and the notifications: it reads members and queues e-mails. Never commits.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.members import repository as repo
from booking.members.actors import Actor
from booking.members.rules import check_address_attempts, check_language, normal_email
from booking.members.service import set_password, unused_member_id
from booking.messages import Day, Name, message
from booking.models import LoginFailure, Member, MemberTraining, Role, Site, Training
from booking.notifications import notify, queue_email
from booking.security import new_token


class LinkInvalid(InvalidRequest):
    """A password-reset link that was used already, expired, or was never ours."""

    def __init__(self) -> None:
        super().__init__(
            "this link to reset a password was used already or is no longer valid; ask for a new one"
        )


class AddressLinkInvalid(InvalidRequest):
    """A link to confirm an address that was used already, expired, or was never ours."""

    def __init__(self) -> None:
        super().__init__("this link to confirm an e-mail address was used already or is no longer valid")


def _rate_limit(
    session: Session, address: str, email: str, now: datetime, window: timedelta, limit: int
) -> None:
    """Count a request that sends an e-mail toward its network address's sign-in limit (429 past it)."""
    count, first = repo.address_attempts(session, address, now - window)
    check_address_attempts(count, first, now, max_attempts=limit, window=window)
    repo.add_login_failure(session, LoginFailure(email=email, address=address, at=now, succeeded=True))


# --- sign-up ---------------------------------------------------------------------------------------


def sign_up(
    session: Session,
    email: str,
    name: str,
    password_hash: str,
    now: datetime,
    make_link: Callable[[str, str], str],
    *,
    language: str = "vi",
    plan_id: str | None = None,
    address: str = "",
    window: timedelta = timedelta(minutes=5),
    max_per_address: int = 30,
) -> None:
    """Open an account that works once its address is confirmed (the link `make_link(member, email)`,
    sent there). The caller answers the same whether or not the address had an account: its owner is
    told by e-mail that someone tried, and an account never confirmed gets a new link (its password
    stays: only who reads that mailbox can take the account)."""
    check_language(language)
    email = normal_email(email)
    _rate_limit(session, address[:64], email, now, window, max_per_address)
    member = repo.get_member_by_email(session, email)
    if member is not None:
        if member.email_verified_at is None and member.active:
            _send_verification(session, member, now, make_link)
        elif member.active and member.role is not Role.kiosk:
            queue_email(
                session,
                "signup_exists",
                message(
                    "Someone tried to open a FabLab Hub account with your address ({email}), which "
                    "already has one. If it was you, sign in, or choose a new password from the sign-in "
                    "page if you forgot it. If not, you need do nothing.",
                    email=member.email,
                ),
                now,
                member_id=member.id,
                link="/signin",
            )
        session.flush()
        return
    member = Member(
        id=unused_member_id(session, email),
        email=email,
        name=" ".join(name.split()) or email.split("@", 1)[0],
        password_hash=password_hash,
        role=Role.member,
        plan_id=plan_id,
        language=language,
        ical_token=new_token(),
        created_at=now,
    )
    session.add(member)
    session.flush()
    _send_verification(session, member, now, make_link)
    session.flush()


def _send_verification(
    session: Session, member: Member, now: datetime, make_link: Callable[[str, str], str]
) -> None:
    queue_email(
        session,
        "verify_email",
        message(
            "Welcome to FabLab Hub! Open the link below within a day to confirm your address "
            "({email}); your account works from then on. If you did not sign up, ignore this e-mail.",
            email=member.email,
        ),
        now,
        to_address=member.email,
        language=member.language,
        link=make_link(member.id, member.email),
    )


def verify_email(session: Session, member_id: str, email: str, now: datetime) -> Member:
    """Confirm a new account's address from the link sent there (once); the managers of sites that
    approve new members are told one waits."""
    member = repo.get_member(session, member_id)
    if member is None or not member.active or member.email != email or member.email_verified_at is not None:
        raise AddressLinkInvalid()
    member.email_verified_at = now
    session.add(member)
    if member.approved_at is None:
        asks = message(
            "{name} ({email}) opened an account and awaits your approval to book",
            name=member.name,
            email=email,
        )
        for manager_id in _approvers(session):
            notify(session, manager_id, "member_waiting", asks, now=now, link="/manage/members")
    session.flush()
    return member


def _approvers(session: Session) -> list[str]:
    """The managers of every site that approves new members (and the admins)."""
    sites = session.exec(select(Site.id).where(col(Site.approve_members).is_(True))).all()
    if not sites:
        return []
    people: dict[str, None] = {}
    for site_id in sites:
        people.update(dict.fromkeys(repo.managers_of(session, site_id)))
    for admin in session.exec(select(Member.id).where(Member.role == Role.admin, col(Member.active))).all():
        people[admin] = None
    return list(people)


def members_awaiting_approval(session: Session, actor: Actor) -> list[Member]:
    """Members who confirmed their address and wait for a manager's approval, oldest first."""
    _require_manager(actor)
    return list(
        session.exec(
            select(Member)
            .where(
                col(Member.approved_at).is_(None),
                col(Member.email_verified_at).is_not(None),
                col(Member.active),
            )
            .order_by(col(Member.created_at))
        ).all()
    )


def _require_manager(actor: Actor) -> None:
    if not actor.manages_any:
        raise NotPermitted("only managers approve new members")


def decide_member(
    session: Session, actor: Actor, member_id: str, approve: bool, now: datetime, *, reason: str = ""
) -> Member:
    """Approve a member who signed up (they may book everywhere) or refuse them (the account closes);
    they are told by e-mail, with the reason."""
    _require_manager(actor)
    member = repo.get_member(session, member_id)
    if member is None or member.approved_at is not None or not member.active:
        raise NotFound("no account of '{member}' awaits approval", member=member_id)
    if approve:
        member.approved_at = now
        notify(
            session,
            member.id,
            "account_approved",
            message("Your FabLab Hub account was approved: you can book rooms and machines now"),
            now=now,
            link="/",
        )
    else:
        member.active = False
        member.token_version += 1
        said = (
            message(
                "Your request for a FabLab Hub account was declined: {reason}", reason=reason.strip()[:300]
            )
            if reason.strip()
            else message("Your request for a FabLab Hub account was declined")
        )
        queue_email(session, "account_refused", said, now, member_id=member.id)
    session.add(member)
    session.flush()
    return member


# --- a change of address ---------------------------------------------------------------------------


def request_address_change(
    session: Session,
    member: Member,
    new_email: str,
    now: datetime,
    make_link: Callable[[str, str], str],
    *,
    address: str = "",
    window: timedelta = timedelta(minutes=5),
    max_per_address: int = 30,
) -> None:
    """Send a link to the new address; the account's address changes once it is opened from there.
    The present address is told too (a stolen session cannot move an account away quietly)."""
    new_email = normal_email(new_email)
    _rate_limit(session, address[:64], new_email, now, window, max_per_address)
    if new_email == member.email:
        raise InvalidRequest("{email} is already the address of your account", email=new_email)
    if repo.get_member_by_email(session, new_email) is not None:
        raise Conflict("an account with the e-mail {email} already exists", email=new_email)
    member.pending_email = new_email
    session.add(member)
    queue_email(
        session,
        "email_change",
        message(
            "Open the link below within a day to make {email} the address of your FabLab Hub account",
            email=new_email,
        ),
        now,
        to_address=new_email,
        language=member.language,
        link=make_link(member.id, new_email),
    )
    queue_email(
        session,
        "email_change_asked",
        message(
            "Someone signed in to your FabLab Hub account asked to change its address to {email}. It "
            "changes only once the link sent there is opened; if it was not you, change your password.",
            email=new_email,
        ),
        now,
        member_id=member.id,
        link="/me",
    )
    session.flush()


def confirm_address_change(session: Session, member_id: str, new_email: str) -> Member:
    """Make the confirmed new address the account's (once; refused if it was taken meanwhile)."""
    member = repo.get_member(session, member_id)
    if member is None or not member.active or member.pending_email != new_email:
        raise AddressLinkInvalid()
    if repo.get_member_by_email(session, new_email) is not None:
        raise Conflict("an account with the e-mail {email} already exists", email=new_email)
    member.email = new_email
    member.pending_email = None
    session.add(member)
    session.flush()
    return member


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
    email = normal_email(email)
    _rate_limit(session, address[:64], email, now, window, max_per_address)
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
