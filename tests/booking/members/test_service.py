"""Members on a real database: sign-in and its rate limit, accounts, trainings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from booking.members import service as members
from tests.conftest import NOW
from tests.factories import (
    make_member,
)


class TestMembers:
    def test_sign_in_and_rate_limit(self, session: Session) -> None:
        from booking.errors import TooManyAttempts, Unauthenticated
        from tests.factories import PASSWORD

        member = make_member(session, email="lan@example.org")
        assert members.authenticate(session, "LAN@example.org ", PASSWORD, NOW).id == member.id
        for _ in range(5):
            with pytest.raises(Unauthenticated, match="the e-mail or the password is wrong"):
                members.authenticate(session, "lan@example.org", "wrong", NOW)
        with pytest.raises(
            TooManyAttempts, match=r"too many failed sign-ins for lan@example\.org; try again in 5 min"
        ):
            members.authenticate(session, "lan@example.org", PASSWORD, NOW)
        assert (
            members.authenticate(session, "lan@example.org", PASSWORD, NOW + timedelta(minutes=6)).id
            == member.id
        )
