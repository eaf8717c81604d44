"""The demo center: a provincial innovation and startup center with a FabLab, and a partner lab."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from booking.catalogue import repository as catalogue_repo
from booking.catalogue import service as catalogue
from booking.members import service as members
from booking.members.actors import SYSTEM
from booking.models import Plan, QuotaGroup, QuotaPeriod, QuotaRule, ResourceKind, Role, Training
from booking.schemas import (
    MemberCreate,
    ResourceCreate,
    SiteCreate,
)
from booking.security import hash_password
from devices.maintenance import service as maintenance
from devices.registry import service as registry
from devices.schemas import MachineCreate, MaintenancePlanCreate
from web import demo_events

DEMO_PASSWORD = "fablab-demo-2027"  # noqa: S105 - printed at start for the demo accounts
WEEKDAYS_LONG = [["07:30", "21:00"]]

CENTER = SiteCreate(
    id="biic",
    name="Trung tâm Hỗ trợ Khởi nghiệp và Đổi mới sáng tạo",
    name_en="Innovation and Startup Center",
    timezone="Asia/Ho_Chi_Minh",
    holiday_country="VN",
    opening_hours={
        "mon": WEEKDAYS_LONG,
        "tue": WEEKDAYS_LONG,
        "wed": WEEKDAYS_LONG,
        "thu": WEEKDAYS_LONG,
        "fri": WEEKDAYS_LONG,
        "sat": [["08:00", "17:00"]],
    },
    address="Đường Lê Lợi, Thành phố Thủ Dầu Một",
)
PARTNER = SiteCreate(
    id="uni-mech",
    name="Phòng thí nghiệm Cơ khí — Trường Đại học Kỹ thuật",
    name_en="University Mechanical Engineering Lab",
    timezone="Asia/Ho_Chi_Minh",
    holiday_country="VN",
    opening_hours={
        day: [["08:00", "11:30"], ["13:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
    },
    address="Khu Đại học, Phường Hòa Phú",
)


def _trainings() -> list[Training]:
    return [
        Training(
            id="laser-safety", name="An toàn máy cắt laser", name_en="Laser cutter safety", valid_days=365
        ),
        Training(id="cnc-basics", name="Vận hành máy CNC cơ bản", name_en="CNC basics", valid_days=365),
    ]


def _room(id: str, name: str, name_en: str, capacity: int, **rules: object) -> ResourceCreate:
    data: dict[str, object] = {
        "id": id,
        "site_id": "biic",
        "kind": ResourceKind.room,
        "name": name,
        "name_en": name_en,
        "capacity": capacity,
        "slot_minutes": 30,
        "min_minutes": 30,
        "max_minutes": 240,
        "buffer_minutes": 15,
        "quota_group": "meeting-rooms",
    }
    data.update(rules)
    return ResourceCreate.model_validate(data)


RESOURCES = [
    _room(
        "coworking",
        "Không gian làm việc chung",
        "Co-working space",
        40,
        kind=ResourceKind.desk_pool,
        slot_minutes=60,
        min_minutes=60,
        max_minutes=14 * 60,
        buffer_minutes=0,
        quota_group="coworking",
        description="40 chỗ ngồi, wifi, ổ cắm điện / 40 desks, wifi, power",
    ),
    _room("meeting-1", "Phòng họp 1", "Meeting room 1", 12),
    _room("meeting-2", "Phòng họp 2", "Meeting room 2", 8),
    _room("group-1", "Phòng làm việc nhóm 1", "Group room 1", 6),
    _room("group-2", "Phòng làm việc nhóm 2", "Group room 2", 6),
    _room(
        "online-room",
        "Phòng họp trực tuyến",
        "Online-meeting room",
        4,
        kind=ResourceKind.online_room,
        buffer_minutes=0,
        description="Camera, micro hội nghị, màn hình 65 inch / Conference camera and 65-inch screen",
    ),
    _room(
        "stem-lab",
        "Phòng STEM/STEAM",
        "STEM/STEAM classroom",
        30,
        kind=ResourceKind.stem_space,
        requires_approval=True,
        max_minutes=480,
        quota_group="classrooms",
        lead_minutes=24 * 60,
    ),
    _room(
        "training-room",
        "Phòng đào tạo",
        "Training room",
        40,
        kind=ResourceKind.training_room,
        requires_approval=True,
        max_minutes=480,
        quota_group="classrooms",
        lead_minutes=24 * 60,
    ),
    _room(
        "laser-1",
        "Máy cắt laser CO2 1 (60 W)",
        "Laser cutter 1 (CO2, 60 W)",
        1,
        kind=ResourceKind.machine,
        training_id="laser-safety",
        quota_group="laser",
        max_minutes=180,
        buffer_minutes=10,
    ),
    _room(
        "laser-2",
        "Máy cắt laser CO2 2 (100 W)",
        "Laser cutter 2 (CO2, 100 W)",
        1,
        kind=ResourceKind.machine,
        training_id="laser-safety",
        quota_group="laser",
        max_minutes=180,
        buffer_minutes=10,
    ),
    _room(
        "printer-1",
        "Máy in 3D 1 (Prusa MK4)",
        "3D printer 1 (Prusa MK4)",
        1,
        kind=ResourceKind.machine,
        quota_group="3d-print",
        max_minutes=720,
        buffer_minutes=0,
    ),
    _room(
        "printer-2",
        "Máy in 3D 2 (Prusa MK4)",
        "3D printer 2 (Prusa MK4)",
        1,
        kind=ResourceKind.machine,
        quota_group="3d-print",
        max_minutes=720,
        buffer_minutes=0,
    ),
    _room(
        "printer-3",
        "Máy in 3D 3 (Bambu X1)",
        "3D printer 3 (Bambu X1)",
        1,
        kind=ResourceKind.machine,
        quota_group="3d-print",
        max_minutes=720,
        buffer_minutes=0,
    ),
    _room(
        "cnc-1",
        "Máy phay CNC",
        "CNC router",
        1,
        kind=ResourceKind.machine,
        training_id="cnc-basics",
        quota_group="cnc",
        max_minutes=240,
        buffer_minutes=15,
    ),
    _room(
        "electronics-1",
        "Bàn điện tử 1",
        "Electronics bench 1",
        1,
        kind=ResourceKind.machine,
        quota_group="electronics",
        max_minutes=480,
        buffer_minutes=0,
    ),
    _room(
        "electronics-2",
        "Bàn điện tử 2",
        "Electronics bench 2",
        1,
        kind=ResourceKind.machine,
        quota_group="electronics",
        max_minutes=480,
        buffer_minutes=0,
    ),
    _room(
        "uni-lathe",
        "Máy tiện CNC",
        "CNC lathe",
        1,
        site_id="uni-mech",
        kind=ResourceKind.machine,
        training_id="cnc-basics",
        quota_group="cnc",
        slot_minutes=60,
        min_minutes=60,
        max_minutes=180,
        buffer_minutes=0,
        requires_approval=True,
    ),
    _room("uni-meeting", "Phòng seminar", "Seminar room", 20, site_id="uni-mech", buffer_minutes=0),
]


def _quota_groups() -> list[QuotaGroup]:
    """The demo's quota groups, named in both languages as an admin would."""
    return [
        QuotaGroup(id=group_id, name=name, name_en=name_en)
        for group_id, name, name_en in (
            ("coworking", "chỗ làm việc chung", "co-working desks"),
            ("meeting-rooms", "phòng họp", "meeting rooms"),
            ("electronics", "bàn điện tử", "electronics benches"),
            ("laser", "máy cắt laser", "laser cutters"),
            ("3d-print", "in 3D", "3D printing"),
            ("cnc", "máy CNC", "CNC machines"),
            ("classrooms", "phòng học", "classrooms"),
        )
    ]


def _plans() -> list[tuple[Plan, list[QuotaRule]]]:
    # Fresh ORM objects on every call: an instance belongs to one session.
    return [
        (
            Plan(id="basic", name="Cơ bản", name_en="Basic", monthly_price_vnd=0),
            [
                QuotaRule(plan_id="basic", quota_group="coworking", period=QuotaPeriod.week, max_hours=20),
                QuotaRule(plan_id="basic", quota_group="meeting-rooms", period=QuotaPeriod.week, max_hours=2),
                QuotaRule(plan_id="basic", quota_group="electronics", period=QuotaPeriod.week, max_hours=4),
            ],
        ),
        (
            Plan(id="maker", name="Maker", name_en="Maker", monthly_price_vnd=500_000),
            [
                QuotaRule(plan_id="maker", quota_group="coworking", period=QuotaPeriod.week, max_hours=40),
                QuotaRule(plan_id="maker", quota_group="meeting-rooms", period=QuotaPeriod.week, max_hours=4),
                QuotaRule(
                    plan_id="maker",
                    quota_group="laser",
                    period=QuotaPeriod.week,
                    max_hours=4,
                    max_future_bookings=3,
                    max_runtime_hours=3,
                ),
                QuotaRule(plan_id="maker", quota_group="laser", period=QuotaPeriod.day, max_hours=2),
                QuotaRule(
                    plan_id="maker",
                    quota_group="3d-print",
                    period=QuotaPeriod.week,
                    max_hours=24,
                    max_runtime_hours=20,
                ),
                QuotaRule(plan_id="maker", quota_group="cnc", period=QuotaPeriod.week, max_hours=4),
                QuotaRule(plan_id="maker", quota_group="electronics", period=QuotaPeriod.week, max_hours=10),
            ],
        ),
        (
            Plan(id="startup", name="Đội khởi nghiệp", name_en="Startup team", monthly_price_vnd=2_000_000),
            [
                QuotaRule(
                    plan_id="startup", quota_group="coworking", period=QuotaPeriod.month, max_hours=800
                ),
                QuotaRule(
                    plan_id="startup", quota_group="meeting-rooms", period=QuotaPeriod.week, max_hours=10
                ),
                QuotaRule(
                    plan_id="startup", quota_group="classrooms", period=QuotaPeriod.month, max_bookings=2
                ),
                QuotaRule(
                    plan_id="startup",
                    quota_group="laser",
                    period=QuotaPeriod.week,
                    max_hours=6,
                    max_runtime_hours=5,
                ),
                QuotaRule(plan_id="startup", quota_group="3d-print", period=QuotaPeriod.week, max_hours=40),
                QuotaRule(plan_id="startup", quota_group="cnc", period=QuotaPeriod.week, max_hours=6),
                QuotaRule(
                    plan_id="startup", quota_group="electronics", period=QuotaPeriod.week, max_hours=20
                ),
            ],
        ),
    ]


@dataclass(frozen=True, slots=True)
class DemoAccount:
    email: str
    name: str
    role: Role
    plan: str | None
    sites: tuple[str, ...] = ()
    trainings: tuple[str, ...] = ()
    card: str | None = None
    language: str = "vi"


ACCOUNTS = [
    DemoAccount("admin@fablab.local", "Quản trị viên", Role.admin, None, language="en"),
    DemoAccount(
        "manager@fablab.local",
        "Trần Thị Mai (quản lý FabLab)",
        Role.manager,
        "startup",
        ("biic",),
        ("laser-safety", "cnc-basics"),
        "04A1B2C3",
    ),
    DemoAccount(
        "lab@fablab.local", "Phạm Văn Hùng (quản lý phòng thí nghiệm)", Role.manager, None, ("uni-mech",)
    ),
    DemoAccount(
        "lan@fablab.local", "Nguyễn Thị Lan", Role.member, "maker", (), ("laser-safety",), "04D4E5F6"
    ),
    DemoAccount("minh@fablab.local", "Lê Quang Minh", Role.member, "basic", (), (), "04112233"),
    DemoAccount(
        "team@fablab.local",
        "Công ty khởi nghiệp GreenTech",
        Role.member,
        "startup",
        (),
        ("laser-safety", "cnc-basics"),
        "04445566",
        "en",
    ),
    DemoAccount("kiosk@fablab.local", "Kiosk sảnh chính", Role.kiosk, None, ("biic",)),
]


# The demo FabLab's machines and the gateways that speak for them: (machine, adapter, kind).
DEMO_GATEWAYS: dict[tuple[str, str], list[tuple[str, str, str]]] = {
    ("biic", "gw-fablab-1"): [
        ("laser-1", "tasmota", "laser"),
        ("laser-2", "tasmota", "laser"),
        ("cnc-1", "shelly", "cnc"),
        ("printer-1", "octoprint", "printer"),
        ("printer-2", "octoprint", "printer"),
        ("printer-3", "octoprint", "printer"),
    ],
    ("uni-mech", "gw-uni-mech-1"): [("uni-lathe", "shelly", "cnc")],
}
DEMO_PLANS: list[tuple[str, MaintenancePlanCreate]] = [
    (
        "laser-1",
        MaintenancePlanCreate(name="Lau thấu kính và gương / Clean lens and mirrors", every_runtime_h=40),
    ),
    ("laser-1", MaintenancePlanCreate(name="Kiểm tra ống CO2 / Check the CO2 tube", every_days=90)),
    (
        "laser-2",
        MaintenancePlanCreate(name="Lau thấu kính và gương / Clean lens and mirrors", every_runtime_h=40),
    ),
    ("cnc-1", MaintenancePlanCreate(name="Tra dầu ray trượt / Lubricate the rails", every_runtime_h=20)),
    ("printer-1", MaintenancePlanCreate(name="Kiểm tra đầu phun / Nozzle check", every_jobs=50)),
    ("printer-2", MaintenancePlanCreate(name="Kiểm tra đầu phun / Nozzle check", every_jobs=50)),
    ("printer-3", MaintenancePlanCreate(name="Kiểm tra đầu phun / Nozzle check", every_jobs=50)),
]


def seed_demo(session: Session, now: datetime) -> bool:
    """Load the demo center; False (and nothing written) if it is already there."""
    if catalogue_repo.get_site(session, CENTER.id) is not None:
        return False
    for site in (CENTER, PARTNER):
        catalogue.create_site(session, SYSTEM, site)
    session.add_all(_trainings())
    session.flush()
    for resource in RESOURCES:
        catalogue.create_resource(session, SYSTEM, resource)
    session.add_all(_quota_groups())
    for plan, quota_rules in _plans():
        session.add(plan)
        session.flush()
        session.add_all(quota_rules)
    session.flush()
    shared_hash = hash_password(DEMO_PASSWORD)
    for account in ACCOUNTS:
        member = members.create_member(
            session,
            SYSTEM,
            MemberCreate(
                email=account.email,
                name=account.name,
                password=DEMO_PASSWORD,
                role=account.role,
                plan_id=account.plan,
                card_uid=account.card,
                language=account.language,
                sites=list(account.sites),
            ),
            now,
            password_hash=shared_hash,
        )
        for training in account.trainings:
            members.grant_training(session, SYSTEM, member.id, training, now)
    for (site_id, gateway), machines in DEMO_GATEWAYS.items():
        for machine, adapter, _kind in machines:
            registry.attach_machine(
                session,
                MachineCreate(
                    id=machine,
                    site_id=site_id,
                    name=machine,
                    gateway_id=gateway,
                    adapter=adapter,
                    busy_on_w=60,
                    busy_off_w=25,
                ),
                now,
            )
    for machine, every in DEMO_PLANS:
        maintenance.add_plan(session, None, machine, every, now)
    session.flush()
    demo_events.seed_events(session, now)
    return True
