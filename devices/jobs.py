"""The machines' scheduled jobs: thin and idempotent; each opens a session, calls one service, commits.

`send` publishes what the job decided, after the commit (the bridge's link, or a stand-in without one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from devices.alerts import service as alerts
from devices.maintenance import service as maintenance
from devices.ports import MachineLink
from devices.registry import service as registry
from devices.sessions import enforcement


class Outbox(MachineLink, Protocol):
    def discard(self) -> None: ...


L = TypeVar("L", bound=Outbox)


def _run(
    engine: Engine,
    make_link: Callable[[], L],
    send: Callable[[L], None],
    work: Callable[[Session, L], object],
) -> object:
    link = make_link()
    with Session(engine, expire_on_commit=False) as session:
        try:
            result = work(session, link)
            session.commit()
        except BaseException:
            link.discard()
            raise
    send(link)
    return result


def check_offline(
    engine: Engine, make_link: Callable[[], L], send: Callable[[L], None], now: datetime
) -> object:
    """Silent machines go offline."""
    return _run(engine, make_link, send, lambda s, link: alerts.check_offline(s, link, now))


def check_maintenance(
    engine: Engine, make_link: Callable[[], L], send: Callable[[L], None], now: datetime
) -> object:
    """Due and overdue maintenance: alerts, and blocks for overdue plans."""
    return _run(engine, make_link, send, lambda s, link: maintenance.check_maintenance(s, link, now))


def enforce_sessions(
    engine: Engine, make_link: Callable[[], L], send: Callable[[L], None], now: datetime
) -> object:
    """Warn and lock sessions at the end of their quota or booking; refresh states as bookings come and go."""

    def work(session: Session, link: L) -> int:
        sent = enforcement.enforce_sessions(session, link, now)
        registry.refresh_all(session, link, now)
        return sent

    return _run(engine, make_link, send, work)
