"""Say, before the tests run, which real services they will use and which they must skip."""

from __future__ import annotations

import shutil
import sys

from tests.brokers import BROKER_HOST, BROKER_PORT, broker_reachable
from tests.databases import postgres_reachable


def main() -> int:
    problems = []
    pg = postgres_reachable()
    print(f"preflight: PostgreSQL 127.0.0.1:5432/test ... {'ok' if pg is None else 'UNREACHABLE'}")
    if pg is not None:
        problems.append(f"PostgreSQL unreachable ({pg}): its test variants will be SKIPPED")
    mqtt = broker_reachable()
    print(f"preflight: Mosquitto {BROKER_HOST}:{BROKER_PORT} ... {'ok' if mqtt else 'UNREACHABLE'}")
    if not mqtt:
        problems.append(f"Mosquitto unreachable at {BROKER_HOST}:{BROKER_PORT}: MQTT tests will be SKIPPED")
    for binary in ("mosquitto", "chromium"):
        found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin")
        print(f"preflight: {binary} binary ... {found or 'MISSING'}")
        if not found:
            problems.append(f"{binary} is not installed: tests that need it will be SKIPPED")
    for problem in problems:
        print(f"preflight: WARNING: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
