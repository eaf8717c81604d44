"""The route index: every request reaches the route a scan of all routes would pick, and what no
route takes is redirected or refused as before."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session
from starlette.routing import BaseRoute, Match

from booking.models import Member
from tests.factories import make_member
from web.app import create_app
from web.routes import RouteIndex

# A value for each kind of path parameter the app's routes use.
_SAMPLES = {"int": "7", "path": "a/b.css", "str": "x1", "float": "1.5", "uuid": "0" * 32}


def _sample_path(route: BaseRoute) -> str:
    path: str = getattr(route, "path")  # noqa: B009 - every indexed route here has one
    return re.sub(r"\{[^}:]+(?::([a-z]+))?\}", lambda m: _SAMPLES[m.group(1) or "str"], path) + (
        "/a.css" if type(route).__name__ == "Mount" else ""
    )


def _first_by_scan(routes: list[BaseRoute], scope: dict[str, object]) -> BaseRoute | None:
    for route in routes:
        if route.matches(scope)[0] == Match.FULL:
            return route
    return None


def _scope(method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


class TestTheIndex:
    def test_every_route_of_the_app_is_found_as_a_full_scan_finds_it(self, app: FastAPI) -> None:
        index = RouteIndex(app.router)
        routes = list(app.router.routes)
        checked = 0
        for route in routes:
            path = _sample_path(route)
            for method in sorted(getattr(route, "methods", None) or {"GET"}):
                scope = _scope(method, path)
                expected = _first_by_scan(routes, scope)
                assert expected is not None, (method, path)
                assert _first_by_scan(index.candidates(path), scope) is expected, (method, path)
                checked += 1
        assert checked > 150  # the whole app: API, pages, kiosk, admin, static files

    def test_a_path_with_a_parameter_in_its_first_segment_is_still_tried(self) -> None:
        app = FastAPI()

        @app.get("/{page}/about")
        def about(page: str) -> dict[str, str]:
            return {"page": page}

        @app.get("/api/v1/items/{item}")
        def item(item: str) -> dict[str, str]:
            return {"item": item}

        index = RouteIndex(app.router)
        assert [r.path for r in index.candidates("/api/about")] == ["/{page}/about"]  # type: ignore[attr-defined]
        assert [r.path for r in index.candidates("/api/v1/items/3")] == [  # type: ignore[attr-defined]
            "/{page}/about",
            "/api/v1/items/{item}",
        ]
        assert index.candidates("/elsewhere") == [app.router.routes[-2]]


class TestRequests:
    def test_routes_added_after_the_index_was_built_are_found(self, app: FastAPI, client: TestClient) -> None:
        assert client.get("/healthz").json() == {"status": "ok"}

        @app.get("/late-route")
        def late() -> dict[str, str]:
            return {"late": "yes"}

        assert client.get("/late-route").json() == {"late": "yes"}

    def test_a_wrong_method_is_405_and_an_unknown_path_404(self, client: TestClient) -> None:
        wrong = client.put("/api/v1/bookings")
        assert wrong.status_code == 405
        assert "POST" in wrong.headers["allow"]
        assert client.get("/api/v1/no-such-thing").status_code == 404

    def test_a_trailing_slash_is_redirected_as_before(self, client: TestClient) -> None:
        response = client.get("/healthz/", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"].endswith("/healthz")

    def test_the_route_template_labels_the_metrics(self, app: FastAPI) -> None:
        with TestClient(app, client=("127.0.0.1", 50000)) as local:
            local.get("/api/v1/resources/no-such-resource")
            metrics = local.get("/metrics").text
        assert 'route="/api/v1/resources/{resource_id}"' in metrics


class TestOverrides:
    def test_an_app_made_later_leaves_this_apps_overrides_in_place(
        self, app: FastAPI, client: TestClient, session: Session, auth: Callable[[Member], dict[str, str]]
    ) -> None:
        # The member lives only on the test's connection, which the fixture's override hands to
        # the app: without the override, the request would not find them.
        member = make_member(session)
        other = create_app(app.state.settings, engine=app.state.engine)
        assert other.router.routes[0] is not app.router.routes[0]
        response = client.get("/api/v1/me", headers=auth(member))
        assert response.status_code == 200, response.text
        assert response.json()["id"] == member.id
