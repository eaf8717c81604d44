"""The unit of work of a request that tells machines what it decided: commit first, then send."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from devices.models import Alert, AlertKind
from devices.ports import CommandOut
from firmware_bridge.center.commands import OutboxLink
from tests.conftest import NOW
from tests.factories import make_site
from web.deps import MachineUnit


def _unlock() -> CommandOut:
    return CommandOut(
        cmd_id="cmd-1", site="site-1", gateway="gw-1", machine="laser-1", cmd="unlock", ts=NOW, fields={}
    )


def _alert(site_id: str, alert_id: str) -> Alert:
    return Alert(
        id=alert_id,
        kind=AlertKind.fault,
        site_id=site_id,
        message="x",
        open_key="fault:laser-1:",
        opened_at=NOW,
    )


class TestMachineUnit:
    def test_sends_after_the_commit(self, session: Session) -> None:
        seen: list[tuple[list[CommandOut], bool]] = []

        def send(link: OutboxLink) -> None:
            seen.append((list(link.commands), session.in_transaction()))

        unit = MachineUnit(session, send)
        site = make_site(session)
        session.add(_alert(site.id, "alert-1"))
        unit.link.send(_unlock())
        unit.commit()
        # The link went out once, with the command, when no transaction was open any more.
        assert seen == [([_unlock()], False)]
        assert session.get(Alert, "alert-1") is not None

    def test_a_commit_that_fails_sends_nothing(self, session: Session) -> None:
        sent: list[OutboxLink] = []
        unit = MachineUnit(session, sent.append)
        site = make_site(session)
        session.flush()
        # Two open alerts for one condition: the database refuses the second at the commit.
        session.add(_alert(site.id, "alert-2"))
        session.add(_alert(site.id, "alert-3"))
        unit.link.send(_unlock())
        with pytest.raises(IntegrityError):
            unit.commit()
        session.rollback()
        assert sent == []
        assert session.exec(select(Alert).where(Alert.open_key == "fault:laser-1:")).first() is None
