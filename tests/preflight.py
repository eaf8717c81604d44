"""Say, before the tests run, which real services they will use and which they must skip.

Under FABLAB_TEST_REQUIRE (CI sets it; see tests/services.py) a required service that is missing
ends the run here, with a non-zero status and one line per missing service.
"""

from __future__ import annotations

import shutil
import sys

from sqlalchemy.engine import make_url

from tests import services
from tests.databases import postgres_reachable


def problems() -> list[tuple[services.Service, str]]:
    """Each missing service, with what is wrong."""
    found: list[tuple[services.Service, str]] = []
    pg = postgres_reachable()
    where = make_url(services.PG_URL).render_as_string(hide_password=True)
    print(f"preflight: PostgreSQL {where} ... {'ok' if pg is None else 'UNREACHABLE'}")
    if pg is not None:
        found.append(("postgres", f"PostgreSQL unreachable ({pg})"))
    host, port = services.mqtt_address()
    mqtt = services.mqtt_reachable()
    print(f"preflight: Mosquitto {host}:{port} ... {'ok' if mqtt else 'UNREACHABLE'}")
    if not mqtt:
        found.append(("mqtt", f"Mosquitto unreachable at {host}:{port}"))
    binaries: list[tuple[services.Service, str, str | None]] = [
        ("mqtt", "mosquitto", services.mosquitto_binary()),
        ("mqtt", "mosquitto_passwd", shutil.which("mosquitto_passwd")),
        ("browser", "chromium", str(services.CHROMIUM) if services.CHROMIUM.exists() else None),
    ]
    for service, name, path in binaries:
        print(f"preflight: {name} binary ... {path or 'MISSING'}")
        if path is None:
            found.append((service, f"{name} is not installed"))
    return found


def main() -> int:
    try:
        required = services.required()
    except services.RequireError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    print(
        f"preflight: required services ({services.REQUIRE_VARIABLE}): {', '.join(sorted(required)) or 'none'}"
    )
    failed = False
    for service, problem in problems():
        if service in required:
            failed = True
            print(
                f"preflight: FAILED: {problem}, and {services.REQUIRE_VARIABLE} requires {service}",
                file=sys.stderr,
            )
        else:
            print(f"preflight: WARNING: {problem}: the tests that need it will be SKIPPED", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
