"""The real services the tests use, where they are, and what happens when one is missing.

On a laptop a test whose service cannot be reached is skipped, loudly (the preflight and pytest's
header say so, and `-ra` lists every skip). On CI `.ci/run` sets

    FABLAB_TEST_REQUIRE=postgres,mqtt,browser

and then a missing service is a failure, never a skip: a run that could not test PostgreSQL, the
broker or the browser must not come out green. Two things enforce it: `unavailable()`, which every
skip path for a service calls, and the report hook in tests/conftest.py (`require_services`), which
turns any other skip of a test that needs a required service into a failure as well, so a skip
added later without `unavailable()` cannot slip through either.

The addresses can be moved with environment variables (the defaults are the machine's services):
`FABLAB_TEST_PG_URL`, `FABLAB_TEST_MQTT_URL` (`mqtt://host:port`), `FABLAB_TEST_CHROMIUM`.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Literal, NoReturn
from urllib.parse import urlsplit

import pytest

Service = Literal["postgres", "mqtt", "browser"]
SERVICES: tuple[Service, ...] = ("postgres", "mqtt", "browser")
REQUIRE_VARIABLE = "FABLAB_TEST_REQUIRE"

PG_URL = os.environ.get("FABLAB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MQTT_URL = os.environ.get("FABLAB_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
CHROMIUM = Path(os.environ.get("FABLAB_TEST_CHROMIUM", "/usr/bin/chromium"))

# Words by which a skip reason names the service it lacked (for skips that do not say it otherwise).
SERVICE_WORDS: dict[Service, tuple[str, ...]] = {
    "postgres": ("postgresql", "postgres"),
    "mqtt": ("mosquitto", "mqtt", "broker"),
    "browser": ("chromium", "playwright", "browser"),
}


class RequireError(ValueError):
    """FABLAB_TEST_REQUIRE names something that is not a service."""


def required() -> frozenset[Service]:
    """The services FABLAB_TEST_REQUIRE names (comma-separated; `all` for every one)."""
    raw = os.environ.get(REQUIRE_VARIABLE, "")
    names = {part.strip().lower() for part in raw.split(",") if part.strip()}
    if "all" in names:
        return frozenset(SERVICES)
    unknown = sorted(names - set(SERVICES))
    if unknown:
        raise RequireError(
            f"{REQUIRE_VARIABLE}={raw!r} names {', '.join(unknown)}; "
            f"the services are {', '.join(SERVICES)} (or all)"
        )
    return frozenset(name for name in SERVICES if name in names)


def unavailable(service: Service, reason: str) -> NoReturn:
    """Skip the test for want of `service`, or fail it when FABLAB_TEST_REQUIRE names the service."""
    if service in required():
        pytest.fail(f"{REQUIRE_VARIABLE} requires {service}, but {reason}", pytrace=False)
    pytest.skip(reason)


def mqtt_address() -> tuple[str, int]:
    """Host and port of the shared test broker."""
    parts = urlsplit(MQTT_URL)
    return parts.hostname or "127.0.0.1", parts.port or 1883


def port_open(host: str, port: int, timeout: float = 2.0) -> bool:
    """True if something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def mqtt_reachable() -> bool:
    """True if the shared test broker accepts connections."""
    return port_open(*mqtt_address())


def require_mqtt() -> str:
    """The shared broker's URL; skips (or fails, when required) if it cannot be reached."""
    host, port = mqtt_address()
    if not mqtt_reachable():
        unavailable("mqtt", f"Mosquitto is not reachable at {host}:{port}")
    return MQTT_URL


def mosquitto_binary() -> str | None:
    """The mosquitto executable, also where Debian puts it outside a user's PATH."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/bin")


def require_mosquitto_binary() -> str:
    """The mosquitto executable; skips (or fails, when required) if it is not installed."""
    binary = mosquitto_binary()
    if binary is None:
        unavailable("mqtt", "the mosquitto binary is not installed (apt-get install mosquitto)")
    return binary


def require_chromium() -> Path:
    """Debian's Chromium; skips (or fails, when required) if it is not installed."""
    if not CHROMIUM.exists():
        unavailable(
            "browser", f"{CHROMIUM} is not installed (apt-get install chromium, or `make system-packages`)"
        )
    return CHROMIUM
