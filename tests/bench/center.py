"""What the booking benchmarks book: one site open around the clock, its rooms, and members on a plan
whose quota no run can use up."""

from __future__ import annotations

from sqlmodel import Session

from booking.models import Member, QuotaPeriod, ResourceKind, Site
from tests.factories import make_member, make_plan, make_resource, make_site, quota

OPEN_24H = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def booking_center(session: Session, rooms: int, members: int) -> tuple[Site, list[str], list[Member]]:
    """The site, its rooms' ids and the members (flushed, not committed)."""
    site = make_site(session, opening_hours=OPEN_24H, holiday_country="")
    plan = make_plan(session, quota("rooms", QuotaPeriod.week, max_hours=100_000))
    room_ids = [
        make_resource(session, site, kind=ResourceKind.room, quota_group="rooms", max_days_ahead=730).id
        for _ in range(rooms)
    ]
    return site, room_ids, [make_member(session, plan=plan) for _ in range(members)]
