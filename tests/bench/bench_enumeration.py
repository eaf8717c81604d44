"""Whether the time of an answer tells which addresses have accounts.

    .venv/bin/python tests/bench/bench_enumeration.py [--rounds 40]

Through the API on a migrated SQLite database: sign-up, password reset and sign-in, each for an
address with an account and one without, interleaved. Printed per call: the median and p90 in ms of
both, and their ratio (1.00: the time says nothing). Not collected by pytest; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.clock import FakeClock  # noqa: E402
from tests.conftest import NOW  # noqa: E402
from tests.factories import make_member  # noqa: E402
from web.app import create_app  # noqa: E402
from web.db import make_engine  # noqa: E402
from web.migrate import upgrade  # noqa: E402
from web.settings import Settings  # noqa: E402

PASSWORD = "mây trắng bay qua đồi 2027"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        with Session(engine) as session:
            make_member(session, email="known@example.vn")
            session.commit()
        settings = Settings(
            environment="test",
            secret_key="b" * 40,
            database_url=url,
            scheduler_enabled=False,
            # Rate limits out of the way: this measures the work, not the refusal.
            login_max_per_address=1_000_000,
            login_max_failures=1_000_000,
        )
        app = create_app(settings, engine=engine, clock=FakeClock(NOW))
        calls: dict[str, Callable[[TestClient, str], object]] = {
            "signup": lambda c, email: c.post(
                "/api/v1/auth/signup", json={"email": email, "name": "Bench", "password": PASSWORD}
            ),
            "password-reset": lambda c, email: c.post("/api/v1/auth/password-reset", json={"email": email}),
            "sign-in (wrong password)": lambda c, email: c.post(
                "/api/v1/auth/token", data={"username": email, "password": "not-the-password-0"}
            ),
        }
        print(f"{rounds} rounds each, interleaved; ms (median / p90)")
        with TestClient(app, raise_server_exceptions=False) as client:
            for name, call in calls.items():
                known: list[float] = []
                unknown: list[float] = []
                for i in range(rounds):
                    for email, into in (("known@example.vn", known), (f"nobody{i}@example.vn", unknown)):
                        began = time.perf_counter()
                        call(client, email)
                        into.append((time.perf_counter() - began) * 1000)
                k, u = statistics.median(known), statistics.median(unknown)
                k90 = statistics.quantiles(known, n=10)[-1]
                u90 = statistics.quantiles(unknown, n=10)[-1]
                print(
                    f"{name:26} known {k:6.1f} / {k90:6.1f}   unknown {u:6.1f} / {u90:6.1f}   "
                    f"ratio of medians {k / u:4.2f}"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
