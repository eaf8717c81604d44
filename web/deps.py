"""FastAPI dependencies as Annotated aliases: the database session, the clock, the actor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking import repository
from booking.errors import NotPermitted, Unauthenticated
from booking.models import Member, Role
from booking.service import Actor, load_actor
from web.settings import Settings
from web.tokens import TokenCodec

Clock = Callable[[], datetime]
_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; GET and HEAD only read (they never change state)."""
    engine: Engine = (
        request.app.state.read_engine if request.method in ("GET", "HEAD") else request.app.state.engine
    )
    with Session(engine, expire_on_commit=False) as session:
        yield session


def get_now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]


def _member_from_request(
    request: Request, session: Session, credentials: HTTPAuthorizationCredentials | None
) -> Member | None:
    codec: TokenCodec = request.app.state.tokens
    if credentials is not None and credentials.scheme.lower() == "bearer":
        claims = codec.read(credentials.credentials)
        if claims is None:
            raise Unauthenticated("the access token is invalid or has expired; sign in again")
        member = repository.get_member(session, claims.member_id)
        if member is None or not member.active or member.token_version != claims.version:
            raise Unauthenticated("the access token is no longer valid; sign in again")
        return member
    session_data = request.scope.get("session") or {}
    member_id = session_data.get("member")
    if isinstance(member_id, str):
        member = repository.get_member(session, member_id)
        if member is not None and member.active and member.token_version == session_data.get("v"):
            return member
    return None


def current_actor(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The signed-in member (bearer token or session cookie), or 401."""
    member = _member_from_request(request, session, credentials)
    if member is None:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>' from /api/v1/auth/token")
    return load_actor(session, member)


ActorDep = Annotated[Actor, Depends(current_actor)]


def current_person(actor: ActorDep) -> Actor:
    """A signed-in person (not a kiosk device account)."""
    if actor.member.role is Role.kiosk:
        raise NotPermitted("a kiosk account cannot do this")
    return actor


PersonDep = Annotated[Actor, Depends(current_person)]
