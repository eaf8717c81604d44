"""Fixtures of the booking domain's tests."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from booking.models import Site
from tests.factories import make_site


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(session)
