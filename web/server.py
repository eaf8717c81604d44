"""Running the center: `fablab serve` from settings, `fablab demo` on embedded defaults."""

from __future__ import annotations

import logging

import uvicorn

from web import demo as demo_data
from web.app import create_app, utc_now
from web.db import make_engine, session_scope
from web.migrate import current_revision, upgrade
from web.settings import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings, *, host: str, port: int, demo: bool, workers: int = 1) -> int:
    """Start the web server (and, in the demo, load the demo center first); returns the exit status."""
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    if demo:
        upgrade(engine)
        with session_scope(engine) as session:
            demo_data.seed_demo(session, utc_now())
    elif current_revision(engine) is None:
        raise SystemExit("fablab: the database is empty; run `fablab db upgrade` first")
    address = f"http://{host}:{port}"
    if demo:
        print(_demo_banner(address), flush=True)
    else:
        print(f"FabLab Hub at {address} (API docs at {address}/docs)", flush=True)
    log_level = settings.log_level.lower()
    if workers > 1:
        # Each worker builds its own app (and engine) from the same FABLAB_* environment.
        engine.dispose()
        uvicorn.run(
            "web.asgi:app_from_env",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level=log_level,
            access_log=False,
        )
        return 0
    app = create_app(settings, engine=engine)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    return 0


def _demo_banner(address: str) -> str:
    lines = [
        "",
        f"  FabLab Hub demo is running at {address}",
        f"  API documentation: {address}/docs",
        "",
        f"  Demo accounts (password: {demo_data.DEMO_PASSWORD})",
    ]
    for account in demo_data.ACCOUNTS:
        lines.append(f"    {account.email:<24} {account.role.value:<8} {account.name}")
    lines.append("")
    return "\n".join(lines)
