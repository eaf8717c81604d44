"""A real uvicorn server on a free port, in a thread, for tests and benchmarks that speak HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from web.app import create_app
from web.settings import Settings

TEST_SECRET = "test-secret-key-of-enough-length-0123456789"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_processes(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc): a server's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@contextmanager
def running_server(app: FastAPI, *, port: int | None = None, http: Any = "auto") -> Iterator[str]:
    """Serve the app until the block ends (`http`: uvicorn's protocol class); yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http=http
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def app_settings(engine: Engine, **overrides: Any) -> Settings:
    """The settings of a test's app on `engine`: no scheduler, a fixed secret; `overrides` on top."""
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        database_url=engine.url.render_as_string(hide_password=False),
        scheduler_enabled=False,
        **overrides,
    )


@contextmanager
def served_address(engine: Engine, *, http: Any = "auto", **overrides: Any) -> Iterator[tuple[str, int]]:
    """A real server of a test app on `engine` (`app_settings` with `overrides`; `http`: uvicorn's
    protocol class), for tests that speak to it over raw sockets: yields its host and port."""
    with running_server(create_app(app_settings(engine, **overrides), engine=engine), http=http) as url:
        parts = urlsplit(url)
        yield parts.hostname or "127.0.0.1", parts.port or 0
