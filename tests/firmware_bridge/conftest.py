"""Fixtures of the edge tests: the shared test broker (127.0.0.1:1883) and test-owned brokers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firmware_bridge.helpers import Mosquitto
from tests.services import require_mosquitto_binary, require_mqtt


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The shared broker; tests keep apart by unique site, gateway and device names."""
    return require_mqtt()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of the test's own, which the test may SIGKILL and restart."""
    require_mosquitto_binary()
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
