"""Every query of the series."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from booking.models import Booking


def list_series_bookings(session: Session, series_id: str) -> Sequence[Booking]:
    """The bookings of a series, by start."""
    return session.exec(
        select(Booking).where(Booking.series_id == series_id).order_by(col(Booking.start_at))
    ).all()
