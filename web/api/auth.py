"""Sign-in for API clients: a form with e-mail and password gives a bearer token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlmodel import Session

from booking import accounts
from booking.errors import NotPermitted
from booking.members import service as members
from booking.members.rules import EMAIL_PATTERN
from booking.models import Member
from booking.security import verify_password_queued
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.settings import Settings
from web.tokens import AddressCodec, ResetCodec, TokenCodec

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    member: str
    role: str


@router.post("/token")
async def issue_token(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> TokenRead:
    """Exchange an e-mail and password for a bearer token (429 after repeated failures)."""
    attempt = await run_in_threadpool(
        members.begin_sign_in,
        reader,
        username,
        now,
        address=request.client.host if request.client else "",
        max_failures=settings.login_max_failures,
        window=timedelta(seconds=settings.login_window_s),
        max_per_address=settings.login_max_per_address,
    )
    # The password is checked between the read and the write, holding no transaction and no worker
    # thread: a burst of sign-ins waits for the password thread, not for the database.
    matches = await asyncio.wrap_future(verify_password_queued(attempt.password_hash, password))
    address = request.client.host if request.client else ""
    member = await run_in_threadpool(_finish, session, attempt, matches, now, address)
    codec: TokenCodec = request.app.state.tokens
    return TokenRead(
        access_token=codec.issue(member.id, member.token_version), member=member.id, role=member.role
    )


def _finish(session: Session, attempt: members.SignIn, matches: bool, now: datetime, address: str) -> Member:
    try:
        return members.finish_sign_in(session, attempt, matches, now, address=address)
    finally:
        # A failed attempt is recorded even though the request fails: that is what rate-limits.
        session.commit()


class ResetRequest(BaseModel):
    email: str = Field(min_length=1, max_length=320)


class ResetConfirm(BaseModel):
    token: str = Field(min_length=1, max_length=500)
    password: str = Field(min_length=1, max_length=1024)


def reset_link(request: Request) -> Callable[[Member], str]:
    """How the e-mail's link to choose a new password is made (a path on FABLAB_PUBLIC_URL)."""
    codec: ResetCodec = request.app.state.reset_links

    def make(member: Member) -> str:
        return f"/reset-password?token={codec.issue(member.id, accounts.password_fingerprint(member))}"

    return make


@router.post("/password-reset", status_code=202)
def password_reset(
    request: Request, data: ResetRequest, session: SessionDep, settings: SettingsDep, now: NowDep
) -> dict[str, str]:
    """An e-mail with a link (one use, one hour) to choose a new password; 202 whether or not the
    address has an account."""
    accounts.request_password_reset(
        session,
        data.email,
        now,
        reset_link(request),
        address=request.client.host if request.client else "",
        window=timedelta(seconds=settings.login_window_s),
        max_per_address=settings.login_max_per_address,
    )
    session.commit()
    return {"detail": "if the address has an account, an e-mail with a link is on its way"}


@router.post("/password-reset/confirm")
async def password_reset_confirm(
    request: Request, data: ResetConfirm, reader: ReadSessionDep, session: SessionDep
) -> dict[str, str]:
    """Choose the new password with the link's token; every other session and token of the account ends."""
    member_id, fingerprint = read_reset_token(request, data.token)
    member = await run_in_threadpool(members.get_member_or_raise, reader, member_id)
    # Hashing is CPU work for before the write transaction (STYLE).
    password_hash = await run_in_threadpool(
        members.new_password_hash, data.password, known=(member.email, member.name)
    )
    await run_in_threadpool(_confirm, session, member_id, fingerprint, data.password, password_hash)
    request.app.state.actors.forget(member_id)
    return {"detail": "the password was changed; sign in with it"}


def read_reset_token(request: Request, token: str) -> tuple[str, str]:
    codec: ResetCodec = request.app.state.reset_links
    claims = codec.read(token)
    if claims is None:
        raise accounts.LinkInvalid()
    return claims


def _confirm(session: Session, member_id: str, fingerprint: str, password: str, password_hash: str) -> None:
    accounts.finish_password_reset(session, member_id, fingerprint, password, password_hash=password_hash)
    session.commit()


# --- sign-up and addresses ---------------------------------------------------------------------------


class SignUp(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL_PATTERN)
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: str = Field(min_length=1, max_length=1024)
    language: str = Field(default="vi", pattern=r"^(vi|en)$")


class LinkToken(BaseModel):
    token: str = Field(min_length=1, max_length=500)


def address_link(request: Request, purpose: str) -> Callable[[str, str], str]:
    """How the link of an e-mail that confirms an address is made (a path on FABLAB_PUBLIC_URL)."""
    codec: AddressCodec = getattr(request.app.state, f"{purpose}_links")
    page = "/verify-email" if purpose == "signup" else "/confirm-email"

    def make(member_id: str, email: str) -> str:
        return f"{page}?token={codec.issue(member_id, email)}"

    return make


def require_signup_open(settings: Settings) -> None:
    if not settings.signup_open:
        raise NotPermitted("accounts are opened by the center's staff here; ask at the front desk")


async def sign_up(
    request: Request, session: Session, settings: Settings, now: datetime, data: SignUp
) -> None:
    """Open an account (shared by the API and the page): the password is judged and hashed before the
    write transaction, for an address with an account as well, so the answer takes as long."""
    require_signup_open(settings)
    password_hash = await run_in_threadpool(
        members.new_password_hash, data.password, known=(data.email, data.name)
    )
    await run_in_threadpool(_sign_up, request, session, settings, now, data, password_hash)


def _sign_up(
    request: Request, session: Session, settings: Settings, now: datetime, data: SignUp, password_hash: str
) -> None:
    try:
        accounts.sign_up(
            session,
            data.email,
            data.name,
            password_hash,
            now,
            address_link(request, "signup"),
            language=data.language,
            plan_id=settings.signup_plan,
            address=request.client.host if request.client else "",
            window=timedelta(seconds=settings.login_window_s),
            max_per_address=settings.login_max_per_address,
        )
    finally:
        # A refusal past the limit still counts: that is what rate-limits.
        session.commit()


@router.post("/signup", status_code=202)
async def signup(
    request: Request, data: SignUp, session: SessionDep, settings: SettingsDep, now: NowDep
) -> dict[str, str]:
    """Open an account: a link to confirm the address is e-mailed to it; the account works once it is
    opened (and, where a site asks for it, a manager approved the member before they book there).
    202 whether or not the address had an account."""
    await sign_up(request, session, settings, now, data)
    return {"detail": "an e-mail with a link to confirm the address is on its way"}


def verify_token(request: Request, token: str, purpose: str) -> tuple[str, str]:
    codec: AddressCodec = getattr(request.app.state, f"{purpose}_links")
    claims = codec.read(token)
    if claims is None:
        raise accounts.AddressLinkInvalid()
    return claims


@router.post("/verify")
def verify(request: Request, data: LinkToken, session: SessionDep, now: NowDep) -> dict[str, str]:
    """Confirm a new account's address with the e-mailed link's token (once)."""
    member_id, email = verify_token(request, data.token, "signup")
    member = accounts.verify_email(session, member_id, email, now)
    session.commit()
    return {"detail": "the address is confirmed; sign in", "member": member.id}


@router.post("/address/confirm")
def confirm_address(request: Request, data: LinkToken, session: SessionDep) -> dict[str, str]:
    """Make the new address of an account its own, with the token of the link sent there (once)."""
    member_id, email = verify_token(request, data.token, "address")
    accounts.confirm_address_change(session, member_id, email)
    session.commit()
    request.app.state.actors.forget(member_id)
    return {"detail": "the account's address is now " + email}
