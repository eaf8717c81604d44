"""Signed bearer tokens: a member id and token version, verified without a database round trip."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


@dataclass(frozen=True, slots=True)
class TokenClaims:
    member_id: str
    version: int


# Tokens checked lately, remembered so a client's next call skips the HMAC and the decoding.
TOKEN_CACHE_SIZE = 10_000


class TokenCodec:
    """Issues and checks the API's bearer tokens with the app's secret key.

    A token that checked out is remembered with the time it was signed (each call of an API client
    sends the same one, and the CSRF guard and the actor's dependency both read it): the same string
    is the same signed claims, so only its age is checked again. A forged one is never remembered.
    """

    def __init__(self, secret_key: str, max_age_s: int, clock: Callable[[], float] = time.time) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="fablab-api-token")
        self._max_age_s = max_age_s
        self._clock = clock
        self._checked: dict[str, tuple[TokenClaims, float]] = {}

    def issue(self, member_id: str, version: int) -> str:
        """A token for the member at their current token version."""
        return self._serializer.dumps({"m": member_id, "v": version})

    def read(self, token: str) -> TokenClaims | None:
        """The token's claims, or None if it is forged, malformed or expired."""
        hit = self._checked.get(token)
        if hit is not None:
            claims, signed_at = hit
            if self._clock() - signed_at <= self._max_age_s:
                return claims
            self._checked.pop(token, None)
            return None
        try:
            data, signed = self._serializer.loads(token, max_age=self._max_age_s, return_timestamp=True)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("m"), str):
            return None
        version = data.get("v")
        if not isinstance(version, int):
            return None
        claims = TokenClaims(member_id=data["m"], version=version)
        if len(self._checked) >= TOKEN_CACHE_SIZE:  # bound memory under a flood of distinct tokens
            self._checked.clear()
        self._checked[token] = (claims, signed.timestamp())
        return claims


class _PairCodec:
    """Signs a link's two strings (a member and one more) under its own salt, with an expiry or none."""

    def __init__(self, secret_key: str, salt: str, second: str, max_age_s: int | None) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=salt)
        self._second = second
        self._max_age_s = max_age_s

    def issue(self, member_id: str, value: str) -> str:
        return self._serializer.dumps({"m": member_id, self._second: value})

    def read(self, token: str) -> tuple[str, str] | None:
        """(member id, the second string), or None for a forged, malformed or expired link."""
        try:
            data = self._serializer.loads(token, max_age=self._max_age_s)
        except (BadSignature, SignatureExpired):
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("m"), str)
            or not isinstance(data.get(self._second), str)
        ):
            return None
        return data["m"], data[self._second]


# A reset link works for an hour.
RESET_MAX_AGE_S = 3600


class ResetCodec(_PairCodec):
    """Signs the one-time links of password-reset e-mails: the member and their password's
    fingerprint (booking.accounts), valid for RESET_MAX_AGE_S."""

    def __init__(self, secret_key: str, max_age_s: int = RESET_MAX_AGE_S) -> None:
        super().__init__(secret_key, "fablab-password-reset", "f", max_age_s)


class UnsubscribeCodec(_PairCodec):
    """Signs the unsubscribe links of e-mails: a member and a kind of message; no expiry, so an old
    e-mail's link still works, and nothing else can be done with it."""

    def __init__(self, secret_key: str) -> None:
        super().__init__(secret_key, "fablab-unsubscribe", "k", None)
        self._issued: dict[tuple[str, str], str] = {}

    def issue(self, member_id: str, value: str) -> str:
        """The member's link for this kind of message: signed once, then the same (it never
        expires, so a link signed earlier says just what a new one would). Signing one (JSON, zlib,
        an HMAC) cost a seventh of an e-mail's CPU, and each member gets many e-mails of a kind."""
        key = (member_id, value)
        token = self._issued.get(key)
        if token is None:
            if len(self._issued) >= ISSUED_CACHE_SIZE:  # bound memory over many members
                self._issued.clear()
            token = self._issued[key] = super().issue(member_id, value)
        return token


ISSUED_CACHE_SIZE = 10_000


# A link that confirms an address (a new account's, or a new one for an account) works for a day.
ADDRESS_MAX_AGE_S = 24 * 3600


class AddressCodec(_PairCodec):
    """Signs the links that confirm an e-mail address: a member and the address, valid for a day.
    `purpose` keeps a sign-up's link from confirming a change of address, and the reverse."""

    def __init__(self, secret_key: str, purpose: str, max_age_s: int = ADDRESS_MAX_AGE_S) -> None:
        super().__init__(secret_key, f"fablab-address-{purpose}", "e", max_age_s)
