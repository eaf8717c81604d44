"""Members on a real database: sign-in and its rate limit, accounts, trainings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from booking.errors import InvalidRequest, NotPermitted
from booking.members import service as members
from booking.members.actors import SYSTEM
from booking.models import Member, MemberTraining, Role
from booking.schemas import MemberCreate
from tests.booking.helpers import count_rows
from tests.conftest import NOW
from tests.factories import actor, make_member, make_training


class TestMembers:
    def test_sign_in_and_rate_limit(self, session: Session) -> None:
        from booking.errors import TooManyAttempts, Unauthenticated
        from tests.factories import PASSWORD

        member = make_member(session, email="lan@example.org")
        assert members.authenticate(session, session, "LAN@example.org ", PASSWORD, NOW).id == member.id
        for _ in range(5):
            with pytest.raises(Unauthenticated, match="the e-mail or the password is wrong"):
                members.authenticate(session, session, "lan@example.org", "wrong", NOW)
        with pytest.raises(
            TooManyAttempts, match=r"too many failed sign-ins for lan@example\.org; try again in 5 min"
        ):
            members.authenticate(session, session, "lan@example.org", PASSWORD, NOW)
        assert (
            members.authenticate(session, session, "lan@example.org", PASSWORD, NOW + timedelta(minutes=6)).id
            == member.id
        )


class TestAccounts:
    def test_only_an_admin_or_the_command_line_opens_an_account(self, session: Session) -> None:
        data = MemberCreate(email="new@example.org", password="a long password")
        member = actor(session, make_member(session))
        before = count_rows(session, Member)
        with pytest.raises(NotPermitted, match="only an administrator can change how the center is set up"):
            members.create_member(session, member, data, NOW)
        assert count_rows(session, Member) == before
        created = members.create_member(session, SYSTEM, data, NOW)
        assert (created.id, created.email, created.role) == ("new", "new@example.org", Role.member)

    def test_a_kiosk_needs_its_one_site(self, session: Session) -> None:
        data = MemberCreate(email="kiosk@example.org", password="a long password", role=Role.kiosk)
        before = count_rows(session, Member)
        with pytest.raises(InvalidRequest) as caught:
            members.create_member(session, SYSTEM, data, NOW)
        assert caught.value.detail == "a kiosk account is bound to exactly one site (--site)"
        assert count_rows(session, Member) == before


class TestTrainings:
    def test_the_command_line_grants_as_no_member(self, session: Session) -> None:
        training = make_training(session, valid_days=30)
        member = make_member(session)
        granted = members.grant_training(session, SYSTEM, member.email, training.id, NOW)
        assert (granted.granted_by, granted.expires_at) == (None, NOW + timedelta(days=30))

    def test_a_member_cannot_grant(self, session: Session) -> None:
        training = make_training(session)
        member = make_member(session)
        other = actor(session, make_member(session))
        before = count_rows(session, MemberTraining)
        with pytest.raises(NotPermitted, match="only managers can grant trainings"):
            members.grant_training(session, other, member.id, training.id, NOW)
        assert count_rows(session, MemberTraining) == before
