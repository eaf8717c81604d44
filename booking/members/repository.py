"""Every query of the members: accounts, the sites managers hold, trainings held, failed sign-ins."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from booking.models import Booking, LoginFailure, ManagerSite, Member, MemberTraining, Resource


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


# --- accounts -----------------------------------------------------------------------------------


def get_member(session: Session, member_id: str) -> Member | None:
    """The member with this id, or None."""
    return session.get(Member, member_id)


def get_member_by_email(session: Session, email: str) -> Member | None:
    """The member with this e-mail address (case-insensitive), or None."""
    return session.exec(select(Member).where(Member.email == email.strip().lower())).first()


def get_member_by_card(session: Session, card_uid: str) -> Member | None:
    """The member holding this RFID card, or None."""
    return session.exec(select(Member).where(Member.card_uid == card_uid.upper())).first()


def get_member_by_ical_token(session: Session, token: str) -> Member | None:
    """The member whose calendar feed token this is, or None."""
    return session.exec(select(Member).where(Member.ical_token == token)).first()


def member_id_taken(session: Session, member_id: str) -> bool:
    """Whether a member already has this id."""
    return session.get(Member, member_id) is not None


def training_sites(session: Session, training_id: str) -> set[str]:
    """The sites whose resources require this training: where it belongs."""
    rows = session.exec(select(Resource.site_id).where(Resource.training_id == training_id).distinct()).all()
    return set(rows)


def trainings_of_sites(session: Session, site_ids: Sequence[str]) -> set[str]:
    """The trainings that resources of these sites require."""
    rows = session.exec(
        select(Resource.training_id)
        .where(col(Resource.site_id).in_(site_ids), col(Resource.training_id).is_not(None))
        .distinct()
    ).all()
    return {row for row in rows if row is not None}


def members_of_sites(
    session: Session,
    site_ids: Sequence[str],
    training_ids: Sequence[str],
    query: str = "",
    *,
    limit: int = 100,
) -> Sequence[Member]:
    """The members a site's manager deals with: those who booked at its sites or hold one of its
    trainings (whose e-mail or name contains `query`), and the one whose e-mail is exactly `query`."""
    booked = select(Booking.member_id).where(col(Booking.site_id).in_(site_ids))
    trained = select(MemberTraining.member_id).where(col(MemberTraining.training_id).in_(training_ids))
    statement = select(Member).where(
        sa.or_(
            col(Member.id).in_(booked),
            col(Member.id).in_(trained),
            col(Member.email) == query.strip().lower(),
        )
    )
    if query:
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(
            sa.or_(col(Member.email).like(pattern), sa.func.lower(col(Member.name)).like(pattern))
        )
    return session.exec(statement.order_by(col(Member.email)).limit(limit)).all()


def list_members(session: Session, query: str = "", *, limit: int = 200) -> Sequence[Member]:
    """Members whose e-mail or name contains `query` (all when empty), by e-mail."""
    statement = select(Member)
    if query:
        pattern = f"%{query.strip().lower()}%"
        statement = statement.where(
            sa.or_(col(Member.email).like(pattern), sa.func.lower(col(Member.name)).like(pattern))
        )
    return session.exec(statement.order_by(col(Member.email)).limit(limit)).all()


# --- managers' sites ----------------------------------------------------------------------------


def managed_sites(session: Session, member_id: str) -> set[str]:
    """The sites this member manages."""
    rows = session.exec(select(ManagerSite.site_id).where(ManagerSite.member_id == member_id))
    return set(rows.all())


def managers_of(session: Session, site_id: str) -> list[str]:
    """The active managers of a site (their member ids)."""
    rows = session.exec(
        select(Member.id)
        .join(ManagerSite, col(ManagerSite.member_id) == col(Member.id))
        .where(ManagerSite.site_id == site_id, col(Member.active).is_(True))
    ).all()
    return list(rows)


def manager_site_rows(session: Session, member_id: str) -> Sequence[ManagerSite]:
    """The member's rows of managed sites."""
    return session.exec(select(ManagerSite).where(ManagerSite.member_id == member_id)).all()


# --- trainings held -----------------------------------------------------------------------------


def trainings_held(session: Session, member_id: str) -> dict[str, datetime | None]:
    """The member's trainings and when each expires (None: never)."""
    table = _table(MemberTraining)
    rows = session.connection().execute(
        sa.select(table.c.training_id, table.c.expires_at).where(table.c.member_id == member_id)
    )
    return {str(training_id): expires for training_id, expires in rows}


def list_member_trainings(session: Session, member_id: str) -> Sequence[MemberTraining]:
    """The member's training grants."""
    return session.exec(select(MemberTraining).where(MemberTraining.member_id == member_id)).all()


def get_grant(session: Session, member_id: str, training_id: str) -> MemberTraining | None:
    """The member's grant of this training, or None."""
    return session.get(MemberTraining, (member_id, training_id))


# --- sign-in ------------------------------------------------------------------------------------


def _failures(email: str, address: str, since: datetime) -> list[Any]:
    return [
        LoginFailure.email == email,
        LoginFailure.address == address[:64],
        col(LoginFailure.succeeded).is_(False),
        col(LoginFailure.at) >= since,
    ]


def count_login_failures(session: Session, email: str, since: datetime, address: str = "") -> int:
    """Failed sign-ins for this e-mail from this address since the instant."""
    return int(session.exec(select(func.count()).where(*_failures(email, address, since))).one())


def oldest_login_failure(session: Session, email: str, since: datetime, address: str = "") -> datetime | None:
    """The first failed sign-in for this e-mail from this address since the instant."""
    return session.exec(select(func.min(LoginFailure.at)).where(*_failures(email, address, since))).one()


def address_attempts(session: Session, address: str, since: datetime) -> tuple[int, datetime | None]:
    """Sign-ins (failed or not, any e-mail) from this address since the instant, and the first one."""
    count, first = session.exec(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.address == address[:64], col(LoginFailure.at) >= since
        )
    ).one()
    return int(count), first


def add_login_failure(session: Session, failure: LoginFailure) -> None:
    """Record a failed sign-in."""
    session.add(failure)


def clear_login_failures(session: Session, email: str, address: str = "") -> None:
    """Forget the failed sign-ins of this e-mail from this address (after a successful one there)."""
    session.execute(
        sa.delete(LoginFailure).where(
            col(LoginFailure.email) == email,
            col(LoginFailure.address) == address[:64],
            col(LoginFailure.succeeded).is_(False),
        )
    )


def forget_sign_ins_before(session: Session, before: datetime) -> int:
    """Drop sign-in records older than every window that counts them."""
    result: Any = session.execute(sa.delete(LoginFailure).where(col(LoginFailure.at) < before))
    return int(result.rowcount or 0)
