"""Sign-in for API clients: a form with e-mail and password gives a bearer token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from booking.members import service as members
from web.deps import NowDep, SessionDep, SettingsDep
from web.tokens import TokenCodec

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    member: str
    role: str


@router.post("/token")
def issue_token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
) -> TokenRead:
    """Exchange an e-mail and password for a bearer token (429 after repeated failures)."""
    try:
        member = members.authenticate(
            session,
            username,
            password,
            now,
            address=request.client.host if request.client else "",
            max_failures=settings.login_max_failures,
            window=timedelta(seconds=settings.login_window_s),
        )
    finally:
        # A failed attempt is recorded even though the request fails: that is what rate-limits.
        session.commit()
    codec: TokenCodec = request.app.state.tokens
    return TokenRead(
        access_token=codec.issue(member.id, member.token_version), member=member.id, role=member.role
    )
