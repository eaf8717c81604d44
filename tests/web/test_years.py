"""Year 9999 and year 1 on pages, forms and the API: a 4xx with a sentence, never a 500 or a hang.

Found by an outside test: each URL below answered 500 (a date past the last one Python has, or a
walk to year 9999) before days were bounded to the years FabLab Hub works with.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from booking.models import Booking, Member, Series, WaitlistEntry
from tests.web.pages import HTML, HTMX, Center, form, make_center, sign_in

OUTSIDE = "nằm ngoài khoảng năm FabLab Hub làm việc (2000–2199)"


@pytest.fixture
def center(session: Session) -> Center:
    return make_center(session)


def _count(session: Session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        int(session.exec(select(func.count()).select_from(table)).one())
        for table in (Booking, Series, WaitlistEntry)
    )


MEMBER_PAGES: dict[str, Callable[[TestClient, Center], object]] = {
    "search 9999": lambda c, k: c.get("/search?day=9999-12-31&start=10:00&end=11:00", headers=HTML),
    "grid year 1": lambda c, k: c.get(f"/resources/{k.room.id}?day=0001-01-01", headers=HTML),
    "slot 9999": lambda c, k: c.get(
        f"/resources/{k.room.id}/slot?start=9999-12-31T23:00:00-12:00", headers=HTMX
    ),
    "booking form 9999": lambda c, k: c.post(
        "/bookings",
        data=form(resource_id=k.room.id, day="9999-12-31", start="10:00", minutes=60),
        headers=HTMX,
    ),
    "waitlist 9999": lambda c, k: c.post(
        "/waitlist",
        data=form(resource_id=k.room.id, start="9999-12-31T10:00:00+07:00", end="9999-12-31T11:00:00+07:00"),
        headers=HTMX,
    ),
}
MANAGER_PAGES: dict[str, Callable[[TestClient, Center], object]] = {
    "manager's bookings 9999": lambda c, k: c.get(
        f"/manage/bookings?day=9999-12-31&site={k.site.id}", headers=HTML
    ),
    "report CSV 9999": lambda c, k: c.get(
        f"/manage/reports.csv?month=9999-12&site={k.site.id}", headers=HTML
    ),
}


@pytest.mark.parametrize("name", sorted(MEMBER_PAGES))
def test_a_member_page_refuses_a_year_out_of_range(
    name: str, client: TestClient, app: FastAPI, session: Session, center: Center
) -> None:
    _refused(MEMBER_PAGES[name], center.member, client, app, session, center)


@pytest.mark.parametrize("name", sorted(MANAGER_PAGES))
def test_a_manager_page_refuses_a_year_out_of_range(
    name: str, client: TestClient, app: FastAPI, session: Session, center: Center
) -> None:
    _refused(MANAGER_PAGES[name], center.manager, client, app, session, center)


def _refused(
    call: Callable[[TestClient, Center], object],
    who: Member,
    client: TestClient,
    app: FastAPI,
    session: Session,
    center: Center,
) -> None:
    sign_in(client, app, who)
    before = _count(session)
    response = call(client, center)
    assert response.status_code in (400, 422), response.text[:300]  # type: ignore[attr-defined]
    assert "9999" in response.text or "Năm 1 " in response.text  # type: ignore[attr-defined]
    assert OUTSIDE in response.text  # type: ignore[attr-defined]
    assert _count(session) == before


def test_the_api_refuses_an_until_in_year_9999(
    client: TestClient, session: Session, center: Center, auth: Callable[[Member], dict[str, str]]
) -> None:
    body = {
        "resource_id": center.room.id,
        "start": "2027-03-02T10:00:00+07:00",
        "end": "2027-03-02T11:00:00+07:00",
        "rrule": "FREQ=WEEKLY;UNTIL=99991231T235959Z",
    }
    response = client.post("/api/v1/bookings", json=body, headers=auth(center.member))
    assert response.status_code == 422
    assert response.json()["detail"] == "9999 is outside the years FabLab Hub works with (2000–2199)"
    assert _count(session) == (0, 0, 0)
