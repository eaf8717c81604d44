"""The domain's errors. They carry no HTTP status: `web/errors.py` maps each kind to one."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses, with a sentence a person understands."""

    kind = "DomainError"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    kind = "NotFound"


class Conflict(DomainError):
    """The slot (or the thing) is taken; the detail names what holds it."""

    kind = "Conflict"


class QuotaExceeded(DomainError):
    kind = "QuotaExceeded"


class NotPermitted(DomainError):
    kind = "NotPermitted"


class InvalidRequest(DomainError):
    kind = "InvalidRequest"


class Unauthenticated(DomainError):
    kind = "Unauthenticated"


class TooManyAttempts(DomainError):
    kind = "TooManyAttempts"
