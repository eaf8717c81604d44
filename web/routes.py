"""Routers joined to the app as its own routes.

FastAPI (0.16x) keeps each included router as a branch that every request walks, recomputing the
routers' versions and swapping context keys at each route it tries: with this center's two hundred
routes, finding one cost more than half a millisecond of CPU, more than a whole booking's checks.
Our routers carry nothing but their routes (no dependencies, no extra prefix at inclusion), so
their routes are added to the app directly, in the same order; and requests are sent straight to
the routes whose fixed start fits their path (web.routes.RouteIndex).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, request_response
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send


def include(app: FastAPI, router: APIRouter) -> None:
    """Add the router's routes to the app itself, as `app.include_router(router)` would route them."""
    if router.dependencies or router.callbacks or router.on_startup or router.on_shutdown:
        raise ValueError("a router with its own dependencies, callbacks or events must be included")
    for route in router.routes:
        if isinstance(route, APIRoute):
            # This app's dependency overrides (tests, embedding) apply to the route as to the app's own
            # routes. A router's routes are shared by every app made from it, and a route's handler
            # keeps the provider it was built with: each app gets its own copy, its handler built again.
            route = copy.copy(route)
            route.dependency_overrides_provider = app
            handler = route.get_route_handler()
            quick: LeanHandler | None = getattr(route.endpoint, "lean", None)
            route.app = request_response(handler if quick is None else _lean_first(quick, handler))
        app.router.routes.append(route)


# A lean handler answers a route's common call itself, or declines (None) and the route's full
# handler answers instead.
LeanHandler = Callable[[Request], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def lean(handler: LeanHandler) -> Callable[[Endpoint], Endpoint]:
    """Mark a route's endpoint with a lean handler, tried first by every app the route is included in.

    For the hottest call only (a booking): FastAPI resolves each dependency and checks each parameter
    anew at every call. The lean handler must decline anything it would not answer exactly as the full
    route does (a refusal, a body that does not validate, a member not in the actor cache): the
    full route's words stay the only ones. It runs inside the route (its exception handlers, metrics
    and middlewares are the same); the OpenAPI schema comes from the endpoint as always.
    """

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.lean = handler  # type: ignore[attr-defined]
        return endpoint

    return mark


def _lean_first(
    quick: LeanHandler, full: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        response = await quick(request)
        return await full(request) if response is None else response

    return handler


class _Node:
    __slots__ = ("children", "routes")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.routes: list[tuple[int, BaseRoute]] = []


class RouteIndex:
    """The app's routes by the fixed segments their paths begin with.

    A request is tried, in the app's order, only against the routes whose fixed segments its path
    begins with: the same route wins as in a scan of all of them, since no other route's pattern can
    match the path. Whatever none of them takes (a missing or extra trailing slash, a path no route
    knows) goes to the router's own scan, which redirects or answers 404 as before.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self._built_for: tuple[int, int] | None = None
        self._root = _Node()

    def _build(self) -> None:
        root = _Node()
        for order, route in enumerate(self.router.routes):
            node = root
            for segment in _fixed_segments(route):
                node = node.children.setdefault(segment, _Node())
            node.routes.append((order, route))
        self._root = root
        self._built_for = _state(self.router)

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes that may match `path`, in the app's order."""
        if self._built_for != _state(self.router):  # routes added since: index them too
            self._build()
        node = self._root
        found = list(node.routes)
        for segment in path[1:].split("/"):
            child = node.children.get(segment)
            if child is None:
                break
            node = child
            found += node.routes
        found.sort(key=_order)
        return [route for _, route in found]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.router.app(scope, receive, send)
            return
        scope.setdefault("router", self.router)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:  # the path is known, the method is not: the route answers 405
            route, child_scope = partial
            scope.update(child_scope)
            await route.handle(scope, receive, send)
            return
        await self.router.app(scope, receive, send)


def _order(entry: tuple[int, BaseRoute]) -> int:
    return entry[0]


def _state(router: Router) -> tuple[int, int]:
    routes = router.routes
    return len(routes), id(routes[-1]) if routes else 0


def _fixed_segments(route: BaseRoute) -> list[str]:
    """The whole segments a route's path begins with before any parameter; none for a route without
    a path (a host), which is then tried for every request."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return []
    fixed = path.partition("{")[0]
    segments = fixed[1:].split("/")
    if "{" in path:
        segments = segments[:-1]  # the last one is cut by the parameter (or empty after a slash)
    return segments


def index_routes(app: FastAPI) -> None:
    """Send the app's requests through a RouteIndex, once every route is added or as they come."""
    app.router.middleware_stack = RouteIndex(app.router)
