"""The domain's errors. They carry no HTTP status: `web/errors.py` maps each kind to one.

Each carries a `Message` (booking/messages.py): an English template, which is also its message id in
the translation catalogues, and typed values, so the refusal reaches a person in their language:

    raise Conflict("{resource} is booked {slot}", resource=Name(r.name, r.name_en), slot=Slot(s, e, tz))
"""

from __future__ import annotations

from booking.messages import Message, Value


class DomainError(Exception):
    """A request the domain refuses, with a sentence a person understands."""

    kind = "DomainError"

    def __init__(self, template: str | Message, /, **values: Value) -> None:
        self.message = template if isinstance(template, Message) else Message(template, values)
        super().__init__(self.message.english())

    @property
    def detail(self) -> str:
        """The sentence in English (the API's default language, logs and the command line)."""
        return self.message.english()


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


class Unavailable(DomainError):
    """A dependency (the database's write slot, a mail server) cannot be had right now; try again."""

    kind = "Unavailable"
