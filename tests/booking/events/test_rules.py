"""The events' pure rules, table by table."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from booking.errors import InvalidRequest, NotPermitted
from booking.events import rules
from booking.spans import Span
from tests.factories import at

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = at("2027-03-01 09:00")


def span(start: str, end: str) -> Span:
    return Span(at(start), at(end))


@pytest.mark.parametrize(
    ("capacity", "refused"),
    [
        (-5, "at least 1 seat"),
        (0, "at least 1 seat"),
        (1, None),
        (10_000, None),
        (10_001, "at most 10.000 seats"),
    ],
)
def test_capacity(capacity: int, refused: str | None) -> None:
    if refused is None:
        rules.check_capacity(capacity)
    else:
        with pytest.raises(InvalidRequest, match=refused):
            rules.check_capacity(capacity)


@pytest.mark.parametrize(
    ("spans", "refused"),
    [
        ([], "at least one session"),
        ([span("2027-03-02 18:00", "2027-03-02 17:00")], "ends before it starts"),
        ([span("2027-02-28 18:00", "2027-02-28 20:00")], "in the past"),
        ([span("2027-03-02 08:00", "2027-03-03 09:00")], "longer than 24 hours"),
        (
            [span("2027-03-02 18:00", "2027-03-02 20:00"), span("2027-03-02 19:30", "2027-03-02 21:00")],
            "overlap",
        ),
        ([span("2027-03-02 18:00", "2027-03-02 20:00")] * 201, "at most 200 sessions"),
    ],
)
def test_sessions_refused(spans: list[Span], refused: str) -> None:
    with pytest.raises(InvalidRequest, match=refused):
        rules.check_sessions(spans, NOW, TZ)


def test_sessions_come_back_in_time_order_and_may_touch() -> None:
    later = span("2027-03-09 18:00", "2027-03-09 20:00")
    first = span("2027-03-02 18:00", "2027-03-02 20:00")
    touching = span("2027-03-02 20:00", "2027-03-02 21:00")
    assert rules.check_sessions([later, touching, first], NOW, TZ) == [first, touching, later]


def test_window() -> None:
    first = at("2027-03-10 18:00")
    rules.check_window(None, None, first, NOW, TZ)
    with pytest.raises(NotPermitted, match="registration opens"):
        rules.check_window(NOW + timedelta(hours=1), None, first, NOW, TZ)
    with pytest.raises(NotPermitted, match="registration closed"):
        rules.check_window(None, NOW, first, NOW, TZ)
    with pytest.raises(NotPermitted, match="registration closed"):
        rules.check_window(None, None, NOW, NOW, TZ)
    with pytest.raises(InvalidRequest, match="before it opens"):
        rules.check_window_order(first, NOW, TZ)


@pytest.mark.parametrize(
    ("sessions", "attended", "passed", "expected"),
    [
        (["a", "b"], ["a", "b"], False, True),
        (["a", "b"], ["a"], False, False),
        (["a", "b"], ["a"], True, True),
        ([], [], False, False),
    ],
)
def test_qualifies(sessions: list[str], attended: list[str], passed: bool, expected: bool) -> None:
    assert rules.qualifies(sessions, attended, passed) is expected


def test_session_for_attendance() -> None:
    sittings = [span("2027-03-02 18:00", "2027-03-02 20:00"), span("2027-03-09 18:00", "2027-03-09 20:00")]
    assert rules.session_for_attendance(sittings, at("2027-03-02 16:59")) is None
    assert rules.session_for_attendance(sittings, at("2027-03-02 17:00")) == 0
    assert rules.session_for_attendance(sittings, at("2027-03-02 19:59")) == 0
    assert rules.session_for_attendance(sittings, at("2027-03-02 20:00")) is None
    assert rules.session_for_attendance(sittings, at("2027-03-09 18:30")) == 1
    assert rules.seats_left(10, 12) == 0
