"""Sign-in for API clients: a form with e-mail and password gives a bearer token."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session

from booking.members import service as members
from booking.models import Member
from booking.security import verify_password_queued
from web.deps import NowDep, ReadSessionDep, SessionDep, SettingsDep
from web.tokens import TokenCodec

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
