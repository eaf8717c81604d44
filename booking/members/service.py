"""The members' use cases: accounts, sign-in, passwords, trainings held, language, the calendar token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.catalogue.rules import require_admin
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted, Unauthenticated
from booking.members import repository as repo
from booking.members.actors import Actor, MemberInfo, SystemActor
from booking.members.rules import (
    check_address_attempts,
    check_language,
    check_password,
    check_role_sites,
    check_sign_in_attempts,
    member_id_base,
    normal_card,
    normal_email,
    training_expiry,
)
from booking.models import LoginFailure, ManagerSite, Member, MemberTraining, Role
from booking.schemas import MemberCreate, MemberTrainingRead, MemberUpdate
from booking.security import dummy_password_hash, hash_password, new_token, verify_password


def load_actor(session: Session, member: Member) -> Actor:
    """The actor for a signed-in member."""
    sites = repo.managed_sites(session, member.id) if member.role is Role.manager else set()
    return Actor(member=MemberInfo.of(member), managed_sites=frozenset(sites))


# --- accounts -----------------------------------------------------------------------------------


def get_member_or_raise(session: Session, member_id: str) -> Member:
    """The member, or NotFound."""
    member = repo.get_member(session, member_id)
    if member is None:
        raise NotFound("there is no member '{member_id}'", member_id=member_id)
    return member


def find_member(session: Session, id_or_email: str) -> Member:
    """The member with this id or e-mail address, or NotFound."""
    member = (
        repo.get_member_by_email(session, id_or_email)
        if "@" in id_or_email
        else repo.get_member(session, id_or_email)
    )
    if member is None:
        raise NotFound("there is no member '{id_or_email}'", id_or_email=id_or_email)
    return member


def member_by_card(session: Session, card_uid: str) -> Member:
    """The active member holding the card, or NotFound naming the card."""
    card = card_uid.strip().upper()
    member = repo.get_member_by_card(session, card) if card else None
    if member is None or not member.active:
        raise NotFound("no member holds the card {card}", card=card or "–")
    return member


def list_members(session: Session, query: str = "", *, limit: int = 200) -> list[Member]:
    """Members whose e-mail or name contains `query` (all when empty), kiosks last, by e-mail."""
    rows = repo.list_members(session, query, limit=limit)
    return sorted(rows, key=lambda m: (m.role is Role.kiosk, m.email))


def unused_member_id(session: Session, email: str) -> str:
    base = member_id_base(email)
    candidate, n = base, 1
    while repo.member_id_taken(session, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _check_sites(session: Session, sites: Sequence[str]) -> None:
    for site_id in sites:
        catalogue.get_site_or_raise(session, site_id)


def create_member(
    session: Session,
    actor: Actor | SystemActor,
    data: MemberCreate,
    now: datetime,
    *,
    password_hash: str | None = None,
) -> Member:
    """Open an account; managers get their sites, a kiosk is bound to its one site."""
    require_admin(actor)
    email = normal_email(data.email)
    if repo.get_member_by_email(session, email) is not None:
        raise Conflict("an account with the e-mail {email} already exists", email=email)
    catalogue.check_plan_exists(session, data.plan_id)
    _check_sites(session, data.sites)
    check_role_sites(data.role, data.sites, hint=" (--site)")
    card = normal_card(data.card_uid)
    if card is not None and repo.get_member_by_card(session, card) is not None:
        raise Conflict("the card {card} already belongs to another member", card=card)
    member = Member(
        id=unused_member_id(session, email),
        email=email,
        name=data.name or email.split("@", 1)[0],
        password_hash=password_hash or hash_password(data.password),
        role=data.role,
        plan_id=data.plan_id,
        card_uid=card,
        language=data.language,
        kiosk_site_id=data.sites[0] if data.role is Role.kiosk else None,
        ical_token=new_token(),
        created_at=now,
        # An admin opened it: the address and the person are known.
        email_verified_at=now,
        approved_at=now,
    )
    session.add(member)
    session.flush()
    if data.role is Role.manager:
        for site_id in data.sites:
            session.add(ManagerSite(member_id=member.id, site_id=site_id))
        session.flush()
    return member


def update_member(session: Session, actor: Actor, member_id: str, data: MemberUpdate) -> Member:
    """Change a member's role, sites, plan, card, language or suspend them.

    Suspending (or unsuspending) bumps the token version: every session and token they hold stops.
    """
    require_admin(actor)
    member = get_member_or_raise(session, member_id)
    if member.id == actor.id and (data.role is not Role.admin or not data.active):
        raise InvalidRequest("you cannot remove your own administrator rights or suspend yourself")
    catalogue.check_plan_exists(session, data.plan_id)
    _check_sites(session, data.sites)
    check_role_sites(data.role, data.sites)
    card = normal_card(data.card_uid)
    if card is not None:
        holder = repo.get_member_by_card(session, card)
        if holder is not None and holder.id != member.id:
            raise Conflict("the card {card} already belongs to another member", card=card)
    if member.active != data.active:
        member.token_version += 1
    member.name, member.role, member.plan_id = data.name, data.role, data.plan_id
    member.card_uid, member.language, member.active = card, data.language, data.active
    member.kiosk_site_id = data.sites[0] if data.role is Role.kiosk else None
    session.add(member)
    _set_managed_sites(session, member.id, data.sites if data.role is Role.manager else [])
    session.flush()
    return member


def _set_managed_sites(session: Session, member_id: str, sites: Sequence[str]) -> None:
    held = {row.site_id: row for row in repo.manager_site_rows(session, member_id)}
    for site_id, row in held.items():
        if site_id not in sites:
            session.delete(row)
    for site_id in sites:
        if site_id not in held:
            session.add(ManagerSite(member_id=member_id, site_id=site_id))
    session.flush()


# --- sign-in and passwords ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignIn:
    """What a sign-in needs from the database, read before the password is checked."""

    email: str
    member: Member | None
    failures: int
    address: str = ""

    @property
    def password_hash(self) -> str:
        """The hash to check the password against. With no account, a hash of a secret nobody
        knows: an unknown e-mail costs the same Argon2 work as a known one, so the time of the answer
        does not tell which addresses have accounts (and the outcome is a failure either way)."""
        member = self.member
        return member.password_hash if member is not None and member.active else dummy_password_hash()


def begin_sign_in(
    reader: Session,
    email: str,
    now: datetime,
    *,
    address: str = "",
    max_failures: int = 5,
    window: timedelta = timedelta(minutes=5),
    max_per_address: int = 30,
) -> SignIn:
    """Read what a sign-in needs (a read-only session: no write slot is taken); refuses after too
    many attempts. The password is checked next, by `security.verify_password`, outside any write
    transaction (STYLE: no hashing while a write slot or a row lock is held).

    Two limits slow the one who guesses, never the owner: failures for one e-mail from one address
    (someone else typing wrong passwords for an account locks out only their own address), and
    every sign-in from one address, failed or not, whatever the e-mail (one address trying many
    accounts). Both are checked before any hashing.
    """
    email = normal_email(email)
    since = now - window
    from_address, first = repo.address_attempts(reader, address, since)
    check_address_attempts(from_address, first, now, max_attempts=max_per_address, window=window)
    failures = repo.count_login_failures(reader, email, since, address)
    if failures >= max_failures:
        oldest = repo.oldest_login_failure(reader, email, since, address)
        check_sign_in_attempts(email, failures, oldest, now, max_failures=max_failures, window=window)
    return SignIn(
        email=email, member=repo.get_member_by_email(reader, email), failures=failures, address=address
    )


def finish_sign_in(
    session: Session, attempt: SignIn, password_matches: bool, now: datetime, *, address: str = ""
) -> Member:
    """Record the outcome of a sign-in whose password was checked: the member, or Unauthenticated
    with the failure written (the caller commits either way: the failures are what rate-limits)."""
    member = attempt.member
    address = (address or attempt.address)[:64]
    if member is None or not member.active or not password_matches:
        repo.add_login_failure(session, LoginFailure(email=attempt.email, address=address, at=now))
        session.flush()
        raise Unauthenticated("the e-mail or the password is wrong")
    if member.email_verified_at is None:
        # Told only to who knows the password: it says nothing of which addresses have accounts.
        raise Unauthenticated(
            "confirm your e-mail address first: open the link we sent to {email} (it works for a day; "
            "signing up again sends a new one)",
            email=member.email,
        )
    if attempt.failures:
        repo.clear_login_failures(session, attempt.email, address)
    # A success counts toward its address's limit too (one address signing in to many accounts).
    repo.add_login_failure(
        session, LoginFailure(email=attempt.email, address=address, at=now, succeeded=True)
    )
    return member


def forget_old_sign_ins(session: Session, now: datetime) -> int:
    """Drop sign-in records a day old: no limit looks back that far."""
    return repo.forget_sign_ins_before(session, now - timedelta(days=1))


def authenticate(
    reader: Session,
    session: Session,
    email: str,
    password: str,
    now: datetime,
    *,
    address: str = "",
    max_failures: int = 5,
    window: timedelta = timedelta(minutes=5),
) -> Member:
    """The member whose e-mail and password these are; refuses after too many failures. Reads with
    `reader`, checks the password with no transaction of `session` begun, then writes with `session`."""
    attempt = begin_sign_in(reader, email, now, address=address, max_failures=max_failures, window=window)
    matches = verify_password(attempt.password_hash, password)
    return finish_sign_in(session, attempt, matches, now, address=address)


def new_password_hash(password: str, *, known: Sequence[str] = ()) -> str:
    """The hash of an acceptable new password (refuses a weak one first, `known`: the member's e-mail
    and name, which a guesser tries too); CPU work for before the write transaction begins."""
    check_password(password, known=known)
    return hash_password(password)


def set_password(
    session: Session, member: Member, password: str, *, password_hash: str | None = None
) -> None:
    """Set a new password (`password_hash`, from `new_password_hash` before the transaction; hashed
    here when not given); every token and session the member held stops working."""
    member.password_hash = password_hash or new_password_hash(password)
    member.token_version += 1
    session.add(member)
    session.flush()


def end_sessions(session: Session, member_id: str) -> None:
    """Sign the member out on the server: every session cookie and token issued so far stops
    working, wherever it was copied to (a signed cookie cannot be taken back; its version can)."""
    member = get_member_or_raise(session, member_id)
    member.token_version += 1
    session.add(member)
    session.flush()


def reset_password(
    session: Session, actor: Actor, member_id: str, password: str, *, password_hash: str | None = None
) -> Member:
    """Give a member a new password; their sessions and tokens stop working."""
    require_admin(actor)
    member = get_member_or_raise(session, member_id)
    set_password(session, member, password, password_hash=password_hash)
    return member


# --- trainings held -----------------------------------------------------------------------------


def grant_training(
    session: Session, actor: Actor | SystemActor, member_id: str, training_id: str, now: datetime
) -> MemberTraining:
    """Record that a member holds a training (renewing its expiry if they already did)."""
    if not actor.manages_any:
        raise NotPermitted("only managers can grant trainings")
    training = catalogue.get_training_or_raise(session, training_id)
    _require_training_of_mine(session, actor, training.id, training.name)
    member = find_member(session, member_id)
    return record_training(session, member.id, training.id, training.valid_days, now, granted_by=actor.id)


def record_training(
    session: Session,
    member_id: str,
    training_id: str,
    valid_days: int | None,
    now: datetime,
    *,
    granted_by: str | None,
) -> MemberTraining:
    """Record that a member holds a training from now, for its validity (renewing an earlier grant).

    The caller has checked who may grant it: a manager of its sites, or a training event's attendance.
    """
    grant = repo.get_grant(session, member_id, training_id)
    if grant is None:
        grant = MemberTraining(member_id=member_id, training_id=training_id, granted_at=now)
    grant.granted_at, grant.expires_at = now, training_expiry(now, valid_days)
    grant.granted_by, grant.warned_at = granted_by, None
    session.add(grant)
    session.flush()
    return grant


def _require_training_of_mine(
    session: Session, actor: Actor | SystemActor, training_id: str, training_name: str
) -> None:
    """A training belongs to the sites whose machines require it; only their managers (and admins)
    grant or revoke it."""
    if actor.is_admin:
        return
    if not any(actor.manages(site) for site in repo.training_sites(session, training_id)):
        raise NotPermitted(
            "the training '{training}' belongs to sites you do not manage", training=training_name
        )


def trainings_in_my_care(session: Session, actor: Actor) -> set[str] | None:
    """The trainings this manager grants (None: every one, for an admin)."""
    return None if actor.is_admin else repo.trainings_of_sites(session, sorted(actor.managed_sites))


def members_in_my_care(
    session: Session, actor: Actor, query: str = "", *, limit: int = 100
) -> Sequence[Member]:
    """The members a manager sees on the trainings page: an admin every one; a site's manager those
    who booked at their sites or hold one of their trainings, and the one whose exact e-mail they type."""
    if actor.is_admin:
        return repo.list_members(session, query, limit=limit)
    trainings = sorted(trainings_in_my_care(session, actor) or ())
    return repo.members_of_sites(session, sorted(actor.managed_sites), trainings, query, limit=limit)


def revoke_training(session: Session, actor: Actor, member_id: str, training_id: str) -> None:
    """Withdraw a member's training."""
    if not actor.manages_any:
        raise NotPermitted("only managers can revoke trainings")
    training = catalogue.get_training_or_raise(session, training_id)
    _require_training_of_mine(session, actor, training.id, training.name)
    member = find_member(session, member_id)
    grant = repo.get_grant(session, member.id, training_id)
    if grant is None:
        raise NotFound(
            "{name} does not hold the training '{training_id}'", name=member.name, training_id=training_id
        )
    session.delete(grant)
    session.flush()


def list_member_trainings(session: Session, member: MemberInfo, now: datetime) -> list[MemberTrainingRead]:
    """The member's trainings, with whether each is still valid."""
    names = {t.id: t.name for t in catalogue_repo.list_trainings(session)}
    return [
        MemberTrainingRead(
            training_id=g.training_id,
            name=names.get(g.training_id, g.training_id),
            granted_at=g.granted_at,
            expires_at=g.expires_at,
            valid=g.expires_at is None or g.expires_at > now,
        )
        for g in repo.list_member_trainings(session, member.id)
    ]


# --- language and calendar feed -----------------------------------------------------------------


def set_language(session: Session, member: Member, language: str) -> None:
    """Remember the member's language for every page and device they use."""
    check_language(language)
    if member.language != language:
        member.language = language
        session.add(member)
        session.flush()


def regenerate_ical_token(session: Session, member: Member) -> str:
    """Give the member a new secret feed token; the old feed URL stops working at once."""
    member.ical_token = new_token()
    session.add(member)
    session.flush()
    return member.ical_token


def member_by_ical_token(session: Session, token: str) -> Member:
    """The active member whose feed token this is, or NotFound (never a hint about which part failed)."""
    member = repo.get_member_by_ical_token(session, token) if 16 <= len(token) <= 64 else None
    if member is None or not member.active:
        raise NotFound("there is no calendar at this address")
    return member
