"""The problem reports' pure rules: what a description and a photo must be, and a report's state as
the member sees it (from its alert)."""

from __future__ import annotations

import enum
from datetime import datetime

from booking.errors import InvalidRequest

# Phone photos are a few MiB; anything larger is not a photo someone took of a machine.
MAX_PHOTO_BYTES = 6 * 1024 * 1024
MIN_DESCRIPTION = 5
MAX_DESCRIPTION = 1000
# How many reports one member may have open at once: enough for a bad day, not a flood.
MAX_OPEN_PER_MEMBER = 10


class ReportState(enum.StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    resolved = "resolved"


def check_description(text: str) -> str:
    """The description, trimmed; InvalidRequest when it is too short or too long to act on."""
    cleaned = " ".join(text.split())
    if len(cleaned) < MIN_DESCRIPTION:
        raise InvalidRequest(
            "say what is wrong in a few words (at least {least} characters)", least=MIN_DESCRIPTION
        )
    if len(cleaned) > MAX_DESCRIPTION:
        raise InvalidRequest("the description is too long: at most {most} characters", most=MAX_DESCRIPTION)
    return cleaned


def photo_type(data: bytes) -> str:
    """The photo's media type, told by its first bytes (never by what the sender claims);
    InvalidRequest for anything that is not a JPEG, PNG or WebP image of reasonable size."""
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidRequest(
            "the photo is too large: at most {most} MiB", most=MAX_PHOTO_BYTES // (1024 * 1024)
        )
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise InvalidRequest("the photo must be a JPEG, PNG or WebP image")


def state_of(acknowledged_at: datetime | None, resolved_at: datetime | None) -> ReportState:
    """Where the report stands: new until a manager acknowledges it, then resolved when handled."""
    if resolved_at is not None:
        return ReportState.resolved
    return ReportState.acknowledged if acknowledged_at is not None else ReportState.new
