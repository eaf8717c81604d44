"""The demo center shows events across the center and the partner lab, with registrations, and a
startup day already held, so the activity report has a year to show (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlmodel import Session, select

from booking.catalogue import repository as catalogue_repo
from booking.models import Event, EventKind, Registration, RegistrationStatus
from devices import activity
from tests.conftest import NOW
from web.demo import seed_demo


def test_the_demo_announces_events_with_registrations(session: Session) -> None:
    assert seed_demo(session, NOW)
    found = session.exec(select(Event)).all()
    assert {e.kind for e in found} == {
        EventKind.training,
        EventKind.class_,
        EventKind.event,
        EventKind.workshop,
    }
    assert {e.site_id for e in found} == {"biic", "uni-mech"}
    assert len(found) == 5
    seated = session.exec(
        select(Registration).where(Registration.status == RegistrationStatus.registered)
    ).all()
    assert len(seated) == 9  # six for the coming events, three at the startup day held
    held = next(e for e in found if e.ends_at < NOW)
    report = activity.activity(session, list(catalogue_repo.list_sites(session)), held.starts_at.year, NOW)
    (tally,) = [t for t in report.network.events if t.kind is EventKind.event]
    assert (tally.registered, tally.attended, tally.absent) >= (3, 2, 1)
