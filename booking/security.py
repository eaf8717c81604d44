"""Password hashing (Argon2id), the secrets members are given, and new ids."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from ulid import ULID

_hasher = PasswordHasher()

# Check-in codes avoid characters people confuse on a kiosk screen (0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def hash_password(password: str) -> str:
    """An Argon2id hash of the password, with its own salt and parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; False for an empty or malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_booking_code() -> str:
    """A short random code a member types or scans at a kiosk."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_token() -> str:
    """A URL-safe secret (for iCal feed URLs)."""
    return secrets.token_urlsafe(24)


def new_id() -> str:
    """A new lowercase ULID: unique, unguessable enough for URLs, sortable by creation."""
    return str(ULID()).lower()
