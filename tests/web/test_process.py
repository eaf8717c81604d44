"""Settling a long-running process (web.process): what exists at start-up leaves the collector's passes,
what the process makes afterwards is still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.conftest import _FASTAPI_CACHES
from tests.servers import app_settings
from web import process
from web.app import create_app


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def settled() -> Iterator[None]:
    started = _Node()
    started.other = started  # a cycle alive at start-up
    process.settle()
    try:
        yield
    finally:
        gc.unfreeze()  # the test process's many apps must stay collectable


def test_what_exists_at_start_up_is_frozen(settled: None) -> None:
    assert gc.get_freeze_count() > 1000


def test_a_cycle_made_afterwards_is_still_collected(settled: None) -> None:
    made = _Node()
    made.other = made
    gone = weakref.ref(made)
    del made

    gc.collect()

    assert gone() is None


def test_start_up_garbage_is_collected_before_the_freeze() -> None:
    left = _Node()
    left.other = left
    gone = weakref.ref(left)
    del left
    try:
        process.settle()
        assert gone() is None
    finally:
        gc.unfreeze()


def test_an_app_a_test_made_is_collected_once_the_test_ends(engine: Engine) -> None:
    """FastAPI's call caches held every app the tests made (tests/conftest.py `_FASTAPI_CACHES`): by
    the middle of the suite, 3 million objects for each full pass of the collector to walk."""
    assert _FASTAPI_CACHES, "FastAPI's call caches were not found: the suite's apps would stay alive"
    made = weakref.ref(create_app(app_settings(engine), engine=engine))
    for cached in _FASTAPI_CACHES:
        cached.cache_clear()
    gc.collect()
    assert made() is None
