"""Password hashing (Argon2id), the secrets members are given, and new ids."""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor

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


@functools.cache
def dummy_password_hash() -> str:
    """A hash of a random secret, made once: what a sign-in for an unknown e-mail is checked against."""
    return _hasher.hash(secrets.token_urlsafe(32))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash; False for an empty or malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Argon2 is memory-hard CPU work (~0.16 s, ~1.4 cores here). Sign-ins from the web check their
# passwords in this one thread, one after another: a burst of sign-ins queues here instead of taking
# every worker thread from the other requests. The thread runs at a lower CPU priority (and so do
# the threads Argon2 starts for its lanes, which inherit it): a card tap or a booking that needs the
# CPU gets it first, and the hashing takes what is left.
PASSWORD_THREAD_NICENESS = 10


def _lower_priority() -> None:
    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_THREAD_NICENESS)


_password_thread = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="fablab-password", initializer=_lower_priority
)


def verify_password_queued(password_hash: str, password: str) -> Future[bool]:
    """`verify_password`, run in the password thread after those queued before it."""
    return _password_thread.submit(verify_password, password_hash, password)


def new_booking_code() -> str:
    """A short random code a member types or scans at a kiosk."""
    # One draw from the system's randomness for the whole code (a choice per character made eight).
    number = secrets.randbelow(len(CODE_ALPHABET) ** CODE_LENGTH)
    characters = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        characters.append(CODE_ALPHABET[digit])
    return "".join(characters)


def new_token() -> str:
    """A URL-safe secret (for iCal feed URLs)."""
    return secrets.token_urlsafe(24)


def new_id() -> str:
    """A new lowercase ULID: unique, unguessable enough for URLs, sortable by creation."""
    return str(ULID()).lower()
