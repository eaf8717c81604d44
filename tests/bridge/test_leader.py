"""Two bridge/scheduler processes on one PostgreSQL database: each job runs in one of them only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.bridge.conftest import wait_for
from tests.firmware_bridge.helpers import Mosquitto, unique
from tests.services import require_mosquitto_binary

pytestmark = [pytest.mark.mqtt, pytest.mark.slow, pytest.mark.postgres]
JOBS = ("offline-check", "maintenance-check", "session-enforcement", "no-show-release")


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    require_mosquitto_binary()
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _start(engine: Engine, broker: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FABLAB_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "FABLAB_MQTT_URL": broker,
        "FABLAB_BRIDGE_CLIENT_ID": unique("center"),
        "FABLAB_BRIDGE_SITES": unique("nowhere"),
        "FABLAB_ENVIRONMENT": "test",
        **{
            f"FABLAB_{name}": "0.3"
            for name in ("OFFLINE_CHECK_S", "MAINTENANCE_CHECK_S", "SESSION_CHECK_S", "NO_SHOW_CHECK_S")
        },
    }
    return subprocess.Popen(
        [sys.executable, "-m", "web.cli", "bridge"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _runs(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (job, worker) for job, worker in connection.execute(sa.text("SELECT job_id, worker FROM jobrun"))
        ]


class TestLeadership:
    # Several processes share a database on PostgreSQL only; SQLite is one process by design.
    @pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
    def test_one_process_runs_the_jobs_and_another_takes_over(
        self, backend: str, fresh_engine: Engine, own_broker: Mosquitto
    ) -> None:
        first, second = _start(fresh_engine, own_broker.url), _start(fresh_engine, own_broker.url)
        try:
            wait_for(
                lambda: all(sum(1 for j, _ in _runs(fresh_engine) if j == job) >= 5 for job in JOBS),
                60,
                "five runs of each job",
            )
            workers = {worker for _, worker in _runs(fresh_engine)}
            assert len(workers) == 1, workers
            leader = workers.pop()
            leader_process = first if leader.endswith(f":{first.pid}") else second
            follower = second if leader_process is first else first
            os.kill(leader_process.pid, signal.SIGKILL)
            leader_process.wait(20)
            # The lock dies with the leader's connection; the other process takes over.
            wait_for(
                lambda: all(
                    any(j == job and w.endswith(f":{follower.pid}") for j, w in _runs(fresh_engine))
                    for job in JOBS
                ),
                60,
                "the follower running every job",
            )
            runs = _runs(fresh_engine)
            assert {w for _, w in runs} == {
                leader,
                next(w for _, w in runs if w.endswith(f":{follower.pid}")),
            }
        finally:
            for process in (first, second):
                if process.poll() is None:
                    process.terminate()
                    process.wait(20)
