"""The waitlist's pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from booking.waitlist import rules

T0 = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def _t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


class TestWaitlistOrder:
    def test_first_come_first_served_with_stable_ties(self) -> None:
        waiters = [
            rules.Waiter("c", _t(5)),
            rules.Waiter("b", _t(1)),
            rules.Waiter("a", _t(1)),
            rules.Waiter("d", _t(0)),
        ]
        assert [w.entry_id for w in rules.waitlist_order(waiters)] == ["d", "a", "b", "c"]

    def test_an_entry_expires_once_its_slot_has_begun(self) -> None:
        assert rules.has_expired(_t(0), _t(0))
        assert not rules.has_expired(_t(1), _t(0))
