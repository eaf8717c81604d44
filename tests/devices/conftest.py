"""Fixtures of the machines' domain tests: a site open on weekdays 08:00–20:00, a recording link."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from booking.models import Site
from tests.factories import make_site
from tests.links import RecordingLink


@pytest.fixture
def site(session: Session) -> Site:
    return make_site(
        session, opening_hours={d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    )


@pytest.fixture
def link() -> RecordingLink:
    return RecordingLink()
