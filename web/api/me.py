"""The signed-in member: profile, quotas, trainings, notifications; managers grant trainings."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from booking import accounts, notifications
from booking.catalogue import repository as catalogue_repo
from booking.ledger import service as ledger
from booking.members import service as members
from booking.members.rules import EMAIL_PATTERN
from booking.schemas import MemberRead, MemberTrainingRead, QuotaRead, Timestamp
from web import notices
from web.api.auth import address_link
from web.deps import ActorDep, NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.i18n import accept_language as accept_language_of
from web.i18n import normalise

router = APIRouter(prefix="/api/v1", tags=["members"])


@router.get("/me")
def me(actor: ActorDep) -> MemberRead:
    """Who is signed in."""
    read = MemberRead.model_validate(actor.member)
    read.sites = sorted(actor.managed_sites)
    return read


@router.get("/me/quotas")
def my_quotas(session: SessionDep, actor: ActorDep, now: NowDep, settings: SettingsDep) -> list[QuotaRead]:
    """Per quota group and period of the member's plan: the limit, booked and really used hours."""
    return ledger.my_quotas(session, actor.member, now, settings.timezone)


@router.get("/me/trainings")
def my_trainings(session: SessionDep, actor: ActorDep, now: NowDep) -> list[MemberTrainingRead]:
    """The member's trainings and whether each is still valid."""
    return members.list_member_trainings(session, actor.member, now)


class NotificationRead(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    created_at: Timestamp
    read_at: Timestamp | None
    # Extensions: the English sentence, and the booking it is about.
    message: str
    booking_id: str | None


@router.get("/me/notifications")
def my_notifications(
    session: SessionDep,
    actor: ActorDep,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> list[NotificationRead]:
    """The member's newest notifications, in the language asked for (else the member's own)."""
    language = accept_language_of(accept_language, default=normalise(actor.member.language))
    return [
        NotificationRead(
            id=n.id or 0,
            kind=n.kind,
            title=notices.title(n.kind, language),
            body=notices.body(n, language),
            created_at=n.created_at,
            read_at=n.read_at,
            message=n.message,
            booking_id=n.booking_id,
        )
        for n in notifications.list_notifications(session, actor.id)
    ]


@router.post("/me/notifications/read")
def mark_all_read(session: SessionDep, actor: ActorDep, now: NowDep) -> dict[str, int]:
    """Mark every notification read."""
    changed = notifications.mark_read(session, actor.id, now)
    session.commit()
    return {"marked": changed}


@router.post("/me/notifications/{notification_id}/read")
def mark_read(notification_id: int, session: SessionDep, actor: ActorDep, now: NowDep) -> dict[str, int]:
    """Mark one notification read (only one's own)."""
    changed = notifications.mark_read(session, actor.id, now, notification_id)
    session.commit()
    return {"marked": changed}


class TrainingGrant(BaseModel):
    training_id: str = Field(pattern=r"^[a-z0-9-]{1,64}$")


@router.post("/members/{member_id}/trainings", status_code=201)
def grant_training(
    member_id: str, data: TrainingGrant, session: SessionDep, actor: ActorDep, now: NowDep
) -> MemberTrainingRead:
    """A manager records that a member holds a training."""
    grant = members.grant_training(session, actor, member_id, data.training_id, now)
    session.commit()
    training = catalogue_repo.get_training(session, grant.training_id)
    return MemberTrainingRead(
        training_id=grant.training_id,
        name=training.name if training else grant.training_id,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        valid=True,
    )


@router.delete("/members/{member_id}/trainings/{training_id}", status_code=204)
def revoke_training(member_id: str, training_id: str, session: SessionDep, actor: ActorDep) -> None:
    """A manager withdraws a member's training."""
    members.revoke_training(session, actor, member_id, training_id)
    session.commit()


class AddressChange(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)


@router.post("/me/email", status_code=202)
def change_address(
    request: Request,
    data: AddressChange,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    now: NowDep,
) -> dict[str, str]:
    """Ask to change the account's address: it changes once the link e-mailed to the new one is opened."""
    member = members.get_member_or_raise(session, actor.id)
    accounts.request_address_change(
        session,
        member,
        data.email,
        now,
        address_link(request, "address"),
        address=request.client.host if request.client else "",
        window=timedelta(seconds=settings.login_window_s),
        max_per_address=settings.login_max_per_address,
    )
    session.commit()
    return {"detail": "an e-mail with a link to confirm the new address is on its way"}


class AwaitingRead(BaseModel):
    id: str
    email: str
    name: str
    created_at: Timestamp


class MemberDecision(BaseModel):
    approve: bool
    reason: str = Field(default="", max_length=300)


@router.get("/members/awaiting-approval")
def awaiting_approval(reader: ReadSessionDep, actor: ActorDep) -> list[AwaitingRead]:
    """Members who signed up, confirmed their address and wait for a manager's approval."""
    return [
        AwaitingRead(id=m.id, email=m.email, name=m.name, created_at=m.created_at)
        for m in accounts.members_awaiting_approval(reader, actor)
    ]


@router.post("/members/{member_id}/approval")
def decide_member(
    member_id: str, data: MemberDecision, session: SessionDep, actor: ActorDep, now: NowDep, request: Request
) -> dict[str, str]:
    """Approve a member who signed up (they may book) or decline them (the account closes); they are
    told by e-mail."""
    member = accounts.decide_member(session, actor, member_id, data.approve, now, reason=data.reason)
    member_id, approved = member.id, member.approved_at is not None
    session.commit()
    request.app.state.actors.forget(member_id)
    return {"member": member_id, "status": "approved" if approved else "declined"}
