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
from booking.members import service as members
from booking.models import Member
from booking.security import verify_password_queued
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.tokens import ResetCodec, TokenCodec

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
