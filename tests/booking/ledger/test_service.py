"""The quota ledger on a real database: one usage computation behind the quota check, the member's
meters and the runtime a plan still allows."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from booking.bookings import service as bookings
from booking.errors import QuotaExceeded
from booking.ledger import service as ledger
from booking.members.actors import MemberInfo
from booking.models import QuotaPeriod, Site
from booking.spans import zone
from tests.booking.helpers import ask
from tests.conftest import NOW
from tests.factories import actor, at, make_member, make_plan, make_resource, quota

HCM = zone("Asia/Ho_Chi_Minh")


class TestMyQuotas:
    def test_booked_and_used_hours_and_counts_per_rule(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        plan = make_plan(
            session,
            quota(period=QuotaPeriod.week, max_hours=4, max_runtime_hours=2),
            quota(period=QuotaPeriod.month, max_bookings=5, max_future_bookings=3),
        )
        member = make_member(session, plan=plan)
        booking = bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 11:30"), NOW
        )
        ledger.charge_runtime(
            session,
            member_id=member.id,
            quota_group="laser",
            at=booking.start_at,
            seconds=2700,
            now=NOW,
            booking_id=booking.id,
        )
        # One meter per rule, by group and then period.
        month, week = ledger.my_quotas(session, MemberInfo.of(member), NOW, "Asia/Ho_Chi_Minh")
        assert (week.period, week.booked_hours, week.used_hours) == (QuotaPeriod.week, 1.5, 0.75)
        assert (week.limit_hours, week.limit_runtime_hours) == (4, 2)
        assert (month.period, month.bookings, month.future_bookings) == (QuotaPeriod.month, 1, 1)
        assert (month.period_start, month.period_end) == (at("2027-03-01 00:00"), at("2027-04-01 00:00"))

    def test_no_plan_no_meters(self, session: Session) -> None:
        assert ledger.my_quotas(session, MemberInfo.of(make_member(session)), NOW, "Asia/Ho_Chi_Minh") == []


class TestRuntime:
    def test_runtime_left_is_the_least_over_the_plans_periods(self, session: Session) -> None:
        plan = make_plan(
            session,
            quota(period=QuotaPeriod.day, max_runtime_hours=1),
            quota(period=QuotaPeriod.week, max_runtime_hours=3),
        )
        member = make_member(session, plan=plan)
        # Used on Tuesday: it counts in the week, not on Wednesday.
        wednesday = at("2027-03-03 09:00")
        ledger.charge_runtime(
            session,
            member_id=member.id,
            quota_group="laser",
            at=at("2027-03-02 10:00"),
            seconds=9000,
            now=NOW,
        )
        left = ledger.runtime_left_s(session, member.id, plan.id, "laser", wednesday, HCM)
        assert left == 3 * 3600 - 9000
        running = ledger.runtime_left_s(session, member.id, plan.id, "laser", wednesday, HCM, running_s=600)
        assert running == 3 * 3600 - 9000 - 600
        assert ledger.runtime_limit_s(session, plan.id, "laser") == 3600

    def test_nothing_limits_runtime_without_a_runtime_rule(self, session: Session) -> None:
        plan = make_plan(session, quota(max_hours=4))
        member = make_member(session, plan=plan)
        assert ledger.runtime_left_s(session, member.id, plan.id, "laser", NOW, HCM) is None
        assert ledger.runtime_left_s(session, member.id, None, "laser", NOW, HCM) is None
        assert ledger.runtime_limit_s(session, plan.id, "laser") is None


class TestQuotaCheck:
    def test_runtime_does_not_count_as_booked_hours(self, session: Session, site: Site) -> None:
        laser = make_resource(session, site)
        member = make_member(session, plan=make_plan(session, quota(max_hours=2)))
        ledger.charge_runtime(
            session, member_id=member.id, quota_group="laser", at=NOW, seconds=7200, now=NOW
        )
        bookings.book(
            session, actor(session, member), ask(laser.id, "2027-03-02 10:00", "2027-03-02 12:00"), NOW
        )
        with pytest.raises(QuotaExceeded, match=r"you have 2 h booked and asked for 0\.5 h more"):
            bookings.book(
                session, actor(session, member), ask(laser.id, "2027-03-03 10:00", "2027-03-03 10:30"), NOW
            )
