"""The problem reports' pure rules, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from booking.errors import InvalidRequest
from devices.problems.rules import MAX_PHOTO_BYTES, ReportState, check_description, photo_type, state_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 32
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 16
T = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "media_type"), [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")]
)
def test_photo_type_is_told_by_its_bytes(data: bytes, media_type: str) -> None:
    assert photo_type(data) == media_type


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (b"<svg onload=alert(1)>", "the photo must be a JPEG, PNG or WebP image"),
        (b"GIF89a" + b"\0" * 10, "the photo must be a JPEG, PNG or WebP image"),
        (PNG + b"\0" * MAX_PHOTO_BYTES, "the photo is too large: at most 6 MiB"),
    ],
)
def test_photo_type_refuses_what_is_not_a_photo(data: bytes, sentence: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        photo_type(data)
    assert caught.value.detail == sentence


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("  The   laser\nlens is cracked ", "The laser lens is cracked"),
        ("bad", None),
        ("x" * 1001, None),
    ],
)
def test_check_description(text: str, result: str | None) -> None:
    if result is None:
        with pytest.raises(InvalidRequest):
            check_description(text)
    else:
        assert check_description(text) == result


@pytest.mark.parametrize(
    ("acknowledged", "resolved", "state"),
    [
        (None, None, ReportState.new),
        (T, None, ReportState.acknowledged),
        (T, T, ReportState.resolved),
        (None, T, ReportState.resolved),
    ],
)
def test_state_of(acknowledged: datetime | None, resolved: datetime | None, state: ReportState) -> None:
    assert state_of(acknowledged, resolved) is state
