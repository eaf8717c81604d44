"""The registry on a real database: registering machines (administrators only), their live status."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from booking.catalogue.cache import CATALOGUE
from booking.errors import Conflict, InvalidRequest, NotFound, NotPermitted
from booking.models import Resource, ResourceKind, Role, Site
from devices.models import Gateway, Machine, MachineState
from devices.registry import service as registry
from devices.schemas import MachineCreate
from tests.conftest import NOW
from tests.devices.helpers import online
from tests.factories import actor, make_machine, make_member, make_resource, unique
from tests.links import RecordingLink


def _laser(site: Site) -> MachineCreate:
    return MachineCreate(
        id=unique("laser"), site_id=site.id, name="Laser 3", gateway_id=unique("gw"), quota_group="laser"
    )


class TestRegisterMachine:
    def test_an_administrator_registers_a_bookable_machine(self, session: Session, site: Site) -> None:
        data = _laser(site)
        with pytest.raises(NotFound):  # looked up before it exists: the catalogue remembers the miss
            CATALOGUE.resource(session, data.id)
        admin = actor(session, make_member(session, role=Role.admin))
        machine = registry.register_machine(session, admin, data, NOW)
        assert (machine.site_id, machine.gateway_id, machine.state) == (
            site.id,
            data.gateway_id,
            MachineState.offline,
        )
        resource = session.get(Resource, data.id)
        assert resource is not None
        assert (resource.kind, resource.name, resource.quota_group) == (
            ResourceKind.machine,
            "Laser 3",
            "laser",
        )
        assert session.get(Gateway, data.gateway_id) is not None
        # The catalogue forgot its snapshot: the new machine is bookable at once.
        assert CATALOGUE.resource(session, data.id).name == "Laser 3"

    def test_the_command_line_registers_without_an_actor(self, session: Session, site: Site) -> None:
        data = _laser(site)
        assert registry.register_machine(session, None, data, NOW).id == data.id

    @pytest.mark.parametrize("role", [Role.manager, Role.member])
    def test_only_an_administrator_may(self, session: Session, site: Site, role: Role) -> None:
        data = _laser(site)
        someone = actor(
            session, make_member(session, role=role, manages=(site,) if role is Role.manager else ())
        )
        with pytest.raises(NotPermitted) as caught:
            registry.register_machine(session, someone, data, NOW)
        assert caught.value.detail == "only an administrator can change how the center is set up"
        assert session.get(Resource, data.id) is None
        assert session.get(Machine, data.id) is None
        assert session.get(Gateway, data.gateway_id) is None

    def test_a_machine_is_registered_once(self, session: Session, site: Site) -> None:
        data = _laser(site)
        registry.register_machine(session, None, data, NOW)
        with pytest.raises(Conflict) as caught:
            registry.attach_machine(session, data, NOW)
        assert caught.value.detail == f"the machine '{data.id}' is already registered"
        assert len(session.exec(select(Machine).where(Machine.id == data.id)).all()) == 1

    def test_only_a_machine_resource_takes_a_gateway(self, session: Session, site: Site) -> None:
        room = make_resource(session, site, name="Phòng họp 1", kind=ResourceKind.room)
        data = MachineCreate(id=room.id, site_id=site.id, name="x", gateway_id=unique("gw"))
        with pytest.raises(InvalidRequest) as caught:
            registry.attach_machine(session, data, NOW)
        assert caught.value.detail == "Phòng họp 1 is a room, not a machine"
        assert session.get(Machine, room.id) is None
        assert session.get(Gateway, data.gateway_id) is None


class TestLiveStatus:
    def test_published_only_when_something_shown_changes(
        self, session: Session, site: Site, link: RecordingLink
    ) -> None:
        laser = make_machine(session, site, name="Laser 1")
        machine = online(session, laser.id, link)
        assert [(s.machine, s.state, s.online, s.name) for s in link.statuses] == [
            (laser.id, MachineState.free, True, "Laser 1")
        ]
        rev = machine.rev
        assert registry.refresh_state(session, link, machine, NOW) is False
        assert (len(link.statuses), machine.rev) == (1, rev)

    def test_an_unknown_machine_is_not_found(self, session: Session) -> None:
        with pytest.raises(NotFound) as caught:
            registry.get_machine_or_raise(session, "no-such-machine")
        assert caught.value.detail == "there is no machine 'no-such-machine'"
