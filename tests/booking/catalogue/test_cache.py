"""The catalogue snapshot's closures: those touching a span, found by bisection, long ones included."""

from __future__ import annotations

from datetime import timedelta

import pytest

from booking.catalogue.cache import SiteClosures
from booking.spans import ClosureSpan, Span
from tests.factories import at


def _closures(*spans: tuple[str, str, str]) -> SiteClosures:
    closures = sorted((ClosureSpan(at(a), at(b), why) for a, b, why in spans), key=lambda c: c.start)
    return SiteClosures(
        starts=[c.start for c in closures],
        closures=closures,
        longest=max((c.end - c.start for c in closures), default=timedelta(0)),
    )


SITE = _closures(
    ("2027-02-01 00:00", "2027-03-31 00:00", "renovation"),  # long, begins well before
    ("2027-03-02 12:00", "2027-03-02 17:00", "maintenance"),
    ("2027-03-02 16:00", "2027-03-02 18:00", "cleaning"),
    ("2027-04-05 08:00", "2027-04-05 10:00", "inspection"),
)


@pytest.mark.parametrize(
    ("start", "end", "reasons"),
    [
        ("2027-03-02 13:00", "2027-03-02 14:00", {"renovation", "maintenance"}),
        ("2027-03-02 16:30", "2027-03-02 17:30", {"renovation", "maintenance", "cleaning"}),
        ("2027-03-02 17:00", "2027-03-02 18:00", {"renovation", "cleaning"}),  # maintenance ended at 17:00
        ("2027-04-05 07:00", "2027-04-05 08:00", set()),  # ends where the inspection begins
        ("2027-04-05 09:59", "2027-04-05 11:00", {"inspection"}),
        ("2027-01-01 00:00", "2027-02-01 00:00", set()),
    ],
)
def test_the_closures_touching_a_span(start: str, end: str, reasons: set[str]) -> None:
    assert {c.reason for c in SITE.touching(Span(at(start), at(end)))} == reasons


def test_a_site_without_closures() -> None:
    assert _closures().touching(Span(at("2027-03-02 13:00"), at("2027-03-02 14:00"))) == []
