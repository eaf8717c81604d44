"""Files people upload (a problem's photo): read no further than the limit allows."""

from __future__ import annotations

from fastapi import UploadFile

from booking.errors import InvalidRequest
from devices.problems.rules import MAX_PHOTO_BYTES


async def read_photo(photo: UploadFile | None) -> bytes | None:
    """The uploaded photo's bytes (None when none was sent); InvalidRequest past the limit."""
    if photo is None or not photo.filename:
        return None
    data = await photo.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidRequest(
            "the photo is too large: at most {most} MiB", most=MAX_PHOTO_BYTES // (1024 * 1024)
        )
    return data or None
