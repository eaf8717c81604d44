"""The members' pure rules: trainings held, roles and their sites, passwords, sign-in throttling,
languages, ids from e-mail addresses."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from zxcvbn import zxcvbn

from booking.errors import InvalidRequest, NotPermitted, TooManyAttempts
from booking.messages import Day
from booking.models import Role

LANGUAGES: tuple[str, ...] = ("vi", "en")
MIN_PASSWORD_LENGTH = 10
# zxcvbn's 0-4 guessability score a new password must reach: 2 is 'somewhat guessable' (10^8 guesses
# and more), past every list of common passwords and keyboard walks.
MIN_PASSWORD_SCORE = 2


def check_training(
    required: str | None,
    held: Mapping[str, datetime | None],
    now: datetime,
    training_name: str,
    name: str,
) -> None:
    """Refuse a member who lacks the training a resource requires, or whose grant expired."""
    if required is None:
        return
    if required not in held:
        raise NotPermitted(
            "{name} requires the training '{training_name}', which you do not hold",
            name=name,
            training_name=training_name,
        )
    expires = held[required]
    if expires is not None and expires <= now:
        raise NotPermitted(
            "{name} requires the training '{training_name}'; yours expired on {expires}",
            name=name,
            training_name=training_name,
            expires=Day(expires.date()),
        )


def training_expiry(now: datetime, valid_days: int | None) -> datetime | None:
    """When a training granted now stops being valid (None: never)."""
    return now + timedelta(days=valid_days) if valid_days else None


def check_role_sites(role: Role, sites: Sequence[str], *, hint: str = "") -> None:
    """Refuse a kiosk bound to other than one site, or a manager of no site."""
    if role is Role.kiosk and len(sites) != 1:
        raise InvalidRequest("a kiosk account is bound to exactly one site{hint}", hint=hint)
    if role is Role.manager and not sites:
        raise InvalidRequest("a manager needs at least one site to manage{hint}", hint=hint)


# An address people can be written to: something, @, a domain with a dot; no spaces.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def looks_like_email(text: str) -> bool:
    return re.fullmatch(EMAIL_PATTERN, text.strip()) is not None


def normal_email(email: str) -> str:
    """An e-mail address as accounts store and compare it."""
    return email.strip().lower()


def normal_card(card_uid: str | None) -> str | None:
    """A card UID as accounts store it (upper-case hex), or None."""
    return card_uid.upper() if card_uid else None


def member_id_base(email: str) -> str:
    """A readable id from the address's local part: ASCII, lower-case, dashes (before de-duplication)."""
    local = unicodedata.normalize("NFKD", email.split("@", 1)[0]).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", local.lower()).strip("-")[:48] or "member"


def check_password(password: str, *, known: Sequence[str] = ()) -> None:
    """Refuse a password too short or too easy to guess (common passwords, `12345678`, blanks, the
    member's own name or e-mail, given as `known`)."""
    if len(password.strip()) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest("a password needs at least {length} characters", length=MIN_PASSWORD_LENGTH)
    if zxcvbn(password[:100], user_inputs=[k for k in known if k])["score"] < MIN_PASSWORD_SCORE:
        raise InvalidRequest(
            "this password is among the first a guesser would try; add a few words or characters of your own"
        )


def check_sign_in_attempts(
    email: str, failures: int, oldest: datetime | None, now: datetime, *, max_failures: int, window: timedelta
) -> None:
    """Refuse a sign-in after `max_failures` failures within `window`, saying how long to wait."""
    if failures < max_failures:
        return
    wait = max(1, math.ceil(((oldest or now) + window - now).total_seconds() / 60))
    raise TooManyAttempts(
        "too many failed sign-ins for {email}; try again in {wait} min", email=email, wait=wait
    )


def check_address_attempts(
    attempts: int, first: datetime | None, now: datetime, *, max_attempts: int, window: timedelta
) -> None:
    """Refuse a sign-in from an address that made `max_attempts` within `window`, saying how long to wait."""
    if attempts < max_attempts:
        return
    wait = max(1, math.ceil(((first or now) + window - now).total_seconds() / 60))
    raise TooManyAttempts("too many sign-ins from this address; try again in {wait} min", wait=wait)


def given_name(full_name: str) -> str:
    """What a screen in a public hall may call a member: the given name alone. Names here are
    written in Vietnamese order (family, middle, given), so it is the last word: "Nguyễn Thị Lan" → "Lan"."""
    words = full_name.split()
    return words[-1] if words else ""


def check_language(language: str) -> None:
    """Refuse a language FabLab Hub does not speak."""
    if language not in LANGUAGES:
        raise InvalidRequest(
            "'{language}' is not a language of FabLab Hub; use one of {text}",
            language=language,
            text=", ".join(LANGUAGES),
        )
