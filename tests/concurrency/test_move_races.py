"""Moves racing each other and new bookings, with real commits on both databases: no overlap, no
quota overrun, the ledger agrees with the bookings, and a booking moved by two requests at once has
its time given back once."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from booking.bookings import changes, service
from booking.errors import Conflict, DomainError, QuotaExceeded
from booking.ledger import service as ledger_service
from booking.members.service import load_actor
from booking.models import ACTIVE_STATUSES, Booking, Member, ResourceKind
from booking.schemas import BookingCreate, BookingUpdate
from tests.concurrency.test_races import (
    CLIENTS,
    DAY,
    QUOTA_HOURS,
    ROUNDS,
    _assert_invariants,
    _build_world,
    _race,
    _slot,
)
from tests.conftest import NOW
from tests.factories import at


def _outcome(engine: Engine, work: Callable[[Session], object], done: str) -> str:
    """Run one request in its own transaction and say how it ended."""
    try:
        with Session(engine, expire_on_commit=False) as session:
            work(session)
            session.commit()
        return done
    except Conflict:
        return "conflict"
    except QuotaExceeded:
        return "quota"
    except DomainError as exc:
        return f"other: {exc.detail}"
    except Exception as exc:
        return f"crash: {type(exc).__name__}: {exc}"


@pytest.mark.slow
class TestMoveRace:
    def test_moves_and_bookings_racing_never_overlap_or_overrun(self, fresh_engine: Engine) -> None:
        world = _build_world(fresh_engine)
        # Every member holds one booking on another day; the quota member holds the whole quota
        # (one hour on each of three days) in the quota room.
        machines = [r for r in world.exclusive if r.kind is ResourceKind.machine]
        owned: dict[int, str] = {}
        quota_held: list[str] = []
        with Session(fresh_engine, expire_on_commit=False) as session:
            for index, member in enumerate(world.members):
                resource = machines[index % len(machines)]
                start = at(f"{DAY} 08:00") + timedelta(days=1 + index)
                ask = BookingCreate(resource_id=resource.id, start=start, end=start + timedelta(hours=1))
                owned[index] = service.book(session, load_actor(session, member), ask, NOW).id
            for day in range(QUOTA_HOURS):
                start = at(f"{DAY} 08:00") + timedelta(days=20 + day)
                ask = BookingCreate(
                    resource_id=world.quota_room.id, start=start, end=start + timedelta(hours=1)
                )
                quota_held.append(service.book(session, load_actor(session, world.quota_member), ask, NOW).id)
            session.commit()

        def work(index: int) -> list[str]:
            rng = random.Random(1000 + index)
            outcomes: list[str] = []
            for round_ in range(ROUNDS):
                if index % 4 == 0:
                    # Eight clients of one member move the same three bookings: to one free hour
                    # (fits the quota) or to two hours (the quota refuses, whatever the others did).
                    booking_id = quota_held[(index // 4 + round_) % len(quota_held)]
                    start = at(f"{DAY} 08:00") + timedelta(days=25, hours=rng.randrange(0, 10))
                    length = timedelta(hours=2 if rng.random() < 0.3 else 1)
                    data = BookingUpdate(start=start, end=start + length)
                    member = world.quota_member
                elif rng.random() < 0.6:
                    start, end = _slot(rng)
                    data = BookingUpdate(start=start, end=end, resource_id=rng.choice(machines).id)
                    booking_id, member = owned[index], world.members[index]
                else:
                    start, end = _slot(rng)
                    ask = BookingCreate(resource_id=rng.choice(world.exclusive).id, start=start, end=end)

                    def book(
                        session: Session, ask: BookingCreate = ask, who: Member = world.members[index]
                    ) -> None:
                        service.book(session, load_actor(session, who), ask, NOW)

                    outcomes.append(_outcome(fresh_engine, book, "booked"))
                    continue

                def move(
                    session: Session,
                    booking_id: str = booking_id,
                    data: BookingUpdate = data,
                    who: Member = member,
                ) -> None:
                    changes.move(session, load_actor(session, who), booking_id, data, NOW)

                outcomes.append(_outcome(fresh_engine, move, "moved"))
            return outcomes

        outcomes = _race(work)
        assert not [o for o in outcomes if o.startswith(("crash", "other"))], outcomes
        assert outcomes["moved"] > 0
        assert outcomes["conflict"] > 0
        assert outcomes["quota"] > 0
        _assert_invariants(fresh_engine, world)
        # Each member's ledger still equals the seat-seconds of the bookings they hold.
        with Session(fresh_engine) as session:
            ledger: dict[str, int] = dict(
                session.execute(
                    sa.text("SELECT member_id, sum(seconds) FROM ledgerentry GROUP BY member_id")
                ).all()
            )
            held: Counter[str] = Counter()
            for booking in session.exec(select(Booking).where(Booking.quota_group.is_not(None))):  # type: ignore[union-attr]
                if booking.status in ACTIVE_STATUSES:
                    held[booking.member_id] += ledger_service.booked_seconds(booking)
        assert {m: s for m, s in ledger.items() if s} == dict(held)
        assert Counter(outcomes).total() == CLIENTS * ROUNDS


class TestSameBookingTwice:
    @pytest.mark.slow
    def test_two_moves_of_one_booking_give_its_time_back_once(self, fresh_engine: Engine) -> None:
        world = _build_world(fresh_engine)
        with Session(fresh_engine, expire_on_commit=False) as session:
            start = at(f"{DAY} 08:00") + timedelta(days=20)
            ask = BookingCreate(resource_id=world.quota_room.id, start=start, end=start + timedelta(hours=1))
            booking_id = service.book(session, load_actor(session, world.quota_member), ask, NOW).id
            session.commit()

        def work(index: int) -> list[str]:
            start = at(f"{DAY} 08:00") + timedelta(days=21, hours=index % 10)

            def move(session: Session) -> None:
                data = BookingUpdate(start=start, end=start + timedelta(hours=1 + index % 2))
                changes.move(session, load_actor(session, world.quota_member), booking_id, data, NOW)

            return [_outcome(fresh_engine, move, "moved")]

        outcomes = _race(work)
        assert not [o for o in outcomes if o.startswith(("crash", "other"))], outcomes
        with Session(fresh_engine) as session:
            booking = session.get(Booking, booking_id)
            assert booking is not None
            booked = session.execute(
                sa.text("SELECT sum(seconds) FROM ledgerentry WHERE member_id = :m"),
                {"m": world.quota_member.id},
            ).scalar_one()
        assert booked == ledger_service.booked_seconds(booking)
