"""Table-driven tests of the members' pure rules: trainings, roles and sites, passwords, sign-in
throttling, languages, ids from e-mail addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from booking.errors import InvalidRequest, NotPermitted, TooManyAttempts
from booking.members import rules
from booking.models import Role
from tests.factories import at
from tests.words import en_day

NOW = at("2027-03-01 09:00")


class TestTraining:
    def test_training_missing(self) -> None:
        with pytest.raises(NotPermitted) as caught:
            rules.check_training("laser", {}, NOW, "Laser safety", "Laser 1")
        assert caught.value.detail == "Laser 1 requires the training 'Laser safety', which you do not hold"

    def test_training_expired(self) -> None:
        with pytest.raises(NotPermitted, match=f"yours expired on {en_day('2027-02-28')}"):
            rules.check_training("laser", {"laser": at("2027-02-28 12:00")}, NOW, "Laser safety", "Laser 1")

    def test_training_valid_or_not_required(self) -> None:
        rules.check_training("laser", {"laser": None}, NOW, "Laser safety", "Laser 1")
        rules.check_training("laser", {"laser": NOW + timedelta(days=1)}, NOW, "Laser safety", "Laser 1")
        rules.check_training(None, {}, NOW, "", "Room")

    def test_expiry_follows_the_trainings_validity(self) -> None:
        assert rules.training_expiry(NOW, 365) == NOW + timedelta(days=365)
        assert rules.training_expiry(NOW, None) is None


class TestRoleSites:
    @pytest.mark.parametrize(
        ("role", "sites", "message"),
        [
            (Role.kiosk, [], "a kiosk account is bound to exactly one site (--site)"),
            (Role.kiosk, ["a", "b"], "a kiosk account is bound to exactly one site (--site)"),
            (Role.manager, [], "a manager needs at least one site to manage (--site)"),
        ],
    )
    def test_refuses(self, role: Role, sites: list[str], message: str) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_role_sites(role, sites, hint=" (--site)")
        assert caught.value.detail == message

    @pytest.mark.parametrize(
        ("role", "sites"),
        [(Role.kiosk, ["a"]), (Role.manager, ["a", "b"]), (Role.member, []), (Role.admin, [])],
    )
    def test_accepts(self, role: Role, sites: list[str]) -> None:
        rules.check_role_sites(role, sites)


class TestAccounts:
    @pytest.mark.parametrize(
        ("email", "base"),
        [
            ("Lan.Nguyen@example.org", "lan-nguyen"),
            ("trần.minh@example.org", "tran-minh"),
            ("___@example.org", "member"),
        ],
    )
    def test_member_id_from_the_address(self, email: str, base: str) -> None:
        assert rules.member_id_base(email) == base

    @pytest.mark.parametrize(
        ("password", "why"),
        [
            ("short", "at least 10 characters"),
            (" " * 12, "at least 10 characters"),  # eight spaces were accepted
            ("12345678901", "among the first a guesser would try"),  # 12345678 was accepted
            ("password123", "among the first a guesser would try"),
            ("qwertyuiop", "among the first a guesser would try"),
            ("lan@example.org", "among the first a guesser would try"),  # the member's own e-mail
        ],
    )
    def test_a_short_or_guessable_password_is_refused(self, password: str, why: str) -> None:
        with pytest.raises(InvalidRequest, match=why):
            rules.check_password(password, known=("lan@example.org", "Nguyễn Thị Lan"))

    def test_a_passphrase_is_accepted(self) -> None:
        rules.check_password("fablab-demo-2027")
        rules.check_password("correct horse battery")

    def test_language(self) -> None:
        with pytest.raises(InvalidRequest) as caught:
            rules.check_language("fr")
        assert caught.value.detail == "'fr' is not a language of FabLab Hub; use one of vi, en"
        rules.check_language("en")


class TestSignInAttempts:
    def test_refuses_after_the_last_allowed_failure_with_the_wait(self) -> None:
        window = timedelta(minutes=5)
        with pytest.raises(TooManyAttempts) as caught:
            rules.check_sign_in_attempts(
                "lan@example.org", 5, NOW - timedelta(minutes=2), NOW, max_failures=5, window=window
            )
        assert caught.value.detail == "too many failed sign-ins for lan@example.org; try again in 3 min"

    def test_allows_fewer_failures(self) -> None:
        rules.check_sign_in_attempts(
            "lan@example.org", 4, NOW, NOW, max_failures=5, window=timedelta(minutes=5)
        )
