"""The pages people use: member portal, manager pages, kiosk, admin; Jinja2 templates and htmx."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from web import routes
from web.assets import missing_assets
from web.pages import (
    activity,
    admin,
    admin_members,
    admin_webhooks,
    auth,
    changes,
    events,
    kiosk,
    machines,
    manage,
    manage_events,
    mine,
    portal,
    problems,
    search,
)
from web.pages.common import SignInRequired, is_htmx, sign_in_url

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI) -> None:
    """Mount the static files, the page routers, and the sign-in redirect."""
    missing = missing_assets()
    if missing:
        log.warning("front-end assets missing (%s): run `make assets`; pages work without htmx", missing)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        auth,
        portal,
        mine,
        search,
        changes,
        problems,
        events,
        kiosk,
        manage,
        manage_events,
        activity,
        machines,
        admin,
        admin_members,
        admin_webhooks,
    ):
        routes.include(app, module.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        target = sign_in_url(request)
        if is_htmx(request):
            # htmx follows HX-Redirect whatever the status; 401 tells any other client the truth.
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
