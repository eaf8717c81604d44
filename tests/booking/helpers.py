"""Helpers for the booking domain's service tests."""

from __future__ import annotations

from sqlmodel import Session, SQLModel, func, select

from booking.schemas import BookingCreate
from tests.factories import at


def count_rows(session: Session, model: type[SQLModel]) -> int:
    """How many rows the model's table holds (in the test's transaction)."""
    return int(session.exec(select(func.count()).select_from(model)).one())


def ask(resource_id: str, start: str, end: str, **extra: object) -> BookingCreate:
    """A booking request for local times in Hồ Chí Minh City ('2027-03-02 10:00')."""
    return BookingCreate.model_validate(
        {"resource_id": resource_id, "start": at(start), "end": at(end), **extra}
    )
