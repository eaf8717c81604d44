"""Idempotent booking requests on a real database."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from booking import idempotency
from booking.errors import InvalidRequest
from booking.models import (
    Booking,
    ResourceKind,
    Site,
)
from tests.booking.helpers import ask, count_rows
from tests.conftest import NOW
from tests.factories import (
    actor,
    make_member,
    make_resource,
)


class TestIdempotency:
    def test_same_key_returns_the_first_result(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, kind=ResourceKind.room, quota_group=None)
        who = actor(session, make_member(session))
        request = ask(room.id, "2027-03-02 10:00", "2027-03-02 11:00")
        first = idempotency.book_idempotent(session, who, request, NOW, "key-1")
        again = idempotency.book_idempotent(session, who, request, NOW, "key-1")
        assert (first.replayed, again.replayed) == (False, True)
        assert again.body == first.body
        assert count_rows(session, Booking) == 1
        with pytest.raises(InvalidRequest, match="already used for a different booking request"):
            idempotency.book_idempotent(
                session, who, ask(room.id, "2027-03-02 12:00", "2027-03-02 13:00"), NOW, "key-1"
            )
