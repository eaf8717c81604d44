"""FastAPI dependencies as Annotated aliases: the database session, the clock, the actor, and the unit
of work of a request that tells machines what it decided."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.errors import NotPermitted, Unauthenticated
from booking.members import repository as members_repo
from booking.members.actors import Actor
from booking.members.service import load_actor
from booking.models import Role
from firmware_bridge.center.commands import OutboxLink
from web.settings import Settings
from web.tokens import TokenCodec
from web.writer import GroupWriter, PipelinedWriter

Clock = Callable[[], datetime]
_bearer = HTTPBearer(auto_error=False)


# The light dependencies are `async def`: FastAPI runs a sync one in the thread pool, a hop that
# costs more than the work. Only what waits on the database runs there.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request; GET and HEAD only read (they never change state).

    Making the session touches no database; the work with it runs in the route's own thread. It is
    closed here, in the event loop, not in another trip to the thread pool: after an error the close
    is a rollback that releases SQLite's write slot, and waiting for a free thread while holding it
    could stall every request queued behind it.
    """
    engine: Engine = (
        request.app.state.read_engine if request.method in ("GET", "HEAD") else request.app.state.engine
    )
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A session that only reads, whatever the method (`read_session` as a dependency).

    A read that must not begin the request's write transaction: that would hold the write slot across
    the hop from the dependency to the route.
    """
    with read_session(request) as session:
        yield session


async def get_now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
NowDep = Annotated[datetime, Depends(get_now)]


class MachineUnit:
    """The request's transaction and what it decided for the machines (commands, live statuses).

    The service says it through `link`; `commit` commits the transaction, then sends it. A request
    that fails before its commit sends nothing: a machine never hears of a decision the database
    does not hold.
    """

    def __init__(self, session: Session, send: Callable[[OutboxLink], None]) -> None:
        self.session = session
        self.link = OutboxLink()
        self._send = send

    def commit(self) -> None:
        """Commit, then send what the transaction decided (to the broker, after the commit)."""
        self.session.commit()
        self._send(self.link)


async def get_machine_unit(request: Request, session: SessionDep) -> MachineUnit:
    """The request's session (the same one `SessionDep` gives) with a link to its machines."""
    return MachineUnit(session, request.app.state.machines.send)


MachineUnitDep = Annotated[MachineUnit, Depends(get_machine_unit)]


class ActorCache:
    """Who a token or cookie belongs to, remembered for a moment.

    Every API call names its member; looking them up costs more than the rest of a small request.
    An entry is keyed by the member and their token version, so a new password (a new version) is
    refused by the process that set it at once and by the others within `ttl_s`; so is a suspension.
    """

    def __init__(self, ttl_s: float = 2.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[str, int], tuple[float, Actor]] = {}

    def get(self, member_id: str, version: int) -> Actor | None:
        hit = self._entries.get((member_id, version))
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            return None
        return hit[1]

    def put(self, actor: Actor) -> None:
        if len(self._entries) > 10_000:  # bound memory under a flood of distinct members
            self._entries.clear()
        self._entries[(actor.id, actor.member.token_version)] = (time.monotonic(), actor)

    def forget(self, member_id: str) -> None:
        """Drop the member's entries: their new token version counts in this process at once."""
        for key in [k for k in self._entries if k[0] == member_id]:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def _claimed_identity(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> tuple[str, int, bool] | None:
    """(member id, token version, from a bearer token) as the request claims it, or None."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        codec: TokenCodec = request.app.state.tokens
        claims = codec.read(credentials.credentials)
        if claims is None:
            raise Unauthenticated("the access token is invalid or has expired; sign in again")
        return claims.member_id, claims.version, True
    session_data = request.scope.get("session") or {}
    member_id, version = session_data.get("member"), session_data.get("v")
    if isinstance(member_id, str) and isinstance(version, int):
        return member_id, version, False
    return None


def _load_actor(session: Session, member_id: str, version: int) -> Actor | None:
    member = members_repo.get_member(session, member_id)
    if member is None or not member.active or member.token_version != version:
        return None
    return load_actor(session, member)


def read_session(request: Request) -> AbstractContextManager[Session]:
    """A session that only reads, opened where a request needs one now and then (a dependency that
    yields a session costs every request of the route). The tests point `app.state.read_session`
    at their own connection."""
    opener: Callable[[Request], AbstractContextManager[Session]] | None = getattr(
        request.app.state, "read_session", None
    )
    if opener is not None:
        return opener(request)
    return Session(request.app.state.read_engine, expire_on_commit=False)


def write_session(request: Request) -> AbstractContextManager[Session] | None:
    """The request's writing session, for a handler that runs without FastAPI's dependencies (a lean
    route, web.routes.lean). The tests' own when they set `app.state.write_session`; None when
    `get_session` is overridden otherwise: only the full route would honour that override."""
    opener: Callable[[Request], AbstractContextManager[Session]] | None = getattr(
        request.app.state, "write_session", None
    )
    if opener is not None:
        return opener(request)
    if get_session in request.app.dependency_overrides:
        return None
    return Session(request.app.state.engine, expire_on_commit=False)


def group_writer(request: Request) -> GroupWriter | PipelinedWriter | None:
    """The app's writer of many bookings per transaction (web/writer.py: SQLite's group commit, or
    PostgreSQL's shared round trips), or None where the tests give the request their own session."""
    if getattr(request.app.state, "write_session", None) is not None or request.app.dependency_overrides:
        return None
    writer: GroupWriter | PipelinedWriter | None = getattr(request.app.state, "group_writer", None)
    return writer


async def bearer_actor(request: Request) -> Actor | None:
    """The member of the request's bearer token (`_actor_of`, as for `current_actor`). None for no
    bearer token, a token that does not read, or a member it no longer names (suspended, a new
    password): the full dependency (`current_actor`) then refuses it in words."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return None
    codec: TokenCodec = request.app.state.tokens
    claims = codec.read(credentials)
    if claims is None:
        return None
    return await _actor_of(request, claims.member_id, claims.version)


async def _actor_of(request: Request, member_id: str, version: int) -> Actor | None:
    """The member at this token version from the actor cache, or read in a thread (a session that
    only reads) and put there; None if they are no longer that (suspended, a new password)."""
    cache: ActorCache = request.app.state.actors
    actor = cache.get(member_id, version)
    if actor is None:
        actor = await run_in_threadpool(_load_actor_apart, request, member_id, version)
        if actor is not None:
            cache.put(actor)
    return actor


def _load_actor_apart(request: Request, member_id: str, version: int) -> Actor | None:
    """The actor, read in a session of its own that only reads (never the request's write one)."""
    with read_session(request) as session:
        return _load_actor(session, member_id, version)


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The signed-in member (bearer token or session cookie), or 401.

    Most calls find the member in the cache, so no session is made for this unless the cache misses
    (a dependency that yields a session costs each request more than the lookup saves)."""
    claimed = _claimed_identity(request, credentials)
    if claimed is None:
        raise Unauthenticated("sign in first: send 'Authorization: Bearer <token>' from /api/v1/auth/token")
    member_id, version, bearer = claimed
    actor = await _actor_of(request, member_id, version)
    if actor is None:
        if bearer:
            raise Unauthenticated("the access token is no longer valid; sign in again")
        raise Unauthenticated("your session has ended; sign in again")
    # The error handler tells a refusal in the signed-in member's language.
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


async def optional_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor | None:
    """The signed-in member, or None for someone not signed in (public pages and endpoints); a token
    or session that is no longer valid is still a 401, not a quiet fall back to anonymous."""
    if _claimed_identity(request, credentials) is None:
        return None
    return await current_actor(request, credentials)


MaybeActorDep = Annotated[Actor | None, Depends(optional_actor)]


def current_person(actor: ActorDep) -> Actor:
    """A signed-in person (not a kiosk device account)."""
    if actor.member.role is Role.kiosk:
        raise NotPermitted("a kiosk account cannot do this")
    return actor


PersonDep = Annotated[Actor, Depends(current_person)]
