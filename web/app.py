"""The FastAPI application: `create_app(settings)` wires settings, database, routes and errors."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from starlette.middleware.sessions import SessionMiddleware

from booking.engine import service as engine_service
from booking.errors import NotPermitted
from web import errors, pages, routes
from web.api import auth, bookings, catalogue, me
from web.api import events as events_api
from web.api import machines as machines_api
from web.api import problems as problems_api
from web.api import reports as reports_api
from web.api import webhooks as webhooks_api
from web.csrf import CSRFMiddleware
from web.db import make_engine, read_only
from web.deps import ActorCache
from web.guard import BodyGuard
from web.metrics import CONTENT_TYPE_LATEST, MetricsMiddleware, metrics_allowed, render_metrics
from web.runtime import MachineRuntime
from web.settings import Settings
from web.tokens import AddressCodec, ResetCodec, TokenCodec
from web.writer import GroupWriter, PipelinedWriter

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The app for these settings; `engine` and `clock` may be given (tests, the demo)."""
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url, pool_size=settings.db_pool_size)
    machines = MachineRuntime(engine, settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        machines.start()
        try:
            yield
        finally:
            machines.stop()
            if owns_engine:  # an engine handed in belongs to whoever made it
                engine.dispose()

    app = FastAPI(
        title="FabLab Hub",
        version="0.1.0",
        description="Book the rooms, desks and machines of a maker center; watch the machines live.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.read_engine = read_only(engine)
    app.state.clock = clock
    app.state.tokens = TokenCodec(settings.secret_key, settings.token_max_age_s)
    app.state.reset_links = ResetCodec(settings.secret_key)
    app.state.signup_links = AddressCodec(settings.secret_key, "signup")
    app.state.address_links = AddressCodec(settings.secret_key, "change")
    app.state.actors = ActorCache()
    app.state.group_writer = (
        GroupWriter(engine)
        if engine.dialect.name == "sqlite"
        else PipelinedWriter(engine, engine_service.lock_claims)
    )
    app.state.machines = machines
    # Added before the session middleware, so it runs inside it and can read the session.
    app.add_middleware(CSRFMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="fablab_session",
        max_age=settings.token_max_age_s,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    # Bodies bounded in size and time before anything reads them (web/guard.py).
    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        upload_bytes=settings.max_upload_bytes,
        upload_paths=("/problems",),
        timeout_s=settings.body_timeout_s,
    )
    # Added last, so it is outermost: it times the whole request and sees the status finally sent.
    app.add_middleware(MetricsMiddleware)
    errors.install(app)
    for router in (
        auth.router,
        catalogue.router,
        bookings.router,
        events_api.router,
        me.router,
        machines_api.router,
        problems_api.router,
        reports_api.router,
        webhooks_api.router,
    ):
        routes.include(app, router)
    pages.install(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    def readyz(request: Request) -> Response:
        """Readiness: the database answers, and the broker is connected where one is configured."""
        body = {"status": "ok", "database": "ok", "broker": request.app.state.machines.broker_state()}
        try:
            with request.app.state.read_engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("not ready: database unreachable: %s", exc)
            body["database"] = "unreachable"
        if body["database"] != "ok" or body["broker"] == "disconnected":
            body["status"] = "unavailable"
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics of this process (and gauges read from the database): to this machine,
        or anywhere with `Authorization: Bearer <FABLAB_METRICS_TOKEN>`."""
        if not metrics_allowed(request, settings.metrics_token):
            raise NotPermitted(
                "the metrics are served to this machine only, or with the operator's metrics token"
            )
        return Response(
            render_metrics(app.state.read_engine, app.state.clock), media_type=CONTENT_TYPE_LATEST
        )

    routes.index_routes(app)
    return app
