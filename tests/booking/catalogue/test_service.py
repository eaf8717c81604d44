"""Setting a center up on a real database: who may change the catalogue, and that every change is
seen by the next booking at once (this process's catalogue cache is dropped on every write)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, SQLModel

from booking.bookings import service as bookings
from booking.catalogue import service as catalogue
from booking.catalogue.cache import CATALOGUE, CatalogueCache
from booking.errors import NotFound, NotPermitted
from booking.members.actors import SYSTEM, Actor
from booking.models import Closure, Plan, QuotaPeriod, QuotaRule, Resource, ResourceKind, Role, Site, Training
from booking.schemas import (
    ClosureCreate,
    PlanCreate,
    QuotaRuleCreate,
    ResourceCreate,
    ResourceUpdate,
    SiteCreate,
    TrainingCreate,
)
from booking.sql import database_of
from tests.booking.helpers import ask, count_rows
from tests.conftest import NOW
from tests.factories import (
    OPEN_ALL_WEEK,
    actor,
    at,
    make_member,
    make_plan,
    make_resource,
    make_site,
    make_training,
    unique,
)


def _resource(site: Site, **extra: object) -> ResourceCreate:
    return ResourceCreate.model_validate(
        {"id": unique("laser"), "site_id": site.id, "kind": ResourceKind.machine, "name": "Laser 9", **extra}
    )


def _create_site(session: Session, who: Actor, site: Site, plan: Plan) -> object:
    return catalogue.create_site(
        session, who, SiteCreate(id=unique("site"), name="X", opening_hours=OPEN_ALL_WEEK)
    )


def _create_resource(session: Session, who: Actor, site: Site, plan: Plan) -> object:
    return catalogue.create_resource(session, who, _resource(site))


def _create_training(session: Session, who: Actor, site: Site, plan: Plan) -> object:
    return catalogue.create_training(session, who, TrainingCreate(id=unique("t"), name="CNC"))


def _create_plan(session: Session, who: Actor, site: Site, plan: Plan) -> object:
    return catalogue.create_plan(session, who, PlanCreate(id=unique("p"), name="Pro"))


def _add_quota_rule(session: Session, who: Actor, site: Site, plan: Plan) -> object:
    rule = QuotaRuleCreate(quota_group="laser", period=QuotaPeriod.week, max_hours=1)
    return catalogue.add_quota_rule(session, who, plan.id, rule)


Change = Callable[[Session, Actor, Site, Plan], object]


class TestPermissions:
    @pytest.mark.parametrize(
        ("change", "model"),
        [
            (_create_site, Site),
            (_create_resource, Resource),
            (_create_training, Training),
            (_create_plan, Plan),
            (_add_quota_rule, QuotaRule),
        ],
    )
    @pytest.mark.parametrize("role", [Role.member, Role.manager])
    def test_only_an_admin_changes_the_set_up(
        self, session: Session, site: Site, change: Change, model: type[SQLModel], role: Role
    ) -> None:
        plan = make_plan(session)
        who = actor(session, make_member(session, role=role, manages=(site,) if role is Role.manager else ()))
        before = count_rows(session, model)
        with pytest.raises(NotPermitted) as caught:
            change(session, who, site, plan)
        assert caught.value.detail == "only an administrator can change how the center is set up"
        assert count_rows(session, model) == before

    def test_only_the_sites_managers_close_it(self, session: Session, site: Site) -> None:
        other = actor(session, make_member(session, role=Role.manager, manages=()))
        before = count_rows(session, Closure)
        data = ClosureCreate(start=at("2027-03-02 08:00"), end=at("2027-03-02 12:00"), reason="drill")
        with pytest.raises(NotPermitted, match="only the site's managers can close it"):
            catalogue.add_closure(session, other, site.id, data)
        assert count_rows(session, Closure) == before

    def test_the_command_line_registers_a_resource_as_the_system(self, session: Session, site: Site) -> None:
        resource = catalogue.create_resource(session, SYSTEM, _resource(site))
        assert session.get(Resource, resource.id) is resource


class TestCacheInvalidation:
    def test_a_resource_created_after_a_miss_is_bookable_at_once(self, session: Session, site: Site) -> None:
        data = _resource(site, kind=ResourceKind.room, quota_group=None)
        with pytest.raises(NotFound):
            CATALOGUE.resource(session, data.id)  # the miss is cached for a few seconds
        catalogue.create_resource(session, SYSTEM, data)
        booking = bookings.book(
            session,
            actor(session, make_member(session)),
            ask(data.id, "2027-03-02 10:00", "2027-03-02 11:00"),
            NOW,
        )
        assert booking.resource_id == data.id

    def test_a_changed_rule_applies_to_the_next_booking(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Room", kind=ResourceKind.room, quota_group=None)
        assert CATALOGUE.resource(session, room.id).rules.max_minutes == 240
        admin = actor(session, make_member(session, role=Role.admin))
        catalogue.update_resource(session, admin, room.id, ResourceUpdate(name="Room", max_minutes=60))
        assert CATALOGUE.resource(session, room.id).rules.max_minutes == 60


class TestSiteSnapshots:
    """A resource's snapshot is read with every other of its site, and all are kept as long."""

    def test_reading_one_resource_keeps_every_other_of_its_site(self, session: Session, site: Site) -> None:
        training = make_training(session)
        first = make_resource(session, site, name="Laser A")
        trained = make_resource(session, site, name="Laser B", training=training, max_minutes=90)
        retired = make_resource(session, site, name="Old laser")
        retired.active = False
        elsewhere = make_resource(session, make_site(session), name="Laser C")
        session.flush()
        now = [100.0]
        cache = CatalogueCache(ttl_s=5.0, clock=lambda: now[0])
        database = database_of(session)

        assert cache.resource(session, first.id).name == "Laser A"

        known, info = cache.peek_resource(database, trained.id)
        assert known
        assert info is not None
        assert (info.name, info.training_id, info.training_name, info.rules.max_minutes) == (
            "Laser B",
            training.id,
            "Laser safety",
            90,
        )
        assert info.site is cache.resource(session, first.id).site  # one snapshot of the site
        assert cache.peek_resource(database, retired.id) == (True, None)
        assert cache.peek_resource(database, elsewhere.id) == (False, None)
        with pytest.raises(NotFound):
            cache.resource(session, retired.id)

    def test_another_process_s_changes_are_read_once_the_sites_snapshots_run_out(
        self, session: Session, site: Site
    ) -> None:
        first = make_resource(session, site, name="Laser A", max_minutes=240)
        session.flush()
        now = [100.0]
        cache = CatalogueCache(ttl_s=5.0, clock=lambda: now[0])
        database = database_of(session)
        cache.resource(session, first.id)
        # Changed and added where this process's cache is not told (another process did it).
        first.max_minutes = 60
        added = make_resource(session, site, name="Laser D")
        session.flush()

        assert cache.peek_resource(database, added.id) == (False, None)  # never seen: read when asked
        assert cache.resource(session, added.id).name == "Laser D"
        assert cache.resource(session, first.id).rules.max_minutes == 60  # the site was read again with it
        first.max_minutes = 30
        session.flush()
        now[0] += 4.9
        assert cache.resource(session, first.id).rules.max_minutes == 60  # kept for ttl_s
        now[0] += 0.1
        assert cache.resource(session, first.id).rules.max_minutes == 30
