"""Every page of the demo center, read in Vietnamese by each kind of person (SQLite and PostgreSQL):
no English sentence of the catalogue (a page's words or a domain message left untranslated), no ISO
timestamp and no raw record id in the text a person reads."""

from __future__ import annotations

import html
import re
from functools import cache

import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from booking.bookings import service as bookings
from booking.members.service import load_actor
from booking.models import Member
from booking.schemas import BookingCreate
from tests.conftest import NOW
from tests.factories import at
from tests.web.pages import HTML, sign_in
from web.demo import seed_demo
from web.i18n import TRANSLATIONS_DIR

PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]")
ISO_INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
ULID = re.compile(r"\b[0-9a-hjkmnp-tv-z]{26}\b")


@cache
def english_fragments() -> tuple[str, ...]:
    """Runs of English words from the catalogue's messages (between their placeholders) long enough
    that finding one on a Vietnamese page means a sentence went untranslated."""
    with (TRANSLATIONS_DIR / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalogue = read_po(po, locale="vi")
    translated = " ".join(
        " ".join(m.string) if isinstance(m.string, tuple | list) else str(m.string) for m in catalogue if m.id
    )
    fragments = set()
    for entry in catalogue:
        ids = entry.id if isinstance(entry.id, tuple | list) else (entry.id,)
        for msgid in ids:
            for part in PLACEHOLDER.split(str(msgid)):
                part = part.strip(" .,;:()'\"")
                if len(part.split()) >= 3 and len(part) >= 15 and part not in translated:
                    fragments.add(part)
    return tuple(sorted(fragments))


def visible_text(page: str) -> str:
    """What a person reads: the text between the tags, scripts and styles left out."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", " ", page)
    return " ".join(html.unescape(page).split())


def problems_of(text: str) -> list[str]:
    found = [f"English: {fragment!r}" for fragment in english_fragments() if fragment in text]
    found += [f"ISO time: {m.group(0)!r}" for m in ISO_INSTANT.finditer(text)]
    found += [f"raw id: {m.group(0)!r}" for m in ULID.finditer(text)]
    return found


TOURS = {
    "lan@fablab.local": (
        "/",
        "/?site=biic&kind=machine",
        "/resources/laser-2",
        "/resources/laser-2?day=2027-03-02&view=day",
        "/resources/coworking",
        "/resources/meeting-1?view=day&day=2027-03-02",
        "/search?people=6&day=2027-03-02&start=14:00&end=16:00",
        "/bookings",
        "/me",
        "/me/problems",
        "/notifications",
        "/events",
    ),
    "manager@fablab.local": (
        "/manage",
        "/manage/approvals",
        "/manage/bookings?day=2027-03-02",
        "/manage/trainings",
        "/manage/reports?month=2027-03",
        "/manage/machines",
        "/manage/alerts?show=all",
        "/manage/maintenance",
        "/manage/machines/laser-1?days=30",
        "/manage/events",
        "/manage/activity",
    ),
    "kiosk@fablab.local": ("/kiosk/biic",),
    "admin@fablab.local": (
        "/admin",
        "/admin/sites",
        "/admin/sites/biic",
        "/admin/resources",
        "/admin/resources/laser-1",
        "/admin/plans",
        "/admin/members",
        "/admin/webhooks",
    ),
}


@pytest.fixture
def demo(session: Session) -> Session:
    assert seed_demo(session, NOW)
    return session


@pytest.mark.parametrize("who", sorted(TOURS))
def test_pages_read_in_vietnamese(who: str, client: TestClient, app: FastAPI, demo: Session) -> None:
    member = demo.exec(select(Member).where(Member.email == who)).one()
    # The demo's admin reads English: here everyone reads Vietnamese.
    member.language = "vi"
    demo.add(member)
    demo.flush()
    sign_in(client, app, member, language="vi")
    pages = list(TOURS[who])
    if who == "lan@fablab.local":
        ask = BookingCreate(resource_id="laser-2", start=at("2027-03-02 10:00"), end=at("2027-03-02 11:00"))
        booking = bookings.book(demo, load_actor(demo, member), ask, NOW)
        pages += [f"/bookings/{booking.id}", f"/bookings/{booking.id}/change"]
    found = {}
    for path in pages:
        response = client.get(path, headers=HTML)
        assert response.status_code == 200, (path, response.status_code)
        problems = problems_of(visible_text(response.text))
        if problems:
            found[path] = problems
    assert found == {}


def test_the_scan_finds_what_it_looks_for() -> None:
    # A check that cannot fail is no check: an English sentence of the catalogue, an ISO instant and a
    # record id are each found.
    assert english_fragments()
    sample = english_fragments()[0]
    assert problems_of(f"Xin chào {sample} 2027-03-01T09:00 01hx5m3q9k2v7c8d4e6f0g1h2j") == [
        f"English: {sample!r}",
        "ISO time: '2027-03-01T09:00'",
        "raw id: '01hx5m3q9k2v7c8d4e6f0g1h2j'",
    ]


def test_the_same_page_in_english_is_caught(client: TestClient, app: FastAPI, demo: Session) -> None:
    # The scan reads real pages: the account page in English is full of the catalogue's sentences.
    member = demo.exec(select(Member).where(Member.email == "lan@fablab.local")).one()
    sign_in(client, app, member, language="en")
    member.language = "en"
    demo.add(member)
    demo.flush()
    response = client.get("/me", headers=HTML)
    assert response.status_code == 200
    assert any(p.startswith("English: ") for p in problems_of(visible_text(response.text)))


def test_plans_and_quota_groups_are_named_not_given_by_id(
    client: TestClient, app: FastAPI, demo: Session
) -> None:
    admin = demo.exec(select(Member).where(Member.email == "admin@fablab.local")).one()
    admin.language = "vi"
    demo.add(admin)
    demo.flush()
    sign_in(client, app, admin, language="vi")
    members = visible_text(client.get("/admin/members", headers=HTML).text)
    for plan_id in ("basic", "startup"):
        assert not re.search(rf"(?<![\w@.-]){plan_id}(?![\w.-])", members), plan_id
    assert "Lê Quang Minh minh@fablab.local thành viên Cơ bản" in members
    plans = visible_text(client.get("/admin/plans", headers=HTML).text)
    assert "in 3D 3d-print" in plans
    resources = visible_text(client.get("/admin/resources", headers=HTML).text)
    assert " biic " not in resources
    assert "Trung tâm Hỗ trợ Khởi nghiệp và Đổi mới sáng tạo Máy" in resources


def test_an_admin_names_a_quota_group_and_members_read_it(
    client: TestClient, app: FastAPI, demo: Session
) -> None:
    from tests.web.pages import form

    admin = demo.exec(select(Member).where(Member.email == "admin@fablab.local")).one()
    sign_in(client, app, admin, language="vi")
    page = client.get("/admin/plans", headers=HTML).text
    assert 'id="g-laser-name"' in page
    named = client.post(
        "/admin/quota-groups",
        data=form(id="laser", name="Máy laser (cắt và khắc)", name_en="Laser cutting and engraving"),
        headers=HTML,
        follow_redirects=False,
    )
    assert named.status_code == 303
    lan = demo.exec(select(Member).where(Member.email == "lan@fablab.local")).one()
    sign_in(client, app, lan, language="vi")
    assert "Máy laser (cắt và khắc)" in visible_text(client.get("/me", headers=HTML).text)
    lan.language = "en"
    demo.add(lan)
    demo.flush()
    sign_in(client, app, lan, language="en")
    assert "Laser cutting and engraving" in visible_text(client.get("/me", headers=HTML).text)
