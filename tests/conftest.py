"""Shared fixtures: both database back ends, a rolled-back transaction per test, the app, a clock, brokers."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fastapi.dependencies.models
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlmodel import Session

from booking.models import Member
from tests import services
from tests.brokers import Mosquitto
from tests.clock import FakeClock
from tests.databases import BACKENDS, migrated_database, postgres_reachable
from tests.factories import at
from tests.servers import app_settings
from web.app import create_app
from web.deps import get_read_session, get_session
from web.settings import Settings

# Monday 1 March 2027, 09:00 in Hồ Chí Minh City: far from Tết and other holidays.
NOW = at("2027-03-01 09:00")
_PG_PROBLEM = postgres_reachable()


def pytest_report_header() -> list[str]:
    needed = sorted(services.required())
    lines = [f"required services ({services.REQUIRE_VARIABLE}): {', '.join(needed) or 'none'}"]
    if _PG_PROBLEM is None:
        return [*lines, "databases: SQLite and PostgreSQL (127.0.0.1:5432/test)"]
    verdict = "FAIL" if "postgres" in needed else "are SKIPPED; only SQLite runs"
    return [
        *lines,
        "!" * 78,
        f"!! PostgreSQL is NOT reachable ({_PG_PROBLEM}):",
        f"!! every PostgreSQL variant of the database tests will {verdict}.",
        "!" * 78,
    ]


def pytest_configure(config: pytest.Config) -> None:
    try:
        services.required()
    except services.RequireError as exc:
        raise pytest.UsageError(str(exc)) from None


def _services_of(item: pytest.Item, reason: str) -> set[services.Service]:
    """The services a test needs: its markers, its PostgreSQL parameter, or what its skip names."""
    needs = {name for name in services.SERVICES if item.get_closest_marker(name) is not None}
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("backend") == "postgresql":
        needs.add("postgres")
    lowered = reason.lower()
    needs.update(name for name, words in services.SERVICE_WORDS.items() if any(w in lowered for w in words))
    return needs


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Under FABLAB_TEST_REQUIRE, a skip of a test that needs a required service is a failure."""
    report: pytest.TestReport = yield
    if not report.skipped or hasattr(report, "wasxfail"):
        return report
    longrepr = report.longrepr
    reason = (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)).removeprefix("Skipped: ")
    missing = sorted(_services_of(item, reason) & services.required())
    if missing:
        report.outcome = "failed"
        report.longrepr = (
            f"{services.REQUIRE_VARIABLE} requires {', '.join(missing)}, but this test was skipped: {reason}"
        )
    return report


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and _PG_PROBLEM is not None:
        services.unavailable("postgres", f"PostgreSQL unreachable: {_PG_PROBLEM}")
    return name


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(backend, tmp_path_factory.mktemp("db")) as engine:
        yield engine


@pytest.fixture
def fresh_engine(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own, for tests that commit for real (concurrency, processes)."""
    with migrated_database(backend, tmp_path, pool_size=40) as engine:
        yield engine


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


def _session_on(connection: Connection) -> Session:
    # Commits inside the code under test release savepoints; the test's transaction is rolled back.
    return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with _session_on(connection) as session:
        yield session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


# FastAPI remembers how each endpoint and dependency is called in module-level caches (4,096 entries
# each) that hold the functions, and through their closures the apps: one test process kept some 240
# apps alive, 3 million objects by the middle of the suite, and one full pass of the cyclic collector
# over them stopped every thread for 1.7 s (a card tap in test_hostile waited that long). A center's
# process makes one app; the tests make thousands, and forget them.
_FASTAPI_CACHES = [c for c in vars(fastapi.dependencies.models).values() if hasattr(c, "cache_clear")]


@pytest.fixture(autouse=True)
def _apps_forgotten() -> Iterator[None]:
    """Each test's apps collectable once it ends (`_FASTAPI_CACHES`)."""
    yield
    for cached in _FASTAPI_CACHES:
        cached.cache_clear()


@pytest.fixture
def settings(engine: Engine) -> Settings:
    return app_settings(engine)


@pytest.fixture
def app(engine: Engine, connection: Connection, clock: FakeClock, settings: Settings) -> FastAPI:
    app = create_app(settings, engine=engine, clock=clock)

    def _test_session(request: Request) -> Iterator[Session]:
        # The reading and the writing session of a request are one here: both live on the test's
        # connection, whose savepoints must nest.
        shared: Session | None = getattr(request.state, "test_session", None)
        if shared is not None:
            yield shared
            return
        with _session_on(connection) as session:
            request.state.test_session = session
            yield session

    @contextmanager
    def _test_read_session(request: Request) -> Iterator[Session]:
        # A lookup made apart from the request's sessions (the signed-in member, a series' dates),
        # always before the request's own session begins: its savepoint ends first.
        with _session_on(connection) as session:
            yield session

    app.dependency_overrides[get_session] = _test_session
    app.dependency_overrides[get_read_session] = _test_session
    app.state.read_session = _test_read_session
    # A lean route (web.routes.lean) opens the request's session without dependencies: the same one.
    app.state.write_session = contextmanager(_test_session)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def auth(app: FastAPI) -> Callable[[Member], dict[str, str]]:
    """Authorization headers for a member."""

    def _headers(member: Member) -> dict[str, str]:
        token = app.state.tokens.issue(member.id, member.token_version)
        return {"Authorization": f"Bearer {token}"}

    return _headers


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The shared Mosquitto; tests keep apart by unique site, gateway and device names."""
    return services.require_mqtt()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of the test's own, which the test may SIGKILL and restart."""
    services.require_mosquitto_binary()
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
