"""Fixtures of the edge tests: the shared Mosquitto at 127.0.0.1:1883 and test-owned brokers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firmware_bridge.helpers import BROKER_URL, Mosquitto, mosquitto_binary


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker_url() -> str:
    """The shared broker; tests keep apart by unique site, gateway and device names."""
    if not _reachable("127.0.0.1", 1883):
        pytest.skip("Mosquitto is not reachable at 127.0.0.1:1883")
    return BROKER_URL


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker of the test's own, which the test may SIGKILL and restart."""
    if mosquitto_binary() is None:
        pytest.skip("the mosquitto binary is not installed")
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
