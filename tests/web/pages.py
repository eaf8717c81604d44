"""Helpers for the page tests: a signed-in browser session, the CSRF token, a small center."""

from __future__ import annotations

import json
import re
from base64 import b64encode
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner
from sqlmodel import Session

from booking.models import Member, Plan, QuotaPeriod, Resource, ResourceKind, Role, Site, Training
from tests.factories import grant, make_member, make_plan, make_resource, make_site, make_training, quota

HTML = {"Accept": "text/html"}
HTMX = {"Accept": "text/html", "HX-Request": "true"}
CSRF = "test-csrf-token-0123456789abcdefghijklmnop"


def sign_in(client: TestClient, app: FastAPI, member: Member, *, language: str | None = None) -> str:
    """Give the client the session cookie a sign-in would set; returns the session's CSRF token."""
    data: dict[str, object] = {"member": member.id, "v": member.token_version, "csrf": CSRF}
    if language:
        data["lang"] = language
    signer = TimestampSigner(str(app.state.settings.secret_key))
    cookie = signer.sign(b64encode(json.dumps(data).encode())).decode()
    # The server may have set a session cookie of its own (flashes); one session per browser.
    client.cookies.clear()
    client.cookies.set("fablab_session", cookie)
    return CSRF


def csrf_of(html: str) -> str:
    """The CSRF token a page put in its forms."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def form(**fields: object) -> dict[str, object]:
    """Form fields with the session's CSRF token (a `csrf_token` field given overrides it)."""
    return {"csrf_token": CSRF, **fields}


@dataclass
class Center:
    """A small center: two sites, rooms, a laser, a plan, and one account per role."""

    site: Site
    other_site: Site
    room: Resource
    big_room: Resource
    desks: Resource
    laser: Resource
    training: Training
    plan: Plan
    member: Member
    other_member: Member
    manager: Member
    other_manager: Member
    admin: Member
    kiosk: Member
    other_kiosk: Member


def make_center(session: Session) -> Center:
    """Everything the page tests need, in the test's transaction."""
    hours = {d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    site = make_site(session, opening_hours=hours, name="Trung tâm")
    other_site = make_site(session, opening_hours=hours, name="Phòng lab đối tác")
    training = make_training(session)
    room = make_resource(
        session, site, name="Phòng họp 1", kind=ResourceKind.room, capacity=6, quota_group="meeting-rooms"
    )
    big_room = make_resource(
        session, site, name="Hội trường", kind=ResourceKind.training_room, capacity=40, quota_group=None
    )
    desks = make_resource(
        session,
        site,
        name="Bàn làm việc chung",
        kind=ResourceKind.desk_pool,
        capacity=10,
        slot_minutes=60,
        min_minutes=60,
        quota_group=None,
    )
    laser = make_resource(session, site, name="Laser 1", training=training, quota_group="laser")
    plan = make_plan(
        session,
        quota("meeting-rooms", QuotaPeriod.week, max_hours=4),
        quota("laser", QuotaPeriod.week, max_hours=3, max_runtime_hours=2),
    )
    member = make_member(session, plan=plan, name="Nguyễn Thị Lan", card_uid="04A1B2C3")
    grant(session, member, training)
    return Center(
        site=site,
        other_site=other_site,
        room=room,
        big_room=big_room,
        desks=desks,
        laser=laser,
        training=training,
        plan=plan,
        member=member,
        other_member=make_member(session, plan=plan, name="Lê Quang Minh", card_uid="04112233"),
        manager=make_member(session, role=Role.manager, name="Trần Thị Mai", manages=(site,)),
        other_manager=make_member(session, role=Role.manager, name="Phạm Văn Hùng", manages=(other_site,)),
        admin=make_member(session, role=Role.admin, name="Quản trị viên"),
        kiosk=make_member(session, role=Role.kiosk, name="Kiosk sảnh", kiosk_site=site),
        other_kiosk=make_member(session, role=Role.kiosk, name="Kiosk đối tác", kiosk_site=other_site),
    )
